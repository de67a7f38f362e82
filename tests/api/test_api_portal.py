"""E-counter requests from another system: only the organisation's service token with the
portal scope, registered as the portal does (routing rule, audit events), the receipt, public
tracking, and idempotency keys."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Letter, PortalSubmission
from app.services import api_tokens
from app.services.actor import Actor
from tests.api.conftest import assert_problem, bearer
from tests.helpers import blank_pdf


def _service_token(user_admin, name="Portail national", scopes=("portal",)) -> str:
    account = api_tokens.create_service_account(
        db.session, Actor(user_admin), name=name, roles=["registry_officer"], department_id=None
    )
    _row, secret = api_tokens.create_token(
        db.session, Actor(user_admin), user=account, name="prod", scopes=list(scopes)
    )
    return secret


def _body(**overrides) -> dict:
    request = {
        "request_type": "plainte",
        "name": "Fatima Zahra Bennani",
        "national_id": "be123456",
        "subject": "Retard de délivrance",
        "message": "Bonjour, j'attends une attestation depuis deux mois.",
        "locale": "fr",
    }
    request.update(overrides)
    return {
        "submission": json.dumps(request),
        "files": (io.BytesIO(blank_pdf()), "piece.pdf", "application/pdf"),
    }


def test_a_service_token_submits_as_the_portal(app, world, portal_world, token_for):
    client = app.test_client()
    secret = _service_token(world.admin)
    response = client.post("/api/v1/portal/mtn/submissions", data=_body(), headers=bearer(secret))
    assert response.status_code == 201, response.get_data(as_text=True)
    answer = response.get_json()
    letter = db.session.scalar(select(Letter).where(Letter.number == answer["number"]))
    assert letter.channel == "portal" and len(letter.documents) == 2  # the message + the file
    assert letter.assignments[0].department_id == portal_world.department.id  # routing rule
    actions = [
        e.action
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.letter_id == letter.id).order_by(AuditEvent.seq)
        )
    ]
    assert actions[:3] == ["letter.registered", "portal.submitted", "letter.routed"]
    receipt = client.get(answer["receipt_url"], headers=bearer(secret))
    assert receipt.status_code == 200 and receipt.data.startswith(b"%PDF")
    # Public tracking with the number and the code, no token.
    tracked = client.get(
        "/api/v1/portal/track",
        query_string={"number": answer["number"], "code": answer["tracking_code"]},
    )
    assert tracked.status_code == 200 and tracked.get_json()["steps"][0]["kind"] == "received"
    wrong = client.get(
        "/api/v1/portal/track", query_string={"number": answer["number"], "code": "0000"}
    )
    assert_problem(wrong, 404, "not_found")


def test_only_this_organisation_s_service_token_with_the_portal_scope(
    app, world, portal_world, token_for
):
    client = app.test_client()
    personal = token_for(world.officer)
    assert_problem(
        client.post("/api/v1/portal/mtn/submissions", data=_body(), headers=bearer(personal)),
        403,
        "forbidden",
    )
    admin_other = world.other_officer
    admin_other.role_rows  # noqa: B018 - loaded for the check below
    from app.models import Role, UserRole

    db.session.add(UserRole(user_id=admin_other.id, role=Role.ADMINISTRATOR))
    db.session.commit()
    theirs = _service_token(admin_other)
    assert_problem(
        client.post("/api/v1/portal/mtn/submissions", data=_body(), headers=bearer(theirs)),
        403,
        "forbidden",
    )
    no_scope = _service_token(world.admin, scopes=("letters:read",))
    assert_problem(
        client.post("/api/v1/portal/mtn/submissions", data=_body(), headers=bearer(no_scope)),
        403,
        "scope_missing",
    )
    ours = _service_token(world.admin, name="Kiosque")
    assert_problem(
        client.post("/api/v1/portal/nowhere/submissions", data=_body(), headers=bearer(ours)),
        404,
        "not_found",
    )
    unknown_type = client.post(
        "/api/v1/portal/mtn/submissions", data=_body(request_type="x"), headers=bearer(ours)
    )
    assert_problem(unknown_type, 422, "validation_failed")
    missing_id = client.post(
        "/api/v1/portal/mtn/submissions", data=_body(national_id=""), headers=bearer(ours)
    )
    assert (
        "national_id"
        in assert_problem(missing_id, 422, "validation_failed")["errors"]["submission"]
    )
    assert db.session.scalar(select(func.count(PortalSubmission.id))) == 0


def test_a_replayed_key_registers_one_request(app, world, portal_world):
    client = app.test_client()
    secret = _service_token(world.admin)
    key = {"Idempotency-Key": "kiosk-42"}
    first = client.post(
        "/api/v1/portal/mtn/submissions", data=_body(), headers=bearer(secret, **key)
    )
    again = client.post(
        "/api/v1/portal/mtn/submissions", data=_body(), headers=bearer(secret, **key)
    )
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    other = client.post(
        "/api/v1/portal/mtn/submissions", data=_body(subject="Autre"), headers=bearer(secret, **key)
    )
    assert_problem(other, 422, "idempotency_key_reused")
    assert db.session.scalar(select(func.count(PortalSubmission.id))) == 1


def test_an_unfinished_attempt_is_completed_by_its_retry(app, world, portal_world, monkeypatch):
    """The request was kept with its key, then the process stopped before registering it."""
    from app.services import api_portal

    client = app.test_client()
    secret = _service_token(world.admin)
    key = {"Idempotency-Key": "crash-1"}

    def crash(*_args, **_kwargs):
        raise RuntimeError("the process stopped here")

    monkeypatch.setattr(api_portal, "_register", crash)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    failed = client.post(
        "/api/v1/portal/mtn/submissions", data=_body(), headers=bearer(secret, **key)
    )
    assert_problem(failed, 500, "internal_error")
    monkeypatch.undo()
    retried = client.post(
        "/api/v1/portal/mtn/submissions", data=_body(), headers=bearer(secret, **key)
    )
    assert retried.status_code == 201, retried.get_data(as_text=True)
    assert db.session.scalar(select(func.count(PortalSubmission.id))) == 1
    assert db.session.scalar(select(func.count(Letter.id))) == 1
