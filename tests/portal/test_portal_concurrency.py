"""Citizens submitting at the same moment: every accepted request is registered exactly once,
with gap-free numbers and a receipt each, on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Letter, PortalSubmission, Role
from app.services import organisations as orgs
from app.services import pki, portal_types
from app.services.actor import Actor
from tests.conftest import PASSWORD, csrf_token
from tests.portal.conftest import pdf_upload, submission_form

CITIZENS = 6


@pytest.fixture(autouse=True)
def _fresh_key_cache(monkeypatch):
    monkeypatch.setattr(pki, "_opened", {})


def publish(application) -> str:
    organisation = orgs.create_organisation(
        db.session, None, code="wilaya", name_ar="ولاية", name_fr="Wilaya"
    )
    admin = orgs.create_user(
        db.session,
        None,
        organisation,
        username="wilaya.admin",
        full_name="Admin",
        password=PASSWORD,
        roles=[Role.ADMINISTRATOR],
    )
    portal_types.save_request_type(
        db.session, Actor(admin), None, code="courrier", name_ar="مراسلة", name_fr="Courrier"
    )
    return "/portal/wilaya/courrier"


def submit_many(application, url: str) -> list[int]:
    def one(n: int) -> int:
        client = application.test_client()
        data = submission_form(
            csrf_token=csrf_token(client, url), subject=f"Demande {n}", attachments=[pdf_upload()]
        )
        return client.post(url, data=data, content_type="multipart/form-data").status_code

    with ThreadPoolExecutor(CITIZENS) as pool:
        return list(pool.map(one, range(CITIZENS)))


def check_registrations(statuses: list[int]) -> None:
    db.session.commit()
    assert statuses == [302] * CITIZENS
    letters = db.session.scalars(select(Letter).order_by(Letter.seq)).all()
    assert [letter.seq for letter in letters] == list(range(1, CITIZENS + 1))
    assert sorted(letter.subject for letter in letters) == sorted(
        f"Demande {n}" for n in range(CITIZENS)
    )
    submissions = db.session.scalars(select(PortalSubmission)).all()
    assert len(submissions) == CITIZENS
    assert {s.letter_id for s in submissions} == {letter.id for letter in letters}
    assert all(s.receipt_sha256 and s.pending_code is None for s in submissions)


@pytest.mark.sqlite(reason="the PostgreSQL case is its twin, ..._on_postgresql")
def test_simultaneous_submissions_on_sqlite(app):
    url = publish(app)
    check_registrations(submit_many(app, url))


@pytest.mark.postgres
def test_simultaneous_submissions_on_postgresql(pg_app):
    url = publish(pg_app)
    check_registrations(submit_many(pg_app, url))
