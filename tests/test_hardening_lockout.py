"""Lock-out after wrong passwords: the message, the same answers for an unknown name, the reset
after a success, the growing lock, and unlocking from the command line."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, User
from app.services import sign_in
from app.timezones import to_local
from tests.conftest import PASSWORD, login
from tests.helpers import SignInClock

FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>([^<]*)</p>')
WRONG = "Wrong username or password."
LOCKED = "This account is locked after too many failed sign-in attempts. Try again after "


@pytest.fixture
def clock(app, world, monkeypatch) -> SignInClock:
    app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"  # the per-address limit is tested apart
    return SignInClock(monkeypatch)


def _message(response) -> str:
    flashes = FLASH.findall(response.get_data(as_text=True))
    assert len(flashes) == 1, flashes
    return flashes[0][1]


def _local_time(moment, zone="Africa/Casablanca") -> str:
    local = to_local(moment, zone)  # the IANA data the application uses
    return f"{local.hour % 12 or 12}:{local.minute:02d}"


def _officer() -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == "officer"))


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_five_wrong_passwords_lock_the_account_with_a_clear_message(app, clock):
    client = app.test_client()
    for _ in range(4):
        response = login(client, "officer", "wrong password")
        assert response.status_code == 401 and _message(response) == WRONG
    response = login(client, "officer", "wrong password")
    message = _message(response)
    assert response.status_code == 401 and message.startswith(LOCKED)
    assert _local_time(clock.moment + timedelta(minutes=15)) in message  # the time, local
    # even the right password is refused while the lock lasts
    assert _message(login(client, "officer", PASSWORD)).startswith(LOCKED)
    assert _officer().locked_until == clock.moment + timedelta(minutes=15)
    [event] = _events("user.locked")
    assert event.object_type == "user" and event.object_id == _officer().id
    assert event.data["failures"] == 5 and event.actor_id is None
    # the lock ends by itself; a success resets the count
    clock.move(minutes=15, seconds=1)
    assert login(client, "officer", PASSWORD).status_code == 302
    assert _officer().failed_logins == 0 and _officer().locked_until is None


def test_the_lock_grows_when_wrong_passwords_go_on(app, clock):
    client = app.test_client()
    expected = [15, 30, 60]
    for minutes in expected:
        for _ in range(5):
            response = login(client, "officer", "still wrong")
        assert _message(response).startswith(LOCKED)
        assert _officer().locked_until == clock.moment + timedelta(minutes=minutes)
        clock.move(minutes=minutes, seconds=1)
    assert _officer().failed_logins == 15
    assert len(_events("user.locked")) == 3


def test_a_success_resets_the_count(app, clock):
    client = app.test_client()
    for _ in range(4):
        login(client, "officer", "wrong password")
    assert login(client, "officer", PASSWORD).status_code == 302
    other = app.test_client()
    for _ in range(4):
        assert _message(login(other, "officer", "wrong password")) == WRONG
    assert _officer().failed_logins == 4 and _officer().locked_until is None


def test_an_unknown_or_disabled_name_gets_the_same_answers(app, world, clock, monkeypatch):
    world.agent.active = False
    db.session.commit()
    hashes_checked = []
    import werkzeug.security

    real_check = werkzeug.security.check_password_hash

    def counting(stored, password):
        hashes_checked.append(stored)
        return real_check(stored, password)

    monkeypatch.setattr(sign_in, "check_password_hash", counting)
    monkeypatch.setattr("app.models.organisation.check_password_hash", counting)
    answers = {}
    for name in ("officer", "nobody.here", "agent"):
        client = app.test_client()
        hashes_checked.clear()
        answers[name] = [
            (response.status_code, _message(response))
            for response in (login(client, name, "wrong password") for _ in range(6))
        ]
        assert len(hashes_checked) == 6  # one password hash each time, known name or not
    assert answers["officer"] == answers["nobody.here"] == answers["agent"]
    # the stand-in hash costs what a user's does (same method and parameters)
    assert sign_in.DUMMY_HASH.split("$")[0] == world.officer.password_hash.split("$")[0]
    assert [message for _, message in answers["officer"]][3] == WRONG
    assert answers["officer"][4][1].startswith(LOCKED)


def test_the_lock_message_is_in_the_users_language(app, clock):
    client = app.test_client()
    client.set_cookie("diwan_locale", "ar")
    for _ in range(5):
        response = login(client, "officer", "wrong password")
    page = response.get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert "هذا الحساب مقفل بعد محاولات دخول فاشلة كثيرة" in _message(response)
    client.set_cookie("diwan_locale", "fr")
    assert "Ce compte est verrouillé" in _message(login(client, "officer", PASSWORD))


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_an_administrator_unlocks_from_the_command_line(app, clock):
    client = app.test_client()
    for _ in range(5):
        login(client, "officer", "wrong password")
    assert _officer().locked_until is not None
    result = _cli(app, "users", "unlock", "officer")
    assert result.exit_code == 0, result.output
    [event] = _events("user.unlocked")
    assert event.object_type == "user" and event.object_id == _officer().id
    assert login(client, "officer", PASSWORD).status_code == 302
    # refusals: not locked, no such user
    assert "not locked" in _cli(app, "users", "unlock", "officer").output
    assert _cli(app, "users", "unlock", "nobody").exit_code != 0


def test_the_per_address_limit_still_applies(app, world):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    for name in ("a.name", "b.name", "c.name"):  # three different names, one address
        assert login(client, name, "wrong password").status_code == 401
    assert login(client, "officer", PASSWORD).status_code == 429


@pytest.mark.postgres
def test_concurrent_wrong_attempts_are_all_counted_on_postgresql(pg_app):
    import threading

    from app.models import PortalThrottle, Role
    from app.services import organisations as orgs

    org = orgs.create_organisation(db.session, None, code="pg", name_ar="وزارة", name_fr="M")
    orgs.create_user(
        db.session,
        None,
        org,
        username="pg.officer",
        full_name="PG Officer",
        password=PASSWORD,
        roles=[Role.REGISTRY_OFFICER],
    )
    settings = sign_in.SignInSettings(secret_key="k", lockout_after=5, lockout_minutes=15)
    outcomes = []

    def attempt(name):
        with pg_app.app_context():
            outcomes.append(sign_in.check_password(db.session, settings, name, "wrong").outcome)
            db.session.remove()

    threads = [
        threading.Thread(target=attempt, args=(name,)) for name in ("pg.officer", "pg.nobody") * 5
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == "pg.officer"))
    assert user.failed_logins == 5 and user.locked_until is not None  # no update lost
    assert db.session.get(PortalThrottle, "sign-in:pg.nobody").failures == 5
    assert outcomes.count(sign_in.Outcome.LOCKED) == 2 and len(outcomes) == 10
    assert len(_events("user.locked")) == 1
