"""A citizen's portal session ends like a staff member's: after SESSION_IDLE_MINUTES without
activity and after SESSION_MAX_HOURS in all. The public pages go on working signed out; the
account page asks to sign in again. Time is moved by replacing the sign-in clock."""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import CitizenAccount
from app.models.base import utcnow
from tests.conftest import PASSWORD, csrf_token
from tests.helpers import SignInClock

ADDRESS = "citoyenne@example.ma"


@pytest.fixture
def clock(monkeypatch) -> SignInClock:
    return SignInClock(monkeypatch)


@pytest.fixture
def citizen(app, portal_world):
    """A signed-in citizen's browser (a confirmed account)."""
    db.session.add(
        CitizenAccount(
            email=ADDRESS,
            password_hash=generate_password_hash(PASSWORD),
            locale="fr",
            confirmed_at=utcnow(),
        )
    )
    db.session.commit()
    client = app.test_client()
    url = "/portal/account/sign-in"
    data = {"csrf_token": csrf_token(client, url), "email": ADDRESS, "password": PASSWORD}
    assert client.post(url, data=data).location == "/portal/account"
    return client


def _asks_to_sign_in(client, message: str) -> None:
    response = client.get("/portal/account")
    assert response.status_code == 302 and response.location == "/portal/account/sign-in"
    assert message in client.get(response.location).get_data(as_text=True)
    assert client.get("/portal/account").status_code == 302  # signed out for good


def test_an_idle_citizen_session_ends(app, clock, citizen):
    for _ in range(3):  # activity keeps the session open well past the idle time
        clock.move(minutes=29)
        assert citizen.get("/portal/account").status_code == 200
    clock.move(minutes=30, seconds=5)
    _asks_to_sign_in(citizen, "You were signed out after 30 minutes without activity.")


def test_a_busy_citizen_session_ends_after_its_lifetime(app, clock, citizen):
    app.config["SESSION_IDLE_MINUTES"] = 120
    for _ in range(5):
        clock.move(minutes=110)
        assert citizen.get("/portal/account").status_code == 200
    clock.move(minutes=200)  # 12 h 30 since the sign-in, 200 min idle at most 120: lifetime
    app.config["SESSION_IDLE_MINUTES"] = 24 * 60
    _asks_to_sign_in(citizen, "a session lasts at most 12 hours")


def test_public_pages_go_on_signed_out_with_the_reason(app, clock, citizen):
    clock.move(minutes=31)
    page = citizen.get("/portal/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "You were signed out after 30 minutes without activity." in text
    assert ADDRESS not in text  # the header no longer names the account


def test_a_session_without_its_clock_is_ended(app, clock, citizen):
    """A cookie from before citizen sessions had a clock (or one forged without it)."""
    with citizen.session_transaction() as cookie:
        del cookie["portal.signed_in_at"], cookie["portal.seen_at"]
    _asks_to_sign_in(citizen, "Your session has ended. Sign in again to continue.")


def test_signing_out_ends_the_session_at_once(app, clock, citizen):
    token = csrf_token(citizen, "/portal/account")
    assert citizen.post("/portal/account/sign-out", data={"csrf_token": token}).status_code == 302
    with citizen.session_transaction() as cookie:
        assert not {"citizen_id", "portal.signed_in_at", "portal.seen_at"} & set(cookie)
    assert citizen.get("/portal/account").status_code == 302
