"""Administration → Webhooks through HTTP: administrators only, their own organisation only,
the secret shown once and stored sealed, addresses checked, CSRF on every form, audit events."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Role
from app.models.api import WebhookDelivery, WebhookSubscription
from app.services import webhooks
from tests.conftest import _user, csrf_token
from tests.factories import register

NEW = "/admin/webhooks/new"


def _create(client, **data):
    form = {
        "csrf_token": csrf_token(client, NEW),
        "url": "https://portail.example.ma/hooks/diwan",
        "description": "Portail régional",
        "events": ["letter.registered", "letter.closed"],
        **data,
    }
    return client.post(NEW, data=form)


def _subscriptions() -> list[WebhookSubscription]:
    db.session.commit()
    return list(db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def test_only_administrators(app, world, client_for):
    officer = client_for("officer")
    for url in ("/admin/webhooks/", NEW):
        assert officer.get(url).status_code == 403
    assert officer.post(NEW, data={"url": "https://x.example"}).status_code in (400, 403)
    anonymous = app.test_client()
    assert anonymous.get("/admin/webhooks/").status_code == 302


def test_create_shows_the_secret_once_and_keeps_it_sealed(app, world, client_for):
    admin = client_for("admin")
    response = _create(admin)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    [subscription] = _subscriptions()
    settings = webhooks.WebhookSettings.from_config(app.config)
    secret = webhooks.open_secret(settings, subscription.secret_encrypted)
    assert secret.startswith("whsec_") and len(secret) == 6 + 43
    assert secret in page and secret not in subscription.secret_encrypted
    assert subscription.events == ["letter.registered", "letter.closed"]
    assert (subscription.organisation_id, subscription.active) == (world.org.id, True)
    for url in ("/admin/webhooks/", f"/admin/webhooks/{subscription.id}"):
        shown = admin.get(url).get_data(as_text=True)
        assert shown.count("portail.example.ma") >= 1 and secret not in shown
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.created"))
    assert (event.object_type, event.object_id) == ("webhook", subscription.id)
    assert secret not in str(event.data)


def test_bad_addresses_and_events_are_refused(app, world, client_for):
    admin = client_for("admin")
    refusals = {
        "ftp://files.example.ma/in": "must start with https:// or http://",
        "javascript:alert(1)": "must start with https:// or http://",
        "https://user:pass@portail.example.ma/": "must not contain a user name or password",
        "https://portail.example.ma:99999/": "This address is not valid.",
        "https://portail.example.ma/a b": "This address is not valid.",
    }
    for url, message in refusals.items():
        response = _create(admin, url=url)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    response = _create(admin, events=[])
    assert response.status_code == 422
    assert "Choose at least one event." in response.get_data(as_text=True)
    assert _create(admin, events=["letter.deleted"]).status_code == 422
    assert _subscriptions() == []


def test_csrf_is_enforced(app, world, client_for):
    admin = client_for("admin")
    response = admin.post(NEW, data={"url": "https://x.example.ma", "events": "letter.closed"})
    assert response.status_code == 400 and _subscriptions() == []
    _create(admin)
    [subscription] = _subscriptions()
    for action in ("deactivate", "rotate"):
        assert admin.post(f"/admin/webhooks/{subscription.id}/{action}").status_code == 400
    db.session.refresh(subscription)
    assert subscription.active


def test_another_organisations_subscription_is_not_found(app, world, client_for):
    _create(client_for("admin"))
    [subscription] = _subscriptions()
    _user(world.other_org, "other.admin", [Role.ADMINISTRATOR])
    other = client_for("other.admin")
    assert "portail.example.ma" not in other.get("/admin/webhooks/").get_data(as_text=True)
    assert other.get(f"/admin/webhooks/{subscription.id}").status_code == 404
    token = csrf_token(other, "/admin/webhooks/")
    for path in ("deactivate", "rotate", "deliveries/1/retry"):
        response = other.post(
            f"/admin/webhooks/{subscription.id}/{path}", data={"csrf_token": token}
        )
        assert response.status_code == 404
    db.session.refresh(subscription)
    assert subscription.active


def test_deactivate_and_reactivate(app, world, client_for):
    admin = client_for("admin")
    _create(admin)
    [subscription] = _subscriptions()
    token = csrf_token(admin, "/admin/webhooks/")
    url = f"/admin/webhooks/{subscription.id}"
    assert admin.post(f"{url}/deactivate", data={"csrf_token": token}).status_code == 302
    assert "Inactive" in admin.get("/admin/webhooks/").get_data(as_text=True)
    with app.test_request_context():
        register(world.officer)
    assert db.session.scalar(select(WebhookDelivery)) is None  # nothing while inactive
    assert admin.post(f"{url}/reactivate", data={"csrf_token": token}).status_code == 302
    with app.test_request_context():
        letter = register(world.officer)
    db.session.commit()
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.letter_id == letter.id
    page = admin.get(url).get_data(as_text=True)
    assert letter.number in page and "Waiting" in page
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "webhook")
        .order_by(AuditEvent.seq)
    ).all()
    assert actions == ["webhook.created", "webhook.deactivated", "webhook.reactivated"]
