"""Letters through the API: registration with files (audited as the caller), idempotency keys,
cursor paging, history, verified document bytes, routing, notes, inboxes."""

from __future__ import annotations

import base64
import io

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Letter, Role
from app.models.api import IdempotencyKey
from app.services import organisations as orgs
from tests.api.conftest import assert_problem, bearer, letter_body, metadata
from tests.conftest import _user
from tests.factories import register
from tests.helpers import blank_pdf


def _letters() -> int:
    return db.session.scalar(select(func.count(Letter.id)))


def test_register_a_letter_with_its_file(app, world, token_for):
    client = app.test_client()
    secret = token_for(world.officer)
    pdf = blank_pdf(2)
    response = client.post(
        "/api/v1/letters",
        data=letter_body(pdf, subject="Demande de permis", priority="urgent"),
        headers=bearer(secret),
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["number"].endswith("/1") or body["number"]
    assert body["subject"] == "Demande de permis" and body["priority"] == "urgent"
    assert response.headers["Location"] == f"/api/v1/letters/{body['id']}"
    (document,) = body["documents"]
    assert document["current"]["page_count"] == 2
    content = client.get(document["content_url"], headers=bearer(secret))
    assert content.status_code == 200 and content.data == pdf
    assert content.mimetype == "application/pdf"
    # The same audit event as the desk, with the API caller as the actor.
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "letter.registered", AuditEvent.letter_id == body["id"]
        )
    )
    assert event.actor_id == world.officer.id and event.remote_addr == "10.1.2.3"
    history = client.get(f"/api/v1/letters/{body['id']}/history", headers=bearer(secret))
    assert [e["action"] for e in history.get_json()][-1] == "letter.registered"
    assert history.get_json()[-1]["actor"] == world.officer.full_name


def test_registration_refusals(app, world, token_for):
    client = app.test_client()
    secret = token_for(world.officer)
    no_file = client.post("/api/v1/letters", data={"metadata": metadata()}, headers=bearer(secret))
    assert "files" in assert_problem(no_file, 422, "validation_failed")["errors"]
    bad_json = client.post(
        "/api/v1/letters", data={**letter_body(), "metadata": "{oops"}, headers=bearer(secret)
    )
    assert_problem(bad_json, 422, "validation_failed")
    bad_field = client.post(
        "/api/v1/letters", data=letter_body(channel="pigeon", extra=1), headers=bearer(secret)
    )
    errors = assert_problem(bad_field, 422, "validation_failed")["errors"]["metadata"]
    assert {"channel", "extra"} <= set(errors)
    no_correspondent = client.post(
        "/api/v1/letters", data=letter_body(new_correspondent=None), headers=bearer(secret)
    )
    errors = assert_problem(no_correspondent, 422, "validation_failed")["errors"]["metadata"]
    assert "correspondent_id" in errors
    not_a_scan = client.post(
        "/api/v1/letters",
        data={"metadata": metadata(), "files": (io.BytesIO(b"plain text"), "a.txt")},
        headers=bearer(secret),
    )
    assert_problem(not_a_scan, 422, "validation_failed")
    assert _letters() == 0


def test_idempotency_key_replays_and_refuses_another_request(app, world, token_for):
    client = app.test_client()
    secret = token_for(world.officer)
    key = {"Idempotency-Key": "7d1c-registration-1"}
    pdf = blank_pdf()
    first = client.post("/api/v1/letters", data=letter_body(pdf), headers=bearer(secret, **key))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = client.post("/api/v1/letters", data=letter_body(pdf), headers=bearer(secret, **key))
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert _letters() == 1
    other = client.post(
        "/api/v1/letters", data=letter_body(pdf, subject="Autre"), headers=bearer(secret, **key)
    )
    assert_problem(other, 422, "idempotency_key_reused")
    other_file = client.post(
        "/api/v1/letters", data=letter_body(blank_pdf(3)), headers=bearer(secret, **key)
    )
    assert_problem(other_file, 422, "idempotency_key_reused")
    assert _letters() == 1
    # Keys are per user: another officer's same key registers their own letter.
    second_officer = token_for(world.officer2)
    theirs = client.post(
        "/api/v1/letters", data=letter_body(pdf), headers=bearer(second_officer, **key)
    )
    assert theirs.status_code == 201 and theirs.get_json()["id"] != first.get_json()["id"]
    assert db.session.scalar(select(func.count(IdempotencyKey.id))) == 2
    too_long = client.post(
        "/api/v1/letters",
        data=letter_body(pdf),
        headers=bearer(secret, **{"Idempotency-Key": "k" * 256}),
    )
    assert_problem(too_long, 422, "validation_failed")


def test_a_refused_registration_claims_no_key(app, world, token_for):
    client = app.test_client()
    secret = token_for(world.officer)
    key = {"Idempotency-Key": "retry-after-fix"}
    refused = client.post(
        "/api/v1/letters", data=letter_body(letter_type_id=999_999), headers=bearer(secret, **key)
    )
    assert_problem(refused, 422, "validation_failed")
    assert db.session.scalar(select(func.count(IdempotencyKey.id))) == 0
    fixed = client.post("/api/v1/letters", data=letter_body(), headers=bearer(secret, **key))
    assert fixed.status_code == 201


def test_cursor_paging_reads_every_letter_once(app, world, token_for):
    ids = {register(world.officer, subject=f"Lettre {n}").id for n in range(7)}
    register(world.officer, register="outgoing")
    client = app.test_client()
    secret = token_for(world.admin)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/letters?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=bearer(secret)).get_json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) and set(seen) == ids
    assert seen == sorted(seen, reverse=True)
    bogus = base64.urlsafe_b64encode(b"2026-01-01T00:00:00|99999999999").decode()
    assert_problem(
        client.get(f"/api/v1/letters?cursor={bogus}", headers=bearer(secret)), 400, "invalid_cursor"
    )
    closed = client.get("/api/v1/letters?status=closed", headers=bearer(secret)).get_json()
    assert closed["items"] == []


def test_route_notes_and_inbox(app, world, token_for):
    department = orgs.create_department(
        db.session,
        None,
        world.org,
        code="RH",
        name_ar="الموارد البشرية",
        name_fr="Ressources humaines",
    )
    head = _user(world.org, "head.rh", [Role.DEPARTMENT_HEAD])
    head.department_id = department.id
    db.session.commit()
    letter = register(world.officer)
    client = app.test_client()
    officer = token_for(world.officer)
    routed = client.post(
        f"/api/v1/letters/{letter.id}/routing",
        json={"action_department_id": department.id},
        headers=bearer(officer),
    )
    assert routed.status_code == 200, routed.get_data(as_text=True)
    assert routed.get_json()["assignments"][0]["department_id"] == department.id
    again = client.post(
        f"/api/v1/letters/{letter.id}/routing",
        json={"action_department_id": department.id},
        headers=bearer(officer),
    )
    assert_problem(again, 422, "validation_failed")
    note = client.post(
        f"/api/v1/letters/{letter.id}/notes", json={"body": "Urgent"}, headers=bearer(officer)
    )
    assert note.status_code == 201 and note.get_json()["author"] == world.officer.full_name
    head_token = token_for(head)
    queues = client.get("/api/v1/inboxes", headers=bearer(head_token)).get_json()
    assert queues[0]["owner_id"] == head.id and queues[0]["counts"]["new"] == 1
    tab = client.get(f"/api/v1/inboxes/{head.id}?tab=new", headers=bearer(head_token)).get_json()
    assert [item["letter"]["id"] for item in tab["items"]] == [letter.id]
    assert_problem(
        client.get(f"/api/v1/inboxes/{world.officer.id}", headers=bearer(head_token)),
        404,
        "not_found",
    )
    notes = client.get(f"/api/v1/letters/{letter.id}/notes", headers=bearer(head_token))
    assert [n["body"] for n in notes.get_json()] == ["Urgent"]
    # A copy-reader cannot route; an agent with no queue sees no inbox.
    agent = token_for(world.agent)
    refused = client.post(
        f"/api/v1/letters/{letter.id}/routing",
        json={"action_department_id": department.id},
        headers=bearer(agent),
    )
    assert_problem(refused, 404, "not_found")
    assert client.get("/api/v1/inboxes", headers=bearer(agent)).get_json() == []
    actions = [
        e.action
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.letter_id == letter.id).order_by(AuditEvent.seq)
        )
    ]
    assert actions == ["letter.registered", "letter.routed", "note.added"]


def test_search_is_trimmed_like_the_page(app, world, token_for):
    from app.worker import run_once

    register(world.officer, subject="Permis de construire villa")
    register(world.officer, subject="Permis de construire secret", confidential=True)
    run_once(app)
    db.session.commit()
    client = app.test_client()
    other = token_for(world.officer2)
    found = client.get("/api/v1/search?q=permis", headers=bearer(other)).get_json()
    assert [hit["letter"]["subject"] for hit in found["hits"]] == ["Permis de construire villa"]
    assert found["total"] == 1
    own = token_for(world.officer)
    assert client.get("/api/v1/search?q=permis", headers=bearer(own)).get_json()["total"] == 2
