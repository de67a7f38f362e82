"""Webhooks reach public addresses, and private ones only in the networks the installation
allows (WEBHOOK_ALLOWED_NETWORKS): an administrator's address must not make the worker post to
the database's Redis, the cloud's metadata service or any machine of the intranet."""

from __future__ import annotations

import ipaddress
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.api import WebhookAttempt, WebhookDelivery, WebhookSubscription
from app.models.base import utcnow
from app.services import webhook_addresses
from app.worker import run_once
from tests.conftest import csrf_token, make_app
from tests.factories import register

NEW = "/admin/webhooks/new"
PRIVATE = "This address is in a private network"


def _create(client, url: str):
    form = {
        "csrf_token": csrf_token(client, NEW),
        "url": url,
        "description": "",
        "events": ["letter.registered"],
    }
    return client.post(NEW, data=form)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://localhost/hooks",
        "http://10.0.0.5/hooks",
        "http://192.168.1.20/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[fd00::1]/hooks",
        "http://0.0.0.0/hooks",
    ],
)
def test_a_private_address_is_refused_when_the_subscription_is_made(app, world, client_for, url):
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ""
    response = _create(client_for("admin"), url)
    assert response.status_code == 422
    assert PRIVATE in response.get_data(as_text=True)
    db.session.commit()
    assert db.session.scalar(select(WebhookSubscription)) is None


def test_the_refusal_is_translated(app, world, client_for):
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ""
    admin = client_for("admin")
    token = csrf_token(admin, NEW)
    admin.post("/locale", data={"locale": "ar", "csrf_token": token, "next": NEW})
    page = _create(admin, "http://10.1.2.3/hooks").get_data(as_text=True)
    assert PRIVATE not in page and "WEBHOOK_ALLOWED_NETWORKS" in page


def test_an_allowed_network_may_be_used(app, world, client_for):
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = "10.20.0.0/16, 192.168.1.7"
    admin = client_for("admin")
    assert _create(admin, "http://10.20.3.4/hooks").status_code == 200
    assert _create(admin, "http://192.168.1.7:8443/hooks").status_code == 200
    assert _create(admin, "http://10.21.3.4/hooks").status_code == 422


def test_a_name_that_resolves_to_a_private_address_is_not_posted_to(
    app, world, subscribe, receiver
):
    """Saved while loopback was allowed (or a public name that later resolves privately): the
    delivery checks the address it connects to, after name resolution."""
    subscription = subscribe(["letter.registered"])
    subscription.url = receiver.url.replace("127.0.0.1", "localhost")
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ""
    register(world.officer, subject="Demande de subvention")
    db.session.commit()
    assert run_once(app, check_deadlines=False)["webhooks_delivered"] == 0
    assert receiver.received == []
    [attempt] = db.session.scalars(select(WebhookAttempt)).all()
    assert attempt.status_code is None
    assert "private or reserved address" in attempt.error
    assert "WEBHOOK_ALLOWED_NETWORKS" in attempt.error
    assert db.session.scalar(select(WebhookDelivery.status)) == "pending"  # retried later

    app.config["WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8, ::1/128"  # allowed: delivered
    db.session.execute(WebhookDelivery.__table__.update().values(next_attempt_at=utcnow()))
    db.session.commit()
    assert run_once(app, check_deadlines=False)["webhooks_delivered"] == 1
    assert len(receiver.received) == 1


def test_a_bad_allowed_network_stops_the_start(tmp_path):
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33' is not a network")):
        make_app(tmp_path / "instance", WEBHOOK_ALLOWED_NETWORKS="10.0.0.0/8, 10.0.0.0/33")


@pytest.mark.parametrize(
    ("address", "verdict"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("224.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1", False),
    ],
)
def test_which_addresses_are_public(address, verdict):
    assert webhook_addresses.allowed(ipaddress.ip_address(address), ()) is verdict
