"""How long a signed-in session lasts: idle time-out, absolute lifetime, a password changed
elsewhere; then back to the page asked for. Time is moved by replacing the sign-in clock."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import PASSWORD, csrf_token, login
from tests.helpers import SignInClock

NEW_PASSWORD = "plum orchard lantern quietly"


@pytest.fixture
def clock(monkeypatch, world) -> SignInClock:
    return SignInClock(monkeypatch)


def _signed_out_to(response, target: str) -> None:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == [target]


def test_an_idle_session_ends_and_sign_in_leads_back_to_the_page(app, clock, client_for):
    client = client_for("officer")
    for _ in range(3):  # activity keeps the session open well past the idle time
        clock.move(minutes=29)
        assert client.get("/registry/incoming").status_code == 200
    clock.move(minutes=30, seconds=5)
    response = client.get("/registry/outgoing?day=2026-01-05")
    _signed_out_to(response, "/registry/outgoing?day=2026-01-05")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You were signed out after 30 minutes without activity." in page
    # signed out for good, not only for that request
    assert client.get("/registry/incoming").status_code == 302
    # signing in again goes back to the page that was asked for
    token = csrf_token(client, response.headers["Location"])
    again = client.post(
        response.headers["Location"],
        data={"username": "officer", "password": PASSWORD, "csrf_token": token},
    )
    assert again.headers["Location"] == "/registry/outgoing?day=2026-01-05"
    assert client.get(again.headers["Location"]).status_code == 200


def test_a_form_sent_after_the_time_out_leads_back_to_its_page(app, clock, client_for):
    client = client_for("officer")
    token = csrf_token(client, "/account")
    clock.move(minutes=45)
    response = client.post(
        "/account/preferences",
        data={"show_hijri": "y", "csrf_token": token},
        headers={"Referer": "http://localhost/account"},
    )
    _signed_out_to(response, "/account")
    from app.extensions import db
    from app.models import User

    assert not db.session.scalar(
        db.select(User.show_hijri).where(User.username == "officer")
    )  # nothing was saved by the expired session


def test_a_session_ends_after_its_lifetime_even_when_busy(app, clock, client_for):
    client = client_for("officer")
    for _ in range(28):  # a request every 25 minutes: never idle, 11 h 40 min in all
        clock.move(minutes=25)
        assert client.get("/search").status_code == 200
    clock.move(minutes=25)
    response = client.get("/search")
    _signed_out_to(response, "/search")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "a session lasts at most 12 hours" in page


def test_the_settings_are_read_from_the_configuration(app, clock, client_for):
    app.config.update(SESSION_IDLE_MINUTES=5, SESSION_MAX_HOURS=1)
    client = client_for("officer")
    clock.move(minutes=4)
    assert client.get("/search").status_code == 200
    clock.move(minutes=6)
    page = client.get("/search", follow_redirects=True).get_data(as_text=True)
    assert "after 5 minutes without activity" in page


def test_changing_the_password_ends_the_other_sessions_only(app, clock, client_for):
    here, elsewhere = client_for("officer"), client_for("officer")
    clock.move(seconds=20)
    token = csrf_token(here, "/account/password")
    response = here.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "new": NEW_PASSWORD,
            "confirmation": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert here.get("/search").status_code == 200
    page = elsewhere.get("/search", follow_redirects=True).get_data(as_text=True)
    assert "Your password was changed: sign in again with the new one." in page
    assert login(app.test_client(), "officer", PASSWORD).status_code == 401
    assert login(app.test_client(), "officer", NEW_PASSWORD).status_code == 302


def test_a_session_from_before_the_clock_was_kept_is_ended(app, clock, client_for):
    client = client_for("officer")
    with client.session_transaction() as session:
        del session["sign_in.at"]
    page = client.get("/search", follow_redirects=True).get_data(as_text=True)
    assert "Your session has ended." in page
