"""A commit that writes to an outbox queues that outbox's drain, after the commit and only then;
a queue that cannot be reached never fails the change (the worker's tick finds the rows)."""

from __future__ import annotations

import logging

from app.extensions import db
from app.jobs import queue_of, runner
from app.models import OutgoingEmail
from app.services import job_runs
from tests.factories import register


def _queued(app) -> list[str]:
    return sorted(type(task).__name__ for task in queue_of(app).huey.pending())


def _flush(app) -> None:
    queue_of(app).huey.flush()


def test_registering_a_letter_queues_the_index_and_the_figures(app, world):
    with app.test_request_context():
        register(world.officer, subject="Demande d'un extrait")
    assert set(_queued(app)) == {"drain.facts", "drain.search"}
    assert queue_of(app).url == f"sqlite:///{app.instance_path}/jobs.sqlite3"


def _email() -> OutgoingEmail:
    return OutgoingEmail(organisation_id=None, to_address="a@example.org", subject="s", body="b")


def test_nothing_is_queued_before_the_commit_nor_after_a_rollback(app, world):
    _flush(app)
    db.session.add(_email())
    db.session.flush()
    assert _queued(app) == []  # flushed, not committed: a worker would not see the row yet
    db.session.rollback()
    db.session.commit()
    assert _queued(app) == []  # the rolled-back row is forgotten, not queued later
    db.session.add(_email())
    db.session.commit()
    assert _queued(app) == ["drain.email"]


def test_an_unreachable_queue_does_not_fail_the_change(app, world, caplog):
    app.config["JOB_QUEUE_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    with app.test_request_context(), caplog.at_level(logging.WARNING, logger="diwan.worker"):
        letter = register(world.officer, subject="Lettre enregistrée quand même")
    assert letter.id is not None and db.session.get(type(letter), letter.id) is not None
    assert "could not queue the facts job" in caplog.text
    assert "could not queue the search job" in caplog.text
    # the worker's tick finds the rows anyway
    queued = []
    runner.tick(app, lambda kind, name: queued.append((kind, name)))
    assert ("drain", "search") in queued and ("drain", "facts") in queued


def test_the_tick_queues_due_periodic_jobs_and_waiting_outboxes(app, world):
    queued = []
    report = runner.tick(app, lambda kind, name: queued.append((kind, name)))
    assert queued == [
        ("periodic", "deadlines"),
        ("periodic", "signatures"),
        ("periodic", "audit-timestamps"),
        ("periodic", "file-sweep"),
        ("periodic", "search-merge"),
    ]  # never ran: all due; no outbox waits
    assert report == {"outboxes_waiting": 0, "periodic_due": 5}
    runner.run_periodic(app, "deadlines")
    held = job_runs.claim(db.session, "signatures", holder="elsewhere", lease_s=60, periodic=True)
    assert held is not None
    with app.test_request_context():
        register(world.officer)
    queued.clear()
    runner.tick(app, lambda kind, name: queued.append((kind, name)))
    assert ("periodic", "deadlines") not in queued  # ran: not due for an hour
    assert ("periodic", "signatures") not in queued  # another worker runs it
    assert ("drain", "search") in queued and ("drain", "facts") in queued
