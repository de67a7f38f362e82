"""/healthz (the process answers) and /readyz (database, schema, file store, queues, worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update

from app import worker
from app.extensions import db
from app.models import OutgoingEmail, SearchOutbox, WorkerHeartbeat
from app.models.base import utcnow
from app.services import health
from tests.conftest import csrf_token, make_app
from tests.factories import register


def _ready(app):
    app.config["READY_CACHE_S"] = 0  # every request checks again
    response = app.test_client().get("/readyz")
    body = response.get_json()
    failing = sorted(name for name, check in body["checks"].items() if not check["ok"])
    return response.status_code, body, failing


def test_healthz_answers_without_the_database(tmp_path):
    down = make_app(tmp_path / "i", DATABASE_URL="postgresql+psycopg://diwan@127.0.0.1:1/none")
    response = down.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_ready_after_a_worker_round(app, world):
    status, body, failing = _ready(app)
    assert (status, failing) == (503, ["worker"])  # no worker has ever reported
    assert body["checks"]["worker"]["last_beat_seconds"] is None
    report = worker.run_once(app, check_deadlines=False)
    db.session.commit()
    status, body, failing = _ready(app)
    assert (status, failing, body["status"]) == (200, [], "ready")
    assert set(body["checks"]) == {
        "database",
        "schema",
        "file_store",
        "search_index",
        "dashboard_facts",
        "email_outbox",
        "webhooks",
        "worker",
    }
    assert body["checks"]["worker"]["workers"] == 1
    beat = db.session.get(WorkerHeartbeat, health.worker_name())
    assert beat.last_report["rounds"] == 1 and beat.last_report["report"] == report


def test_a_stale_heartbeat_is_not_ready(app, world):
    health.beat(db.session, "host-a:1", {}, now=utcnow() - timedelta(minutes=10))
    status, body, failing = _ready(app)
    assert (status, failing) == (503, ["worker"])
    assert body["checks"]["worker"]["last_beat_seconds"] >= 600
    app.config["READY_WORKER_STALE_S"] = 900
    assert _ready(app)[0] == 200


def test_failed_rounds_are_counted_but_do_not_keep_the_worker_alive(app):
    long_ago = utcnow() - timedelta(minutes=10)
    health.beat(db.session, "host-a:1", {"letters_indexed": 3}, now=long_ago)
    health.beat(db.session, "host-a:1", failed=True)
    row = db.session.get(WorkerHeartbeat, "host-a:1")
    assert row.beat_at == long_ago
    assert row.last_report["failures"] == 1 and row.last_report["rounds"] == 2
    assert row.last_report["report"] == {"letters_indexed": 3}
    assert _ready(app)[2] == ["worker"]
    # a worker gone for more than a day is forgotten at the next beat
    health.beat(db.session, "host-b:2", now=utcnow() + timedelta(days=2))
    assert db.session.get(WorkerHeartbeat, "host-a:1") is None


def test_an_unusable_file_store_is_not_ready(app, tmp_path):
    health.beat(db.session, "host-a:1")
    not_a_folder = tmp_path / "store-is-a-file"
    not_a_folder.write_text("x")
    app.config["FILE_STORE"] = str(not_a_folder)
    status, body, failing = _ready(app)
    assert (status, failing) == (503, ["file_store"])
    assert body["checks"]["file_store"]["error"] in {"EEXIST", "ENOTDIR"}


def test_a_database_down_is_not_ready(tmp_path):
    down = make_app(tmp_path / "i", DATABASE_URL="postgresql+psycopg://diwan@127.0.0.1:1/none")
    with down.app_context():
        status, body, failing = _ready(down)
        db.session.remove()
    assert (status, failing) == (503, ["database"])
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert "127.0.0.1" not in str(body)  # the error's class, never its text


def test_a_database_behind_the_code_is_not_ready(app):
    health.beat(db.session, "host-a:1")
    db.session.execute(text("UPDATE alembic_version SET version_num = '0012'"))
    db.session.commit()
    status, body, failing = _ready(app)
    assert (status, failing) == (503, ["schema"])
    assert body["checks"]["schema"]["revision"] == "0012"


def test_a_lagging_search_outbox_is_not_ready(app, world):
    health.beat(db.session, "host-a:1")
    with app.test_request_context():
        register(world.officer, subject="Demande de bourse, M. Alaoui")
    assert _ready(app)[0] == 200  # a fresh change is no lag
    db.session.execute(update(SearchOutbox).values(created_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    status, body, failing = _ready(app)
    assert (status, failing) == (503, ["search_index"])
    assert body["checks"]["search_index"]["waiting"] >= 1
    assert body["checks"]["search_index"]["lag_seconds"] >= 3600
    assert "Alaoui" not in str(body) and "officer" not in str(body)


def test_e_mails_due_for_long_are_not_ready_only_when_smtp_is_set(app, world):
    health.beat(db.session, "host-a:1")
    db.session.add(
        OutgoingEmail(
            organisation_id=world.org.id,
            to_address="citizen@example.org",
            subject="Votre demande",
            body="...",
            next_attempt_at=utcnow() - timedelta(hours=1),
        )
    )
    db.session.commit()
    status, body, _ = _ready(app)
    assert status == 200 and body["checks"]["email_outbox"]["due"] == 1  # no SMTP: they wait
    app.config["SMTP_HOST"] = "smtp.example.org"
    status, body, failing = _ready(app)
    assert (status, failing) == (503, ["email_outbox"])
    assert "citizen@example.org" not in str(body)


def test_readiness_is_cached_for_a_moment(app):
    health.beat(db.session, "host-a:1")
    app.config["READY_CACHE_S"] = 60
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    db.session.execute(update(WorkerHeartbeat).values(beat_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert client.get("/readyz").status_code == 200  # the cached answer
    app.extensions["diwan_readyz"].clear()
    assert client.get("/readyz").status_code == 503


@pytest.mark.postgres
def test_ready_on_postgresql(pg_app):
    status, _, failing = _ready(pg_app)
    assert (status, failing) == (503, ["worker"])
    worker.run_once(pg_app, check_deadlines=False)
    status, body, failing = _ready(pg_app)
    assert (status, failing) == (200, []), body
    metrics = pg_app.test_client().get("/metrics").get_data(as_text=True)
    assert "diwan_database_up 1.0" in metrics and "diwan_workers 1.0" in metrics


def test_a_shared_rate_limit_store_that_does_not_answer_is_not_ready(tmp_path, new_database):
    instance = tmp_path / "instance"
    redis_down = make_app(
        instance, DATABASE_URL=new_database(instance), RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0"
    )
    with redis_down.app_context():
        health.beat(db.session, "host-a:1")
        status, body, failing = _ready(redis_down)
        db.session.remove()
        db.engine.dispose()
    assert (status, failing) == (503, ["rate_limits"])
    assert body["checks"]["rate_limits"]["ok"] is False


def test_pages_with_rate_limits_keep_working_when_the_shared_store_is_down(tmp_path, new_database):
    """Redis down: each process counts for itself meanwhile (the same limits), instead of the
    sign-in and portal pages answering 500; /readyz says the store is down (above)."""
    instance = tmp_path / "instance"
    redis_down = make_app(
        instance,
        DATABASE_URL=new_database(instance),
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
        LOGIN_RATE_LIMIT="3 per minute",
    )
    client = redis_down.test_client()
    try:
        token = csrf_token(client, "/login")
        answers = [
            client.post(
                "/login", data={"username": "nobody", "password": "x", "csrf_token": token}
            ).status_code
            for _ in range(4)
        ]
    finally:
        with redis_down.app_context():
            db.session.remove()
            db.engine.dispose()
    assert answers == [401, 401, 401, 429]  # wrong passwords, then limited (in memory)
