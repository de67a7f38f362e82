"""The worker sends deliveries to a real HTTP receiver: signed, retried with backoff after a
failure, a timeout or a refused connection, failed after the last attempt, retried by hand from
the delivery log, and never sent twice at once by two workers."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Role
from app.models.api import WebhookAttempt, WebhookDelivery
from app.models.base import utcnow
from app.services import organisations as orgs
from app.services import webhook_delivery, webhooks
from app.services.actor import Actor
from app.worker import run_once
from tests.conftest import PASSWORD, csrf_token
from tests.factories import register


def _register(app, user, **fields):
    with app.test_request_context():
        return register(user, **fields)


def _deliver(app, now=None) -> int:
    sent = webhook_delivery.deliver_due(db.session, app.config, now=now)
    db.session.commit()
    return sent


def _only_delivery() -> WebhookDelivery:
    db.session.commit()
    [delivery] = db.session.scalars(select(WebhookDelivery)).all()
    db.session.refresh(delivery)
    return delivery


def _attempts(delivery) -> list[WebhookAttempt]:
    return list(
        db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.id)
        )
    )


def test_the_worker_delivers_a_signed_request(app, world, subscribe, receiver):
    subscribe(["letter.registered"])
    letter = _register(app, world.officer)
    report = run_once(app, check_deadlines=False)
    assert report["webhooks_delivered"] == 1
    delivery = _only_delivery()
    [received] = receiver.received
    assert received.verified
    assert received.headers["Diwan-Event"] == "letter.registered"
    assert received.headers["Diwan-Delivery"] == delivery.event_id
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"].startswith("Diwan-Webhooks/")
    assert received.payload["letter"]["number"] == letter.number
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    [attempt] = _attempts(delivery)
    assert attempt.status_code == 204 and attempt.error == ""
    assert _deliver(app) == 0 and len(receiver.received) == 1  # delivered once


def test_the_worker_wakes_only_for_what_it_can_send(app, world, subscribe, receiver):
    subscription = subscribe(["letter.registered"])
    assert not webhook_delivery.has_due(db.session)
    _register(app, world.officer)
    assert webhook_delivery.has_due(db.session)
    # A deactivated subscription's deliveries wait (without waking the worker) until it is back.
    webhooks.set_active(db.session, Actor(world.admin), subscription, False)
    assert not webhook_delivery.has_due(db.session) and _deliver(app) == 0
    webhooks.set_active(db.session, Actor(world.admin), subscription, True)
    assert _deliver(app) == 1 and not webhook_delivery.has_due(db.session)


def test_retries_with_backoff_after_the_receiver_fails(app, world, subscribe, receiver):
    subscribe(["letter.registered"])
    _register(app, world.officer)
    receiver.fail_next = 2
    t0 = utcnow() + timedelta(seconds=1)
    assert _deliver(app, t0) == 0
    delivery = _only_delivery()
    assert delivery.status == "pending" and delivery.next_attempt_at == t0 + timedelta(minutes=1)
    assert _deliver(app, t0 + timedelta(seconds=59)) == 0  # not before the first wait
    assert len(receiver.received) == 1
    t1 = t0 + timedelta(minutes=1)
    assert _deliver(app, t1) == 0
    assert _only_delivery().next_attempt_at == t1 + timedelta(minutes=5)
    assert _deliver(app, t1 + timedelta(minutes=4)) == 0
    assert len(receiver.received) == 2
    assert _deliver(app, t1 + timedelta(minutes=5)) == 1
    delivery = _only_delivery()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [a.status_code for a in _attempts(delivery)] == [500, 500, 204]
    assert "HTTP 500" in _attempts(delivery)[0].error
    assert set(receiver.deliveries()) == {delivery.event_id}
    assert all(r.verified for r in receiver.received)


def test_failed_after_the_last_attempt_then_retried_from_the_log(
    app, world, subscribe, receiver, client_for
):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 3
    subscription = subscribe(["letter.registered"])
    _register(app, world.officer)
    receiver.fail_next = 100
    now = utcnow()
    for _ in range(5):
        now += timedelta(hours=25)
        _deliver(app, now)
    delivery = _only_delivery()
    assert (delivery.status, delivery.attempts, len(receiver.received)) == ("failed", 3, 3)

    admin = client_for("admin")
    log_url = f"/admin/webhooks/{subscription.id}"
    page = admin.get(log_url).get_data(as_text=True)
    assert "Failed" in page and "Retry now" in page and "HTTP 500" in page
    retry_url = f"{log_url}/deliveries/{delivery.id}/retry"
    assert admin.post(retry_url).status_code == 400  # no CSRF token
    response = admin.post(retry_url, data={"csrf_token": csrf_token(admin, log_url)})
    assert response.status_code == 302
    receiver.fail_next = 0
    assert _deliver(app) == 1
    delivery = _only_delivery()
    assert (delivery.status, delivery.attempts) == ("delivered", 4)
    assert [a.status_code for a in _attempts(delivery)] == [500, 500, 500, 204]
    # A delivered delivery is not retried.
    admin.post(retry_url, data={"csrf_token": csrf_token(admin, log_url)})
    assert "Only a failed delivery can be retried." in admin.get(log_url).get_data(as_text=True)
    assert _deliver(app, utcnow() + timedelta(days=2)) == 0


def test_a_hanging_receiver_and_a_refused_connection_are_logged(
    app, world, subscribe, receiver, closed_port_url
):
    app.config["WEBHOOK_TIMEOUT_S"] = 0.3
    receiver.hang_s = 1.0
    subscribe(["letter.registered"])
    subscribe(["letter.registered"], url=closed_port_url)
    _register(app, world.officer)
    now = utcnow()
    assert _deliver(app, now) == 0
    db.session.commit()
    deliveries = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    hung, refused = (_attempts(d)[0] for d in deliveries)
    assert hung.status_code is None and "timed out" in hung.error and hung.duration_ms >= 300
    assert refused.status_code is None and "ConnectionRefused" in refused.error
    for delivery in deliveries:
        db.session.refresh(delivery)
        assert delivery.status == "pending" and delivery.attempts == 1
        assert delivery.next_attempt_at == now + timedelta(minutes=1)


def test_a_redirect_is_not_followed(app, world, subscribe, receiver):
    receiver.redirect_to = "http://127.0.0.1:9/elsewhere"
    subscribe(["letter.registered"])
    _register(app, world.officer)
    assert _deliver(app) == 0
    [attempt] = _attempts(_only_delivery())
    assert attempt.status_code == 302 and len(receiver.received) == 1


def test_a_wrong_or_rotated_secret_does_not_verify(app, world, subscribe, receiver, client_for):
    subscription = subscribe(["letter.registered"])
    first_secret = receiver.secret
    receiver.secret = "whsec_" + "x" * 43
    _register(app, world.officer)
    assert _deliver(app) == 0
    assert not receiver.received[-1].verified
    assert _attempts(_only_delivery())[0].status_code == 401

    admin = client_for("admin")
    token = csrf_token(admin, "/admin/webhooks/")
    page = admin.post(
        f"/admin/webhooks/{subscription.id}/rotate", data={"csrf_token": token}
    ).get_data(as_text=True)
    new_secret = re.search(r"(whsec_[A-Za-z0-9_-]{43})", page).group(1)
    assert new_secret != first_secret
    receiver.secret = first_secret  # the receiver still has the old one
    later = utcnow() + timedelta(minutes=2)
    assert _deliver(app, later) == 0 and not receiver.received[-1].verified
    receiver.secret = new_secret
    assert _deliver(app, later + timedelta(minutes=5)) == 1
    assert receiver.received[-1].verified


def test_a_changed_secret_key_is_logged_not_sent(app, world, subscribe, receiver):
    subscribe(["letter.registered"])
    _register(app, world.officer)
    app.config["SECRET_KEY"] = "another-installation-key"
    assert _deliver(app) == 0 and receiver.received == []
    assert "SECRET_KEY" in _attempts(_only_delivery())[0].error


def _two_workers(application) -> list[int]:
    def worker(_n: int) -> int:
        with application.app_context():
            try:
                return webhook_delivery.deliver_due(db.session, application.config)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(worker, range(2)))


def _check_each_sent_once(receiver, letters: int, sent: list[int]) -> None:
    db.session.commit()
    deliveries = db.session.scalars(select(WebhookDelivery)).all()
    assert len(deliveries) == letters and sum(sent) == letters
    assert all(d.status == "delivered" and d.attempts == 1 for d in deliveries)
    assert sorted(receiver.deliveries()) == sorted(d.event_id for d in deliveries)
    assert receiver.overlaps == 0


LETTERS = 6


@pytest.mark.sqlite(reason="the PostgreSQL case is its twin, ..._on_postgresql")
def test_two_workers_never_send_the_same_delivery_on_sqlite(app, world, subscribe, receiver):
    subscribe(["letter.registered"])
    for n in range(LETTERS):
        _register(app, world.officer, subject=f"Demande {n}")
    receiver.delay_s = 0.1
    _check_each_sent_once(receiver, LETTERS, _two_workers(app))


@pytest.mark.postgres
def test_two_workers_never_send_the_same_delivery_on_postgresql(pg_app, receiver):
    organisation = orgs.create_organisation(
        db.session, None, code="wilaya", name_ar="ولاية", name_fr="Wilaya"
    )
    users = {
        role: orgs.create_user(
            db.session,
            None,
            organisation,
            username=f"{role}.pg",
            full_name="Utilisateur",
            password=PASSWORD,
            roles=[role],
        )
        for role in (Role.ADMINISTRATOR, Role.REGISTRY_OFFICER)
    }
    settings = webhooks.WebhookSettings.from_config(pg_app.config)
    _subscription, receiver.secret = webhooks.create_subscription(
        db.session,
        Actor(users[Role.ADMINISTRATOR]),
        settings,
        url=receiver.url,
        events=["letter.registered"],
    )
    for n in range(LETTERS):
        _register(pg_app, users[Role.REGISTRY_OFFICER], subject=f"Demande {n}")
    receiver.delay_s = 0.1
    _check_each_sent_once(receiver, LETTERS, _two_workers(pg_app))
