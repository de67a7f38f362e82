"""Reading the register: filtered, newest first, with keyset pagination.

Keyset (registered_at, id) rather than OFFSET, so the 500th page costs what the first does: the
query starts from the last row seen and walks the (organisation, register, ...) index.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session, joinedload

from app.models import Letter, Organisation
from app.timezones import local_midnight_in_utc


@dataclass(frozen=True)
class RegisterFilter:
    register: str
    date_from: date | None = None
    date_to: date | None = None
    channel: str | None = None
    status: str | None = None
    letter_type_id: int | None = None


@dataclass(frozen=True)
class RegisterPage:
    letters: list[Letter]
    next_cursor: str | None


def encode_cursor(letter: Letter) -> str:
    raw = f"{letter.registered_at.isoformat()}|{letter.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """A cursor from the URL; anything malformed means "from the start"."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, letter_id = raw.split("|")
        return datetime.fromisoformat(moment), int(letter_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _base_query(organisation: Organisation, flt: RegisterFilter) -> Select:
    stmt = select(Letter).where(
        Letter.organisation_id == organisation.id, Letter.register == flt.register
    )
    timezone = organisation.timezone
    if flt.date_from:
        stmt = stmt.where(Letter.registered_at >= local_midnight_in_utc(flt.date_from, timezone))
    if flt.date_to:
        end = local_midnight_in_utc(flt.date_to + timedelta(days=1), timezone)
        stmt = stmt.where(Letter.registered_at < end)
    if flt.channel:
        stmt = stmt.where(Letter.channel == flt.channel)
    if flt.status:
        stmt = stmt.where(Letter.status == flt.status)
    if flt.letter_type_id:
        stmt = stmt.where(Letter.letter_type_id == flt.letter_type_id)
    return stmt.options(joinedload(Letter.correspondent), joinedload(Letter.letter_type))


def list_page(
    session: Session,
    organisation: Organisation,
    flt: RegisterFilter,
    cursor: str | None = None,
    limit: int = 50,
) -> RegisterPage:
    stmt = _base_query(organisation, flt)
    position = decode_cursor(cursor) if cursor else None
    if position:
        stmt = stmt.where(tuple_(Letter.registered_at, Letter.id) < tuple_(*position))
    stmt = stmt.order_by(Letter.registered_at.desc(), Letter.id.desc()).limit(limit + 1)
    letters = list(session.scalars(stmt))
    next_cursor = encode_cursor(letters[limit - 1]) if len(letters) > limit else None
    return RegisterPage(letters[:limit], next_cursor)


def iter_for_export(
    session: Session, organisation: Organisation, flt: RegisterFilter, max_rows: int
) -> Iterator[Letter]:
    """Oldest first, as a paper register reads, capped so one export cannot exhaust memory."""
    stmt = _base_query(organisation, flt).order_by(Letter.registered_at, Letter.id).limit(max_rows)
    yield from session.scalars(stmt).unique()
