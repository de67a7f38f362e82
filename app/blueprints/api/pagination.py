"""Opaque cursors for keyset pagination. The pages forgive a damaged cursor (start again); the
API refuses it with a 400 problem, so a client never silently re-reads from the start."""

from __future__ import annotations

import base64
import binascii

from flask_babel import lazy_gettext as _l

from app.blueprints.api.problems import ApiProblem
from app.services.register_list import decode_cursor

MAX_ID = 2**31 - 1  # larger numbers are no row's id (and overflow a database integer)


def letter_position(cursor: str | None) -> str | None:
    """A register cursor (registered_at|id), checked; returned as given for list_page."""
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    if position is None or position[0].tzinfo is not None or not 0 < position[1] <= MAX_ID:
        raise ApiProblem("invalid_cursor", errors={"query": {"cursor": [str(_l("Malformed."))]}})
    return cursor


def encode_id(value: int | None) -> str | None:
    if value is None:
        return None
    return base64.urlsafe_b64encode(f"id|{value}".encode()).decode().rstrip("=")


def decode_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, value = raw.split("|")
        if tag != "id" or not value.isdigit() or not 0 < int(value) <= MAX_ID:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise ApiProblem(
            "invalid_cursor", errors={"query": {"cursor": [str(_l("Malformed."))]}}
        ) from error
