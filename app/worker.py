"""The background worker (`diwan worker`): a Huey consumer running the jobs of app.jobs, with a
ticker that queues, every WORKER_TICK_S, whatever waits in an outbox or is due (and beats).

Everything a job does is recorded in the database first (the outbox rows, the claims), so a
crash or a restart loses nothing: see app.jobs.queue and app.jobs.runner.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date

from flask import Flask

from app.extensions import db
from app.jobs import queue_of, runner
from app.jobs.work import DRAINS, PERIODIC
from app.services import health

log = logging.getLogger("diwan.worker")

# The consumer polls a SQLite queue at most this far apart (Redis wakes it at once), so a new
# letter waits at most about a second before its indexing starts.
QUEUE_POLL_MAX_S = 1.0


def run_once(app: Flask, today: date | None = None, check_deadlines: bool = True) -> dict:
    """Everything at once, in this process (`diwan worker --once`, the tests): every periodic
    job whether due or not (unless `check_deadlines` is False), then every drain. Errors
    propagate. Jobs another worker holds at that moment are skipped."""
    report: dict[str, int] = {}
    with app.app_context():
        try:
            if check_deadlines:
                for name in PERIODIC:
                    options = {"today": today} if name == "deadlines" and today else None
                    done = runner.run_periodic(app, name, force=True, options=options) or {}
                    for key, value in done.items():
                        report[key] = report.get(key, 0) + value
            for name, drain in DRAINS.items():
                done = runner.run_drain(app, name) or 0
                report[drain.counted_as] = report.get(drain.counted_as, 0) + done
            health.beat(db.session, health.worker_name(), report)
        finally:
            db.session.remove()
    return report


def run(app: Flask) -> None:  # pragma: no cover - runs until stopped; tests run it as a process
    """Consume the queue until SIGINT/SIGTERM (Huey's consumer handles both)."""
    queue = queue_of(app)
    # Huey logs two lines per job at INFO; Diwan's jobs log what they did themselves.
    logging.getLogger("huey").setLevel(logging.WARNING)
    logging.getLogger("huey.consumer").setLevel(logging.INFO)
    consumer = queue.huey.create_consumer(
        workers=app.config["WORKER_THREADS"],
        worker_type="thread",
        periodic=False,  # the ticker below queues periodic jobs; their claims say when
        initial_delay=0.1,
        backoff=1.15,
        max_delay=QUEUE_POLL_MAX_S,
    )
    ticker = threading.Thread(target=_tick_forever, args=(app,), name="ticker", daemon=True)
    ticker.start()
    consumer.run()


def _tick_forever(app: Flask) -> None:  # pragma: no cover - see run
    queue = queue_of(app)
    while True:  # a daemon thread: it ends with the consumer
        try:
            queue.enqueue("tick")
        except Exception as error:
            log.warning("could not queue the worker's tick (%s)", error)
        time.sleep(app.config["WORKER_TICK_S"])
