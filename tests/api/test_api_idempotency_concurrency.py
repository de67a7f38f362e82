"""Retries of one registration at the same moment never make two letters: on SQLite writers
queue and the later ones replay the first answer; on PostgreSQL a retry waits for the first's
transaction (or, past API_IDEMPOTENCY_WAIT_MS, is told it is still running)."""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Letter, Role
from app.services import organisations as orgs
from tests.api.conftest import assert_problem, bearer, letter_body
from tests.helpers import blank_pdf

RETRIES = 6


def _officer_token(token_for):
    org = orgs.create_organisation(
        db.session, None, code="pg", name_ar="وزارة", name_fr="Ministère"
    )
    officer = orgs.create_user(
        db.session,
        None,
        org,
        username="pg.officer",
        full_name="PG Officer",
        password="correct horse battery",
        roles=[Role.REGISTRY_OFFICER],
    )
    return officer, token_for(officer)


def _at_once(app, secret: str, key: str) -> list:
    pdf = blank_pdf()
    barrier = threading.Barrier(RETRIES)
    answers = []

    def retry():
        client = app.test_client()
        barrier.wait()
        answers.append(
            client.post(
                "/api/v1/letters",
                data=letter_body(pdf),
                headers=bearer(secret, **{"Idempotency-Key": key}),
            )
        )

    threads = [threading.Thread(target=retry) for _ in range(RETRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _check_one_letter(answers) -> None:
    created = [a for a in answers if a.status_code == 201]
    assert created and all(a.status_code in (201, 409) for a in answers)
    assert len({a.get_data() for a in created}) == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in created) == 1
    with db.session.begin():
        assert db.session.scalar(select(func.count(Letter.id))) == 1
    db.session.commit()


@pytest.mark.sqlite(reason="the PostgreSQL case is its twin, ..._on_postgresql")
def test_concurrent_retries_make_one_letter_on_sqlite(app, world, token_for):
    answers = _at_once(app, token_for(world.officer), "same-moment")
    _check_one_letter(answers)


@pytest.mark.postgres
def test_concurrent_retries_make_one_letter_on_postgresql(pg_app, token_for):
    pg_app.config["API_IDEMPOTENCY_WAIT_MS"] = 10_000
    _officer, secret = _officer_token(token_for)
    _check_one_letter(_at_once(pg_app, secret, "same-moment"))


@pytest.mark.postgres
def test_a_retry_while_the_first_runs_is_told_so(pg_app, token_for):
    pg_app.config["API_IDEMPOTENCY_WAIT_MS"] = 200
    officer, secret = _officer_token(token_for)
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as first:  # holds the key in a transaction not yet committed
        first.execute(
            "INSERT INTO api_idempotency_keys (organisation_id, user_id, key, request_hash, "
            "response_body, response_headers, created_at) "
            "VALUES (%s, %s, 'busy', '', '', '{}', now())",
            (officer.organisation_id, officer.id),
        )
        client = pg_app.test_client()
        running = client.post(
            "/api/v1/letters",
            data=letter_body(),
            headers=bearer(secret, **{"Idempotency-Key": "busy"}),
        )
        assert_problem(running, 409, "idempotency_in_progress")
        first.rollback()
    after = client.post(
        "/api/v1/letters", data=letter_body(), headers=bearer(secret, **{"Idempotency-Key": "busy"})
    )
    assert after.status_code == 201, after.get_data(as_text=True)
