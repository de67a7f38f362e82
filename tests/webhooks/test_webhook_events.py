"""Which changes become deliveries: written in the change's own transaction, only for the
organisation's active subscriptions to that event, with a payload that never carries a subject."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Letter, ReplyTemplate, Role
from app.models.api import WebhookDelivery
from app.services import organisations as orgs
from app.services import registration, webhook_delivery, webhooks
from app.services.actor import Actor
from tests.conftest import _user, csrf_token
from tests.factories import register
from tests.test_routing import _action_assignment, _post, _route, departments  # noqa: F401


def _deliveries(subscription=None) -> list[WebhookDelivery]:
    db.session.commit()
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if subscription is not None:
        stmt = stmt.where(WebhookDelivery.subscription_id == subscription.id)
    return list(db.session.scalars(stmt))


def _register(app, user, **fields) -> Letter:
    with app.test_request_context():
        return register(user, **fields)


def test_registration_writes_one_delivery_with_a_thin_payload(app, world, subscribe):
    subscription = subscribe(["letter.registered"])
    letter = _register(app, world.officer, subject="Demande de bourse", correspondent="Ali Alami")
    [delivery] = _deliveries()
    assert (delivery.subscription_id, delivery.event, delivery.letter_id) == (
        subscription.id,
        "letter.registered",
        letter.id,
    )
    assert delivery.status == "pending" and delivery.attempts == 0
    assert delivery.payload == {
        "id": delivery.event_id,
        "type": "letter.registered",
        "occurred_at": delivery.payload["occurred_at"],
        "organisation": "mtn",
        "letter": {
            "id": letter.id,
            "number": letter.number,
            "register": "incoming",
            "status": "registered",
            "confidential": False,
            "api_url": f"/api/v1/letters/{letter.id}",
        },
    }
    assert delivery.payload["occurred_at"].endswith("Z")


def test_a_rolled_back_registration_writes_no_delivery(app, world, subscribe, monkeypatch):
    subscribe()
    original = registration.record_letter

    def fails_after_recording(*args, **kwargs):
        original(*args, **kwargs)  # the letter, its audit event and its deliveries are written
        assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 1
        raise RuntimeError("disk full")

    monkeypatch.setattr(registration, "record_letter", fails_after_recording)
    with pytest.raises(RuntimeError):
        _register(app, world.officer)
    db.session.rollback()
    assert _deliveries() == []
    assert db.session.scalar(select(func.count(Letter.id))) == 0


def test_events_not_subscribed_and_inactive_subscriptions_get_nothing(app, world, subscribe):
    subscribe(["letter.routed"])
    closed_only = subscribe(["letter.closed"])
    webhooks.set_active(db.session, Actor(world.admin), closed_only, False)
    _register(app, world.officer)
    assert _deliveries() == []


def test_another_organisations_subscription_gets_nothing(app, world, subscribe):
    other_admin = _user(world.other_org, "other.admin", [Role.ADMINISTRATOR])
    ours = subscribe(["letter.registered"])
    theirs = subscribe(["letter.registered"], admin=other_admin)
    letter = _register(app, world.officer)
    other_letter = _register(app, world.other_officer)
    assert [d.letter_id for d in _deliveries(ours)] == [letter.id]
    assert [d.letter_id for d in _deliveries(theirs)] == [other_letter.id]
    assert _deliveries(theirs)[0].payload["organisation"] == "other"


def test_a_confidential_letters_subject_never_leaves(app, world, subscribe, receiver):
    subscribe()
    _register(
        app,
        world.officer,
        subject="Enquête disciplinaire Bennani",
        correspondent="Inspection générale",
        confidential=True,
    )
    [delivery] = _deliveries()
    assert webhook_delivery.deliver_due(db.session, app.config) == 1
    [received] = receiver.received
    body = received.body.decode()
    for secret in ("Enquête", "Bennani", "Inspection"):
        assert secret not in body and secret not in json.dumps(delivery.payload)
    assert received.payload["letter"]["confidential"] is True


@pytest.fixture
def in_progress(app, world, departments, client_for, subscribe):  # noqa: F811
    """Subscribed to everything, then a letter registered, routed to DRH and accepted."""
    subscription = subscribe()
    orgs.create_reply_template(
        db.session, None, world.org, name="Favorable", language="fr", body="Madame, {number}"
    )
    letter = _register(app, world.officer, subject="Demande d'attestation")
    _route(client_for("officer"), letter, departments.drh)
    head = client_for("head.drh")
    _post(head, letter, f"assignments/{_action_assignment(letter).id}/accept")
    return subscription, letter, head


def test_routed_answered_by_a_reply_and_closed(app, world, in_progress):
    subscription, letter, head = in_progress
    template_id = str(db.session.scalar(select(ReplyTemplate.id)))
    _post(head, letter, "reply/start", {"template_id": template_id, "language": "fr"})
    token = csrf_token(head, f"/letters/{letter.id}/reply")
    head.post(
        f"/letters/{letter.id}/reply",
        data={"csrf_token": token, "subject": "Réponse", "body": "Texte définitif."},
    )
    response = head.post(
        f"/letters/{letter.id}/reply/dispatch", data={"csrf_token": token, "channel": "email"}
    )
    assert response.status_code == 302
    outgoing = db.session.scalar(select(Letter).where(Letter.register == "outgoing"))
    events = [(d.event, d.letter_id) for d in _deliveries(subscription)]
    assert events == [
        ("letter.registered", letter.id),
        ("letter.routed", letter.id),
        ("letter.registered", outgoing.id),
        ("letter.answered", letter.id),
        ("letter.closed", letter.id),
    ]
    answered, closed = _deliveries(subscription)[3:]
    assert answered.payload["letter"]["outcome"] == "answered"
    assert answered.payload["reply"] == {
        "id": outgoing.id,
        "number": outgoing.number,
        "api_url": f"/api/v1/letters/{outgoing.id}",
    }
    assert closed.payload["letter"]["status"] == "closed" and "reply" not in closed.payload
    assert len({d.event_id for d in _deliveries()}) == 5


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("answered", ["letter.answered", "letter.closed"]), ("filed", ["letter.closed"])],
)
def test_closing_by_hand(app, world, in_progress, outcome, expected):
    subscription, letter, head = in_progress
    assert _post(head, letter, "close", {"outcome": outcome, "comment": ""}).status_code == 302
    events = [d.event for d in _deliveries(subscription)]
    assert events == ["letter.registered", "letter.routed", *expected]
    assert _deliveries(subscription)[-1].payload["letter"]["outcome"] == outcome
