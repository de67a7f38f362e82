"""Claims on jobs (app.services.job_runs) and one job's run (app.jobs.runner): one holder at a
time, a lapsed lease taken over, a periodic job once per interval, errors recorded."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from app.extensions import db
from app.jobs import runner, work
from app.models import JobRun
from app.models.base import utcnow
from app.services import job_runs


def _row(name: str) -> JobRun:
    return db.session.get(JobRun, name, populate_existing=True)


def test_one_holder_at_a_time_and_a_lapsed_lease_is_taken_over(app):
    now = utcnow()
    first = job_runs.claim(db.session, "search", holder="a", lease_s=60, now=now)
    assert first is not None and _row("search").holder == "a"
    assert job_runs.claim(db.session, "search", holder="b", lease_s=60, now=now) is None
    # a has been killed: it never renews; once the lease lapses, b takes the job
    later = now + timedelta(seconds=61)
    second = job_runs.claim(db.session, "search", holder="b", lease_s=60, now=later)
    assert second is not None and _row("search").holder == "b"
    # a wakes up: neither its renewal nor its finish overwrites b's run
    assert job_runs.renew(db.engine, first, 60) is None
    assert job_runs.finish(db.session, first, report={"done": 1}) is False
    assert _row("search").holder == "b" and _row("search").runs == 0
    assert job_runs.finish(db.session, second, report={"done": 2}) is True
    row = _row("search")
    assert (row.holder, row.lease_until, row.runs, row.last_report) == (None, None, 1, {"done": 2})


def test_a_periodic_job_runs_once_per_interval(app):
    now = utcnow()
    held = job_runs.claim(db.session, "deadlines", holder="a", lease_s=60, periodic=True, now=now)
    assert held is not None  # never ran: due
    assert job_runs.finish(db.session, held, interval_s=3600, now=now)
    for holder in ("a", "b"):
        assert (
            job_runs.claim(
                db.session, "deadlines", holder=holder, lease_s=60, periodic=True, now=now
            )
            is None
        )
    assert job_runs.due(db.session, ["deadlines", "file-sweep"], now=now) == ["file-sweep"]
    later = now + timedelta(seconds=3601)
    assert job_runs.due(db.session, ["deadlines"], now=later) == ["deadlines"]
    assert job_runs.claim(db.session, "deadlines", holder="b", lease_s=60, periodic=True, now=later)


def test_a_failed_run_is_recorded_and_stays_due(app):
    now = utcnow()
    held = job_runs.claim(db.session, "signatures", holder="a", lease_s=60, periodic=True)
    assert job_runs.finish(db.session, held, interval_s=3600, error="OSError: disk full")
    row = _row("signatures")
    assert (row.failures, row.runs, row.last_error) == (1, 1, "OSError: disk full")
    assert job_runs.due(db.session, ["signatures"], now=now + timedelta(seconds=1)) == [
        "signatures"
    ]


def test_the_lease_is_renewed_while_the_job_works(app):
    held = job_runs.claim(db.session, "search", holder="a", lease_s=0.6)
    with job_runs.kept_alive(db.engine, held, 0.6) as current:
        time.sleep(1.5)  # longer than the lease: renewed meanwhile
        assert job_runs.claim(db.session, "search", holder="b", lease_s=0.6) is None
        assert current[0].lease_until > held.lease_until
    assert job_runs.finish(db.session, current[0])


def test_a_periodic_job_that_fails_raises_records_and_runs_at_the_next_tick(app, monkeypatch):
    def broken(app, **options):
        raise RuntimeError("the authority did not answer")

    monkeypatch.setitem(
        work.PERIODIC,
        "audit-timestamps",
        work.Periodic("audit-timestamps", broken, "AUDIT_TIMESTAMP_INTERVAL_S"),
    )
    with pytest.raises(RuntimeError):
        runner.run_periodic(app, "audit-timestamps")
    row = _row("audit-timestamps")
    assert row.lease_until is None and row.failures == 1
    assert "the authority did not answer" in row.last_error
    assert "audit-timestamps" in job_runs.due(db.session, list(work.PERIODIC))


def test_the_index_merge_waits_while_the_index_is_being_written(app):
    writer = job_runs.claim(db.session, "search", holder="elsewhere", lease_s=60)
    assert runner.run_periodic(app, "search-merge") is None
    row = _row("search-merge")
    assert row.runs == 0 and row.lease_until is None  # released, still due
    assert job_runs.finish(db.session, writer)
    assert runner.run_periodic(app, "search-merge") == {"letters_indexed": 0}
    assert runner.run_periodic(app, "search-merge") is None  # not due for an hour
    assert _row("search").lease_until is None  # the writer's claim was let go too


def test_a_drain_another_worker_holds_is_left_to_it(app, world):
    assert job_runs.claim(db.session, "facts", holder="elsewhere", lease_s=60)
    assert runner.run_drain(app, "facts") is None


def test_the_metrics_tell_each_jobs_runs_failures_and_holder(app, monkeypatch):
    runner.run_periodic(app, "deadlines")
    held = job_runs.claim(db.session, "search", holder="elsewhere", lease_s=60)
    assert held is not None

    def broken(app, **options):
        raise OSError("disk full")

    monkeypatch.setitem(
        work.PERIODIC, "file-sweep", work.Periodic("file-sweep", broken, "FILE_SWEEP_INTERVAL_S")
    )
    with pytest.raises(OSError):
        runner.run_periodic(app, "file-sweep")
    text = app.test_client().get("/metrics").get_data(as_text=True)  # 127.0.0.1 may read them
    assert 'diwan_job_runs_total{job="deadlines"} 1.0' in text
    assert 'diwan_job_failures_total{job="file-sweep"} 1.0' in text
    assert 'diwan_job_running{job="search"} 1.0' in text
    assert 'diwan_job_running{job="deadlines"} 0.0' in text
    assert 'diwan_job_last_finished_seconds{job="deadlines"}' in text
