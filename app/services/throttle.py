"""Slowing down guessing: past a few wrong attempts on a key (an address, a registry number, an
account), each further attempt must wait twice as long as the previous one.

The counters live in the database so every app server sees the same ones. A success clears the
key's failures. Rate limits per address (Flask-Limiter) come on top of this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import PortalThrottle
from app.models.base import utcnow

FREE_FAILURES = 3  # wrong attempts before the first wait
MAX_WAIT_S = 3600


@dataclass(frozen=True)
class Blocked(Exception):
    """The key must wait this many seconds before it may try again."""

    seconds: int


def wait_after(failures: int) -> int:
    """Seconds to wait after this many consecutive failures: 0, 0, 0, 2, 4, 8 ... one hour."""
    if failures < FREE_FAILURES:
        return 0
    return min(2 ** (failures - FREE_FAILURES + 1), MAX_WAIT_S)


def check(session: Session, keys: list[str], now: datetime | None = None) -> None:
    """Raise Blocked when any of the keys is still waiting."""
    now = now or utcnow()
    for key in keys:
        row = session.get(PortalThrottle, key)
        if row is not None and row.blocked_until is not None and row.blocked_until > now:
            raise Blocked(math.ceil((row.blocked_until - now).total_seconds()))


def fail(session: Session, keys: list[str], now: datetime | None = None) -> None:
    """Count one wrong attempt on each key."""
    try:
        _count_failure(session, keys, now or utcnow())
    except IntegrityError:  # PostgreSQL: a concurrent first failure inserted the same key
        _count_failure(session, keys, now or utcnow())


def _count_failure(session: Session, keys: list[str], now: datetime) -> None:
    with write_transaction(session):
        for key in keys:
            row = session.get(PortalThrottle, key, with_for_update=True)
            if row is None:
                row = PortalThrottle(key=key, failures=0)
                session.add(row)
            row.failures += 1
            row.updated_at = now
            wait = wait_after(row.failures)
            row.blocked_until = now + timedelta(seconds=wait) if wait else None


def succeed(session: Session, keys: list[str]) -> None:
    """A right answer forgets the key's earlier failures."""
    with write_transaction(session):
        for key in keys:
            row = session.get(PortalThrottle, key)
            if row is not None:
                session.delete(row)
