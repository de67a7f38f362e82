"""What /readyz and /metrics report about a running Diwan: whether the database and the file
store answer, how long the queues the worker drains have waited, and the workers' heartbeats.

Counts, ages and error class names only: never a name, an address or a subject.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.store import FileStore
from app.models import FactOutbox, OutgoingEmail, SearchOutbox, WebhookDelivery
from app.models.api import DeliveryStatus
from app.models.base import utcnow
from app.models.operations import WorkerHeartbeat

# A worker that has not beaten for this long is gone (restarted with another pid): its row goes.
FORGET_WORKER_AFTER = timedelta(days=1)


def worker_name() -> str:
    """host:pid, computed on each call (a forked process has its own pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def beat(
    session: Session,
    name: str,
    report: dict | None = None,
    *,
    failed: bool = False,
    now: datetime | None = None,
) -> None:
    """Record that the worker `name` finished a round (its report: counts only), counting its
    rounds and failed rounds since it started. A failed round does not move beat_at: a worker
    whose every round fails goes stale like a stopped one. Rows of long-gone workers go."""
    now = now or utcnow()
    with write_transaction(session):
        row = session.get(WorkerHeartbeat, name)
        if row is None:
            row = WorkerHeartbeat(name=name, started_at=now, beat_at=now, last_report={})
            session.add(row)
        previous = row.last_report or {}
        if not failed:
            row.beat_at = now
        row.last_report = {
            "rounds": int(previous.get("rounds", 0)) + 1,
            "failures": int(previous.get("failures", 0)) + int(failed),
            "last_failed_at": now.isoformat() if failed else previous.get("last_failed_at"),
            "report": (
                previous.get("report", {})
                if failed
                else {key: value for key, value in (report or {}).items() if _is_count(value)}
            ),
        }
        session.execute(
            delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - FORGET_WORKER_AFTER)
        )


def _is_count(value) -> bool:
    return isinstance(value, int | float | bool)


@dataclass
class Queues:
    """What waits for the worker, read in one look at each table."""

    search_waiting: int
    search_lag_s: float
    facts_waiting: int
    emails_pending: int
    emails_due: int
    emails_oldest_due_s: float
    emails_failed: int
    webhooks_pending: int
    webhooks_due: int
    webhooks_oldest_due_s: float
    webhooks_failed: int


def _age(now: datetime, moment: datetime | None) -> float:
    return round(max((now - moment).total_seconds(), 0.0), 1) if moment else 0.0


def queues(session: Session, now: datetime | None = None) -> Queues:
    from app.services.email_outbox import MAX_ATTEMPTS

    now = now or utcnow()
    search = session.execute(select(func.count(), func.min(SearchOutbox.created_at))).one()
    unsent = (OutgoingEmail.sent_at.is_(None), OutgoingEmail.attempts < MAX_ATTEMPTS)
    emails_pending = session.scalar(select(func.count()).where(*unsent))
    emails_due = session.execute(
        select(func.count(), func.min(OutgoingEmail.next_attempt_at)).where(
            *unsent, OutgoingEmail.next_attempt_at <= now
        )
    ).one()
    emails_failed = session.scalar(
        select(func.count()).where(
            OutgoingEmail.sent_at.is_(None), OutgoingEmail.attempts >= MAX_ATTEMPTS
        )
    )
    pending = WebhookDelivery.status == DeliveryStatus.PENDING
    webhooks_due = session.execute(
        select(func.count(), func.min(WebhookDelivery.next_attempt_at)).where(
            pending, WebhookDelivery.next_attempt_at <= now
        )
    ).one()
    return Queues(
        search_waiting=search[0],
        search_lag_s=_age(now, search[1]),
        facts_waiting=session.scalar(select(func.count(FactOutbox.id))),
        emails_pending=emails_pending,
        emails_due=emails_due[0],
        emails_oldest_due_s=_age(now, emails_due[1]),
        emails_failed=emails_failed,
        webhooks_pending=session.scalar(select(func.count()).where(pending)),
        webhooks_due=webhooks_due[0],
        webhooks_oldest_due_s=_age(now, webhooks_due[1]),
        webhooks_failed=session.scalar(
            select(func.count()).where(WebhookDelivery.status == DeliveryStatus.FAILED)
        ),
    )


@dataclass
class WorkerState:
    name: str
    age_s: float
    rounds: int
    failures: int


def workers(session: Session, now: datetime | None = None) -> list[WorkerState]:
    """The workers that beat within the last day, freshest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(WorkerHeartbeat)
        .where(WorkerHeartbeat.beat_at >= now - FORGET_WORKER_AFTER)
        .order_by(WorkerHeartbeat.beat_at.desc())
    )
    return [
        WorkerState(
            name=row.name,
            age_s=_age(now, row.beat_at),
            rounds=int((row.last_report or {}).get("rounds", 0)),
            failures=int((row.last_report or {}).get("failures", 0)),
        )
        for row in rows
    ]


def check_database(session: Session) -> dict:
    """SELECT 1, bounded to two seconds on PostgreSQL (SQLite answers from a local file)."""
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL statement_timeout = 2000"))
        session.execute(text("SELECT 1"))
        session.rollback()
    except Exception as error:  # any failure means "not ready", named by its class only
        session.rollback()
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}


def check_file_store(root: Path) -> dict:
    """A file can be written, read back and removed in the store's staging area (a read-only
    or full disk, a lost network mount fail here, not at the next upload)."""
    try:
        store = FileStore(root)  # creates objects/ and tmp/ on first use, as the app does
        os.listdir(store.objects_dir)
        with tempfile.NamedTemporaryFile(dir=store.tmp_dir, prefix="ready-") as probe:
            probe.write(b"diwan")
            probe.flush()
            probe.seek(0)
            if probe.read() != b"diwan":
                return {"ok": False, "error": "EIO"}
    except OSError as error:
        return {"ok": False, "error": errno.errorcode.get(error.errno or 0, type(error).__name__)}
    return {"ok": True}


def readiness(
    session: Session, config, now: datetime | None = None, rate_limits=None
) -> tuple[bool, dict]:
    """Every check by name, each with "ok"; ready when all are. `rate_limits`: the shared
    rate-limit storage (Redis) when there is one."""
    now = now or utcnow()
    checks = {
        "database": check_database(session),
        "file_store": check_file_store(Path(config["FILE_STORE"])),
    }
    if rate_limits is not None:
        checks["rate_limits"] = check_rate_limits(rate_limits)
    if checks["database"]["ok"]:
        checks["schema"] = check_schema(session)
    if checks["database"]["ok"] and checks["schema"]["ok"]:
        try:
            checks.update(_queue_checks(session, config, now))
        except Exception as error:  # a table the code expects is not as it should be
            session.rollback()
            checks["queues"] = {"ok": False, "error": type(error).__name__}
    return all(check["ok"] for check in checks.values()), checks


def check_rate_limits(storage) -> dict:
    """Redis answers (sign-in and the portal's forms are refused with an error without it)."""
    try:
        return {"ok": bool(storage.check())}
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}


def check_schema(session: Session) -> dict:
    """The database is at the newest migration this code knows: not during an upgrade, not an
    old database under new code."""
    head = _migrations_head()
    try:
        current = session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as error:
        session.rollback()
        return {"ok": False, "error": type(error).__name__, "expected": head}
    session.rollback()
    return {"ok": current == head, "revision": current, "expected": head}


@functools.cache
def _migrations_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.web import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def _queue_checks(session: Session, config, now: datetime) -> dict:
    lag_limit = config["READY_QUEUE_LAG_S"]
    found = queues(session, now)
    alive = workers(session, now)
    freshest = alive[0].age_s if alive else None
    smtp = bool(config["SMTP_HOST"])  # without it e-mails wait in the outbox by design
    checks = {
        "search_index": {
            "ok": found.search_lag_s <= lag_limit,
            "waiting": found.search_waiting,
            "lag_seconds": found.search_lag_s,
        },
        "dashboard_facts": {"ok": True, "waiting": found.facts_waiting},
        "email_outbox": {
            "ok": not smtp or found.emails_oldest_due_s <= lag_limit,
            "smtp_configured": smtp,
            "due": found.emails_due,
            "oldest_due_seconds": found.emails_oldest_due_s,
            "failed": found.emails_failed,
        },
        "webhooks": {
            "ok": found.webhooks_oldest_due_s <= lag_limit,
            "due": found.webhooks_due,
            "oldest_due_seconds": found.webhooks_oldest_due_s,
            "failed": found.webhooks_failed,
        },
        "worker": {
            "ok": freshest is not None and freshest <= config["READY_WORKER_STALE_S"],
            "last_beat_seconds": freshest,
            "workers": sum(1 for w in alive if w.age_s <= config["READY_WORKER_STALE_S"]),
        },
    }
    session.rollback()  # end the read transaction (SQLite WAL: no snapshot held)
    return checks
