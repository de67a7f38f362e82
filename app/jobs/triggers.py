"""Ask for an outbox's drain as soon as a transaction that wrote to it commits.

The rows are noted when they are flushed and the jobs queued after the commit, never before:
a worker woken earlier would not see them yet, and a rolled-back transaction queues nothing.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.models import FactOutbox, OutgoingEmail, SearchOutbox, WebhookDelivery

DRAIN_OF = {
    SearchOutbox: "search",
    FactOutbox: "facts",
    OutgoingEmail: "email",
    WebhookDelivery: "webhooks",
}
_KEY = "diwan.drains"


def _noted(session: Session, flush_context) -> None:
    drains = {DRAIN_OF[type(row)] for row in session.new if type(row) in DRAIN_OF}
    if drains:
        session.info.setdefault(_KEY, set()).update(drains)


def _committed(session: Session) -> None:
    drains = session.info.pop(_KEY, None)
    if drains and has_app_context() and "diwan.jobs" in current_app.extensions:
        current_app.extensions["diwan.jobs"].trigger(drains)


def _rolled_back(session: Session) -> None:
    session.info.pop(_KEY, None)


def install() -> None:
    """Once per process: on every SQLAlchemy session (the app's and the worker's)."""
    if not event.contains(Session, "after_flush", _noted):
        event.listen(Session, "after_flush", _noted)
        event.listen(Session, "after_commit", _committed)
        event.listen(Session, "after_rollback", _rolled_back)
