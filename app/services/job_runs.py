"""Claims on the worker's jobs, so that on one machine or several each job runs once at a time
and a periodic job runs once per interval.

A job is claimed by a conditional UPDATE of its `job_runs` row that moves `lease_until` forward
(committed at once, before the work starts). The worker holding it renews the lease while it
works; a worker killed mid-job stops renewing, its lease lapses after `lease_s` and the next
claim takes the job over, so the job runs again. Finishing checks that the claim is still the
worker's own: a worker that lost its lease (paused past it) does not overwrite the newer run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import JobRun
from app.models.base import utcnow
from app.services.dialect import insert_ignore


@dataclass(frozen=True)
class Claim:
    name: str
    holder: str
    lease_until: datetime

    def still_held(self) -> tuple:
        """The row is still this claim (not lapsed and taken by another worker meanwhile)."""
        return (
            JobRun.name == self.name,
            JobRun.holder == self.holder,
            JobRun.lease_until == self.lease_until,
        )


def claim(
    session: Session,
    name: str,
    *,
    holder: str,
    lease_s: float,
    periodic: bool = False,
    now: datetime | None = None,
) -> Claim | None:
    """Take the job `name` unless another worker's lease runs; a periodic job also only when it
    is due. None when it is not this worker's to run."""
    now = now or utcnow()
    lease_until = now + timedelta(seconds=lease_s)
    with write_transaction(session):
        insert_ignore(session, JobRun, name=name, due_at=now, runs=0, failures=0, last_report={})
        conditions = [
            JobRun.name == name,
            or_(JobRun.lease_until.is_(None), JobRun.lease_until < now),
        ]
        if periodic:
            conditions.append(JobRun.due_at <= now)
        taken = session.execute(
            update(JobRun)
            .where(*conditions)
            .values(lease_until=lease_until, holder=holder, started_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    return Claim(name, holder, lease_until) if taken == 1 else None


def renew(engine: Engine, held: Claim, lease_s: float) -> Claim | None:
    """Push the lease forward (from the renewing thread, on its own connection); None when the
    claim was lost."""
    lease_until = utcnow() + timedelta(seconds=lease_s)
    with engine.begin() as connection:
        moved = connection.execute(
            update(JobRun).where(*held.still_held()).values(lease_until=lease_until)
        ).rowcount
    return Claim(held.name, held.holder, lease_until) if moved == 1 else None


def finish(
    session: Session,
    held: Claim,
    *,
    interval_s: float = 0,
    report: dict | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Release the claim and record the run; the next run is due `interval_s` later (a failed
    periodic run is due again at once, so the next tick retries it). False when the claim was
    no longer this worker's."""
    now = now or utcnow()
    values = {"lease_until": None, "holder": None, "finished_at": now, "runs": JobRun.runs + 1}
    if error is None:
        values.update(due_at=now + timedelta(seconds=interval_s), last_error=None)
        values["last_report"] = report or {}
    else:
        values.update(failures=JobRun.failures + 1, last_error=error[:4000])
    with write_transaction(session):
        done = session.execute(
            update(JobRun)
            .where(*held.still_held())
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
    return done == 1


def due(session: Session, names: list[str], now: datetime | None = None) -> list[str]:
    """Which of these periodic jobs are due and not held (never run counts as due)."""
    now = now or utcnow()
    rows = {row.name: row for row in session.scalars(select(JobRun).where(JobRun.name.in_(names)))}
    session.commit()
    return [
        name
        for name in names
        if name not in rows
        or (
            rows[name].due_at <= now
            and (rows[name].lease_until is None or rows[name].lease_until < now)
        )
    ]


@contextmanager
def kept_alive(engine: Engine, held: Claim, lease_s: float) -> Iterator[list[Claim]]:
    """Renew the lease every third of its length while the block runs. Yields a one-item list
    whose item is the current claim (finish with it)."""
    current = [held]
    stop = threading.Event()

    def renew_until_stopped() -> None:
        while not stop.wait(lease_s / 3):
            renewed = renew(engine, current[0], lease_s)
            if renewed is None:
                return  # lost: finishing will say so
            current[0] = renewed

    thread = threading.Thread(target=renew_until_stopped, name=f"lease:{held.name}", daemon=True)
    thread.start()
    try:
        yield current
    finally:
        stop.set()
        thread.join()


def release(session: Session, held: Claim) -> None:
    """Let go without counting a run (the job could not start: what it needs is busy)."""
    with write_transaction(session):
        session.execute(
            update(JobRun)
            .where(JobRun.name == held.name, JobRun.holder == held.holder)
            .values(lease_until=None, holder=None)
            .execution_options(synchronize_session=False)
        )
