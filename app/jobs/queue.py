"""The job queue: Huey, on a SQLite file in the instance folder by default (nothing to run
beside Diwan) or on Redis when several machines share the work (JOB_QUEUE_URL=redis://...).

A message on the queue names a job and carries nothing else: the work itself is in the
database (the outboxes, the job claims). Huey takes a message off the queue before running it,
so a worker killed mid-job loses the message; nothing is lost with it, because the rows are
still there and every worker's tick queues their drain again once the dead worker's claim has
lapsed (app.jobs.runner).
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from flask import Flask
from huey import RedisHuey, SqliteHuey
from huey.api import Huey, TaskWrapper

from app.extensions import db
from app.jobs import runner
from app.jobs.work import DRAINS, PERIODIC
from app.services import health

log = logging.getLogger("diwan.worker")

KINDS = ("drain", "periodic")


def queue_url(config, instance_path: str) -> str:
    return config["JOB_QUEUE_URL"] or f"sqlite:///{instance_path}/jobs.sqlite3"


def make_huey(url: str) -> Huey:
    scheme = urlsplit(url).scheme
    if scheme in {"redis", "rediss", "unix"}:
        return RedisHuey("diwan", url=url, results=False)
    if scheme == "sqlite":
        return SqliteHuey("diwan", filename=url.removeprefix("sqlite:///"), results=False)
    raise ValueError(f"JOB_QUEUE_URL: sqlite:///path or redis://host:port/db, not {url!r}")


class JobQueue:
    """One per app: the Huey instance (made on first use) and a task per job."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._huey: Huey | None = None
        self._tasks: dict[tuple[str, str], TaskWrapper] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return queue_url(self.app.config, self.app.instance_path)

    @property
    def huey(self) -> Huey:
        with self._lock:
            if self._huey is None:
                self._huey = make_huey(self.url)
                self._register(self._huey)
            return self._huey

    def _register(self, huey: Huey) -> None:
        for name in DRAINS:
            self._tasks["drain", name] = huey.task(name=f"drain.{name}")(self._body("drain", name))
        for name in PERIODIC:
            self._tasks["periodic", name] = huey.task(name=f"periodic.{name}")(
                self._body("periodic", name)
            )
        self._tasks["tick", ""] = huey.task(name="tick")(self._body("tick", ""))

    def _body(self, kind: str, name: str):
        app = self.app

        def job() -> None:
            with app.app_context():
                try:
                    if kind == "drain":
                        done = runner.run_drain(app, name)
                    elif kind == "periodic":
                        done = runner.run_periodic(app, name)
                    else:
                        done = runner.tick(app, self.enqueue)
                    if done and kind != "tick":
                        log.info("%s %s: %s", kind, name, done)
                except Exception:
                    log.exception("job %s %s failed; it is tried again", kind, name or "")
                    _count_failure()
                finally:
                    db.session.remove()

        return job

    def enqueue(self, kind: str, name: str = "") -> None:
        if self._huey is None:
            self.huey  # noqa: B018 - made on first use, with its tasks
        self._tasks[kind, name]()

    def trigger(self, drains: set[str]) -> None:
        """After a commit that wrote outbox rows: ask for their drains. A queue that cannot be
        reached is logged, never raised: the change is committed and the next tick finds it."""
        for name in sorted(drains):
            try:
                self.enqueue("drain", name)
            except Exception as error:
                log.warning("could not queue the %s job (%s); the worker's tick will", name, error)

    def waiting(self) -> int:
        return self.huey.pending_count()


def _count_failure() -> None:
    try:
        health.beat(db.session, health.worker_name(), failed=True)
    except Exception:
        log.warning("could not record the failed job on the worker's heartbeat")
