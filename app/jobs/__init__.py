"""The background jobs: what they do (work), how one runs (runner), the queue that carries
them (queue) and the commits that ask for them (triggers). See docs/architecture.md."""

from __future__ import annotations

from flask import Flask

from app.jobs import triggers
from app.jobs.queue import JobQueue


def init_app(app: Flask) -> None:
    app.extensions["diwan.jobs"] = JobQueue(app)
    triggers.install()


def queue_of(app: Flask) -> JobQueue:
    return app.extensions["diwan.jobs"]
