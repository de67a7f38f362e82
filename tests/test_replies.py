"""Replying: a draft from a template, dispatched as a numbered outgoing letter linked to the
incoming one, which is closed as answered; only the processing department may reply."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from app.models import Letter, ReplyDraft
from app.services import organisations as orgs
from app.services import replies
from tests.conftest import csrf_token
from tests.factories import register
from tests.test_routing import _action_assignment, _post, _route, departments  # noqa: F401


@pytest.fixture
def in_progress(app, world, departments, client_for):  # noqa: F811
    """A letter routed to DRH, accepted, with a French reply template."""
    orgs.create_reply_template(
        db.session,
        None,
        world.org,
        name="Favorable",
        language="fr",
        body="Madame {correspondent},\n\nVotre courrier {number} relatif à « {subject} » "
        "a reçu une suite favorable. {unknown}",
    )
    with app.test_request_context():
        letter = register(
            world.officer, subject="Demande d'attestation", correspondent="Mme Salma Idrissi"
        )
    _route(client_for("officer"), letter, departments.drh)
    head = client_for("head.drh")
    _post(head, letter, f"assignments/{_action_assignment(letter).id}/accept")
    return letter, head


def test_draft_from_template_then_dispatch(app, world, in_progress):
    letter, head = in_progress
    template_id = str(db.session.scalar(select(replies.ReplyTemplate.id)))
    response = _post(head, letter, "reply/start", {"template_id": template_id, "language": "fr"})
    assert response.headers["Location"].endswith(f"/letters/{letter.id}/reply")
    page = head.get(f"/letters/{letter.id}/reply").get_data(as_text=True)
    assert "Mme Salma Idrissi" in page and letter.number in page
    assert "{unknown}" in page  # an unknown placeholder is left for the author to see
    preview = head.get(f"/letters/{letter.id}/reply/preview.pdf")
    assert preview.mimetype == "application/pdf"
    token = csrf_token(head, f"/letters/{letter.id}/reply")
    head.post(
        f"/letters/{letter.id}/reply",
        data={"csrf_token": token, "subject": "Réponse : attestation", "body": "Texte définitif."},
    )
    response = head.post(
        f"/letters/{letter.id}/reply/dispatch", data={"csrf_token": token, "channel": "email"}
    )
    assert response.status_code == 302
    outgoing = db.session.scalar(select(Letter).where(Letter.register == "outgoing"))
    assert outgoing.number == f"{date.today().year}/D/000001"
    assert (
        outgoing.reply_to_id == letter.id and outgoing.correspondent_id == letter.correspondent_id
    )
    db.session.refresh(letter)
    assert letter.is_closed and letter.outcome == "answered"
    pdf = head.get(f"/letters/{outgoing.id}/documents/{outgoing.documents[0].id}/v1/original").data
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert outgoing.number in text and "Texte définitif." in text
    incoming_page = head.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert outgoing.number in incoming_page  # "answered by"
    assert db.session.scalar(select(ReplyDraft)).outgoing_letter_id == outgoing.id


def test_only_the_processing_department_replies(app, world, in_progress, client_for):
    letter, _head = in_progress
    for username in ("officer", "head.dsi", "agent.drh"):
        client = client_for(username)
        response = client.post(
            f"/letters/{letter.id}/reply/start",
            data={
                "csrf_token": csrf_token(
                    client, "/registry/incoming" if username == "officer" else "/inbox"
                ),
                "template_id": "",
                "language": "fr",
            },
        )
        assert response.status_code in (403, 404), username
    assert db.session.scalar(select(ReplyDraft)) is None


def test_empty_reply_cannot_be_dispatched(app, world, in_progress):
    letter, head = in_progress
    _post(head, letter, "reply/start", {"template_id": "", "language": "ar"})
    token = csrf_token(head, f"/letters/{letter.id}/reply")
    response = head.post(
        f"/letters/{letter.id}/reply/dispatch", data={"csrf_token": token, "channel": "post"}
    )
    assert response.status_code == 302
    assert "Write the reply" in head.get(response.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(Letter).where(Letter.register == "outgoing")) is None
    db.session.refresh(letter)
    assert letter.is_open
