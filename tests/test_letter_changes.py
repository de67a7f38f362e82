"""Corrections keep old and new values; cancellation keeps the letter and its number."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Letter
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from app.services.letters import cancel_letter, correct_letter
from tests.conftest import csrf_token
from tests.factories import register


@pytest.fixture
def letter(app, world):
    with app.test_request_context():
        return register(world.officer, subject="Demande de stage", sender_reference="R-1")


def test_correction_through_the_page_is_shown_in_history(world, letter, client_for):
    client = client_for("officer")
    url = f"/letters/{letter.id}/correct"
    form = {
        "csrf_token": csrf_token(client, url),
        "subject": "Demande de stage d'été",
        "sender_reference": "R-1",
        "letter_date": "",
        "received_on": "",
        "letter_type_id": "",
        "priority": "urgent",
        "language": "fr",
        "physical_attachments": "2",
        "correspondent_id": str(letter.correspondent_id),
        "reason": "faute de frappe",
    }
    assert client.post(url, data=form).status_code == 302
    page = client.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "Demande de stage d&#39;été" in page
    assert '<del dir="auto">Demande de stage</del>' in page
    assert "faute de frappe" in page
    db.session.refresh(letter)
    assert letter.priority == "urgent" and letter.physical_attachments == 2
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "letter.corrected"))
    assert event.data["changes"]["subject"] == ["Demande de stage", "Demande de stage d'été"]
    assert event.data["changes"]["priority"] == ["normal", "urgent"]
    assert event.letter_id == letter.id and event.actor_id == world.officer.id
    assert event.remote_addr == "127.0.0.1"


def test_correction_without_reason_changes_nothing(world, letter, client_for):
    client = client_for("officer")
    url = f"/letters/{letter.id}/correct"
    form = {
        "csrf_token": csrf_token(client, url),
        "subject": "Autre",
        "priority": "normal",
        "language": "ar",
        "physical_attachments": "0",
        "letter_type_id": "",
        "correspondent_id": str(letter.correspondent_id),
        "reason": "",
    }
    assert client.post(url, data=form).status_code == 422
    db.session.refresh(letter)
    assert letter.subject == "Demande de stage"


def test_number_register_and_channel_cannot_be_corrected(app, world, letter):
    for field, value in (("number", "2026/A/999999"), ("register", "outgoing"), ("channel", "fax")):
        with pytest.raises(ServiceError):
            correct_letter(db.session, Actor(world.officer), letter, {field: value}, "essai")
    db.session.refresh(letter)
    assert letter.number.endswith("/A/000001") and letter.channel == "post"


def test_future_letter_date_is_refused_on_the_form(world, letter, client_for):
    client = client_for("officer")
    url = f"/letters/{letter.id}/correct"
    form = {
        "csrf_token": csrf_token(client, url),
        "subject": "x",
        "priority": "normal",
        "language": "ar",
        "physical_attachments": "0",
        "letter_type_id": "",
        "correspondent_id": str(letter.correspondent_id),
        "reason": "date",
        "letter_date": date(date.today().year + 1, 1, 1).isoformat(),
    }
    assert client.post(url, data=form).status_code == 422


def test_cancellation_needs_a_reason_and_keeps_the_number(app, world, letter, client_for):
    client = client_for("officer")
    page_url = f"/letters/{letter.id}"
    token = csrf_token(client, page_url)
    client.post(f"/letters/{letter.id}/cancel", data={"csrf_token": token, "reason": ""})
    db.session.refresh(letter)
    assert not letter.is_cancelled
    client.post(
        f"/letters/{letter.id}/cancel",
        data={"csrf_token": token, "reason": "Doublon du 2026/A/000003"},
    )
    db.session.refresh(letter)
    assert letter.is_cancelled and letter.cancelled_reason == "Doublon du 2026/A/000003"
    assert "Doublon du 2026/A/000003" in client.get(page_url).get_data(as_text=True)
    # still there, still numbered; the next letter does not reuse the number
    with app.test_request_context():
        following = register(world.officer)
    assert following.seq == letter.seq + 1
    assert db.session.scalar(select(Letter).where(Letter.id == letter.id)) is not None
    # a cancelled letter can no longer be corrected or cancelled again
    assert client.get(f"/letters/{letter.id}/correct").status_code == 403
    with pytest.raises(NotAllowed):
        cancel_letter(db.session, Actor(world.officer), letter, "encore une fois")


def test_other_officer_cannot_cancel_through_the_service(world, letter):
    with pytest.raises(NotAllowed):
        cancel_letter(db.session, Actor(world.other_officer), letter, "pas à moi")
    with pytest.raises(NotAllowed):
        correct_letter(db.session, Actor(world.agent), letter, {"subject": "x"}, "raison")
