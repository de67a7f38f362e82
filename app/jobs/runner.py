"""Running one job: claim it, keep the claim alive while the body works, record the run.

The same functions serve the queue's tasks (app.jobs.queue), `diwan worker --once` and the tests,
so there is one way a job runs. Errors propagate to the caller after the run is recorded (the
queue's tasks log them; `--once` and the tests see them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask

from app.extensions import db
from app.jobs.work import DRAINS, PERIODIC
from app.services import health, job_runs


@dataclass
class Run:
    """What a held job reports when it ends; `released`: it did not run (nothing recorded)."""

    interval_s: float = 0
    report: dict = field(default_factory=dict)
    released: bool = False


def _holder() -> str:
    """This process and thread: two threads of one worker are two holders."""
    return f"{health.worker_name()}:{threading.get_ident()}"[:200]


@contextmanager
def holding(app: Flask, name: str, *, periodic: bool = False) -> Iterator[Run | None]:
    """Claim the job `name` for the block (None: another worker has it, or a periodic job is
    not due), renewing the lease meanwhile; record the run, or the error, when the block ends."""
    lease_s = app.config["JOB_LEASE_S"]
    held = job_runs.claim(db.session, name, holder=_holder(), lease_s=lease_s, periodic=periodic)
    if held is None:
        yield None
        return
    run = Run()
    try:
        with job_runs.kept_alive(db.engine, held, lease_s) as current:
            yield run
    except Exception as error:
        db.session.rollback()
        job_runs.finish(db.session, current[0], error=f"{type(error).__name__}: {error}")
        raise
    if run.released:
        job_runs.release(db.session, current[0])
    else:
        job_runs.finish(db.session, current[0], interval_s=run.interval_s, report=run.report)


def run_drain(app: Flask, name: str) -> int | None:
    """Empty the outbox `name`; None when another worker is at it (that worker looks at the
    outbox again after it lets go, so a row committed meanwhile does not wait for a tick)."""
    drain = DRAINS[name]
    total, passes = 0, 0
    while True:
        with holding(app, name) as run:
            if run is None:
                return None if passes == 0 else total
            done = drain.run(app)
            run.report = {"done": done}
        total, passes = total + done, passes + 1
        # Round again while passes do something (a row that keeps failing, like a receipt
        # whose seal fails, must not spin), and once after the first pass.
        if not drain.waiting(app) or (done == 0 and passes > 1):
            return total


def run_periodic(
    app: Flask, name: str, *, force: bool = False, options: dict | None = None
) -> dict | None:
    """Run the periodic job `name` if it is due (or `force`) and nobody runs it; None if not.
    A failed run stays due: the next tick queues it again."""
    job = PERIODIC[name]
    with holding(app, name, periodic=not force) as run:
        if run is None:
            return None
        if job.exclusive_with is None:
            run.report = job.run(app, **(options or {}))
        else:
            with holding(app, job.exclusive_with) as other:
                if other is None:  # e.g. the index's one writer is busy: next tick
                    run.released = True
                    return None
                run.report = job.run(app, **(options or {}))
        run.interval_s = app.config[job.interval_setting]
        return run.report


def tick(app: Flask, enqueue: Callable[[str, str], None]) -> dict:
    """Every WORKER_TICK_S on each worker: queue a drain for every outbox where rows wait (a
    trigger lost with a crashed worker or an unreachable queue, a retry that came due) and
    every periodic job that is due; then beat (/readyz: the queue is being worked)."""
    waiting = [name for name, drain in DRAINS.items() if drain.waiting(app)]
    due = job_runs.due(db.session, list(PERIODIC))
    for name in waiting:
        enqueue("drain", name)
    for name in due:
        enqueue("periodic", name)
    report = {"outboxes_waiting": len(waiting), "periodic_due": len(due)}
    health.beat(db.session, health.worker_name(), report)
    return report
