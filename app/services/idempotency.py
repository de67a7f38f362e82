"""Idempotency keys for the API's POSTs that register letters: a retried request gets the first
answer again instead of a second letter.

The key is claimed in the registration's own transaction, with the answer, so a crash can leave
neither a letter without its key nor a key without its letter. Two requests with the same key at
the same moment: on SQLite writers queue (BEGIN IMMEDIATE), so the second finds the key taken
and replays the first answer; on PostgreSQL the second's insert waits on the first's uncommitted
row for at most ``wait_ms`` (then it is told the first is still running), and replays it once
the first commits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import Letter
from app.models.api import IdempotencyKey
from app.permissions import can_register
from app.services import registration
from app.services.actor import Actor
from app.services.errors import NotAllowed

MAX_KEY_LENGTH = 255


class KeyTaken(Exception):
    """Another request committed this key first: read it and replay (or refuse) it."""


class KeyInUse(Exception):
    """The first request with this key is still running."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: dict


def fingerprint(method: str, path: str, parts: list[str]) -> str:
    """What was asked: the same key with another request is refused."""
    digest = hashlib.sha256()
    for part in (method, path, *parts):
        digest.update(hashlib.sha256(part.encode()).digest())
    return digest.hexdigest()


def find(session: Session, user_id: int, key: str) -> IdempotencyKey | None:
    return session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )


def claim(session: Session, actor: Actor, key: str, request_hash: str, wait_ms: int):
    """Insert the key inside the caller's transaction (a savepoint, so a clash is caught)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    row = IdempotencyKey(
        organisation_id=actor.organisation_id,
        user_id=actor.user.id,
        key=key,
        request_hash=request_hash,
    )
    try:
        with session.begin_nested():
            if postgres:  # wait for a concurrent first request only so long
                session.execute(text(f"SET LOCAL lock_timeout = {int(wait_ms)}"))
            session.add(row)
            session.flush()
    except IntegrityError as error:
        raise KeyTaken(key) from error
    except OperationalError as error:
        if postgres and getattr(error.orig, "sqlstate", "") == "55P03":  # lock_not_available
            raise KeyInUse(key) from error
        raise
    if postgres:
        session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
    return row


def register_once(
    session: Session,
    actor: Actor,
    data: registration.LetterInput,
    numbering: registration.NumberingSettings,
    *,
    key: str,
    request_hash: str,
    answer: Callable[[Letter], Answer],
    wait_ms: int = 2000,
) -> tuple[Letter, Answer]:
    """Register the letter and remember the key with ``answer(letter)``, all or nothing.
    Raises KeyTaken or KeyInUse when another request holds the key."""
    if not can_register(actor.user):
        raise NotAllowed(_l("Only registry officers can register letters."))
    registration.check_input(data)
    with write_transaction(session):
        row = claim(session, actor, key, request_hash, wait_ms)
        letter = registration.record_letter(session, actor, data, numbering)
        session.flush()
        reply = answer(letter)
        row.status_code = reply.status
        row.response_body = reply.body
        row.response_headers = reply.headers
    return letter, reply


def stored_answer(row: IdempotencyKey) -> Answer:
    return Answer(row.status_code or 0, row.response_body, dict(row.response_headers or {}))


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
