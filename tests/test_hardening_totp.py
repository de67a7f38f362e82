"""The two-step sign-in (TOTP): enrolment, signing in with a code, replay, wrong codes counting
toward the lock-out, recovery codes, turning it off, the administrator's reset, required roles.
Codes are computed here from the secret read on the enrolment page, at the moved clock."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Role, User
from app.services import totp
from tests.conftest import PASSWORD, _user, csrf_token, login
from tests.helpers import SignInClock

SECRET = re.compile(r'<code class="totp-secret" dir="ltr">([A-Z2-7 ]+)</code>')
RECOVERY = re.compile(r"<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>")


class Clock(SignInClock):
    def code(self, secret: str, steps: int = 0) -> str:
        return totp.code_at(secret, totp.step_at(self.moment) + steps)


@pytest.fixture
def clock(app, world, monkeypatch) -> Clock:
    app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    return Clock(monkeypatch)


def _post(client, url, page, **data):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, page)})


def _enrol(client, clock) -> tuple[str, list[str]]:
    page = client.get("/account/two-step").get_data(as_text=True)
    assert '<img src="data:image/svg+xml' in page  # the QR code, no inline script or SVG
    secret = SECRET.search(page).group(1).replace(" ", "")
    response = _post(
        client,
        "/account/two-step/enable",
        "/account/two-step",
        code=clock.code(secret),
    )
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    codes = RECOVERY.findall(response.get_data(as_text=True))
    assert len(codes) == totp.RECOVERY_CODES
    return secret, codes


def _code_step(client, code, page="/login/code"):
    return _post(client, "/login/code", page, code=code)


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _fresh(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def test_rfc_6238_reference_codes():
    secret = base64.b32encode(b"12345678901234567890").decode()
    for seconds, code in ((59, "287082"), (1111111109, "081804"), (1234567890, "005924")):
        assert totp.code_at(secret, seconds // 30) == code
    assert totp.code_at(secret, 2000000000 // 30) == "279037"


def test_enrolment_needs_a_right_code_and_keeps_the_secret_encrypted(app, clock, client_for):
    client = client_for("admin")
    assert 'href="/account/two-step"' in client.get("/account").get_data(as_text=True)
    page = client.get("/account/two-step").get_data(as_text=True)
    secret = SECRET.search(page).group(1).replace(" ", "")
    # the same secret until it is confirmed (the page may be reloaded while scanning)
    assert secret in client.get("/account/two-step").get_data(as_text=True).replace(" ", "")
    wrong = _post(client, "/account/two-step/enable", "/account/two-step", code="000000")
    assert wrong.status_code == 422 and "not the right one" in wrong.get_data(as_text=True)
    assert not _fresh("admin").totp_enabled
    secret, codes = _enrol(client, clock)
    admin = _fresh("admin")
    assert admin.totp_enabled and secret not in admin.totp_secret_encrypted
    assert totp.open_secret(app.config["SECRET_KEY"], admin.totp_secret_encrypted) == secret
    assert not any(code in str(admin.totp_recovery_codes) for code in codes)  # only digests
    [event] = _events("user.totp_enabled")
    assert event.object_type == "user" and event.object_id == admin.id
    # an agent is not offered it
    agent = client_for("agent")
    assert "/account/two-step" not in agent.get("/account").get_data(as_text=True)
    assert agent.get("/account/two-step").status_code == 403


def test_sign_in_asks_for_the_code_and_accepts_each_code_once(app, clock, client_for):
    secret, _codes = _enrol(client_for("admin"), clock)
    clock.move(seconds=30)
    client = app.test_client()
    token = csrf_token(client, "/login?next=/admin/rules")
    first = client.post(
        "/login?next=/admin/rules",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token},
    )
    assert first.headers["Location"] == "/login/code"
    # the password alone opens nothing
    assert client.get("/admin/rules").status_code == 302
    assert client.get("/account").headers["Location"].startswith("/login")
    code = clock.code(secret)
    done = _code_step(client, code)
    assert done.status_code == 302 and done.headers["Location"] == "/admin/rules"
    assert client.get("/admin/rules").status_code == 200
    # the same code again, from another browser, is refused
    other = app.test_client()
    assert login(other, "admin").headers["Location"] == "/login/code"
    replay = _code_step(other, code)
    assert replay.status_code == 401 and "This code is not the right one." in replay.get_data(
        as_text=True
    )
    clock.move(seconds=30)
    assert _code_step(other, clock.code(secret)).status_code == 302


def test_wrong_codes_count_toward_the_lock_out(app, clock, client_for):
    secret, _codes = _enrol(client_for("admin"), clock)
    clock.move(seconds=30)
    client = app.test_client()
    login(client, "admin")
    for _ in range(4):
        assert _code_step(client, "123456").status_code == 401
    assert _fresh("admin").failed_logins == 4
    locked = _code_step(client, "654321")
    assert locked.headers["Location"] == "/login"
    assert "This account is locked" in client.get("/login").get_data(as_text=True)
    # even the right password and code wait for the lock to end
    assert "This account is locked" in login(client, "admin").get_data(as_text=True)
    clock.move(minutes=15, seconds=1)
    login(client, "admin")
    assert _code_step(client, clock.code(secret)).status_code == 302
    assert _fresh("admin").failed_logins == 0


def test_a_recovery_code_works_once(app, clock, client_for):
    _secret, codes = _enrol(client_for("admin"), clock)
    client = app.test_client()
    login(client, "admin")
    assert _code_step(client, codes[3].upper()).status_code == 302
    assert len(_fresh("admin").totp_recovery_codes) == totp.RECOVERY_CODES - 1
    assert _events("user.recovery_code_used")[0].data["left"] == totp.RECOVERY_CODES - 1
    again = app.test_client()
    login(again, "admin")
    assert _code_step(again, codes[3]).status_code == 401


def test_the_code_must_follow_the_password_soon(app, clock, client_for):
    _enrol(client_for("admin"), clock)
    client = app.test_client()
    login(client, "admin")
    clock.move(minutes=6)
    assert client.get("/login/code").headers["Location"] == "/login"
    assert app.test_client().get("/login/code").headers["Location"] == "/login"


def test_turning_it_off_needs_the_password_and_a_code(app, clock, client_for):
    client = client_for("admin")
    secret, _codes = _enrol(client, clock)
    clock.move(seconds=30)
    url, page = "/account/two-step/disable", "/account/two-step"
    wrong_password = _post(client, url, page, password="not it", code=clock.code(secret))
    assert "The current password is wrong." in wrong_password.get_data(as_text=True)
    wrong_code = _post(client, url, page, password=PASSWORD, code="111111")
    assert "This code is not the right one." in wrong_code.get_data(as_text=True)
    assert _fresh("admin").totp_enabled
    assert _post(client, url, page, password=PASSWORD, code=clock.code(secret)).status_code == 302
    admin = _fresh("admin")
    assert not admin.totp_enabled and admin.totp_secret_encrypted is None
    assert len(_events("user.totp_disabled")) == 1
    assert login(app.test_client(), "admin").headers["Location"] == "/"


def test_an_administrator_resets_a_lost_second_factor(app, world, clock, client_for):
    signatory = _user(world.org, "director", [Role.SIGNATORY])
    _enrol(client_for(signatory.username), clock)
    result = app.test_cli_runner().invoke(args=["users", "reset-two-step", "director"])
    assert result.exit_code == 0, result.output
    [event] = _events("user.totp_reset")
    assert event.object_id == signatory.id and event.object_type == "user"
    assert login(app.test_client(), "director").headers["Location"] == "/"
    again = app.test_cli_runner().invoke(args=["users", "reset-two-step", "director"])
    assert again.exit_code != 0 and "not on" in again.output


def test_required_roles_must_enrol_at_their_next_sign_in(app, world, clock):
    app.config["TOTP_REQUIRED_ROLES"] = "signatory"
    _user(world.org, "director", [Role.SIGNATORY])
    client = app.test_client()
    assert login(client, "director").headers["Location"] == "/account/two-step"
    for page in ("/search", "/parapheur/", "/account"):  # nothing else until enrolled
        assert client.get(page).headers["Location"] == "/account/two-step"
    secret, _codes = _enrol(client, clock)
    assert client.get("/search").status_code == 200
    # turning it off is refused while the role requires it
    clock.move(seconds=30)
    refused = _post(
        client,
        "/account/two-step/disable",
        "/account/two-step",
        password=PASSWORD,
        code=clock.code(secret),
    )
    assert refused.status_code == 422 and _fresh("director").totp_enabled
    # other roles are not concerned
    assert login(app.test_client(), "officer").headers["Location"] == "/"
