"""The password policy, where passwords are set: the account's "change my password" form, user
creation (service and command line)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Role, User
from app.services import organisations as orgs
from app.services import passwords
from app.services.errors import ServiceError
from tests.conftest import PASSWORD, csrf_token, login

GOOD = "plum orchard lantern quietly"
ERROR = re.compile(r'<small class="error" role="alert">([^<]*)</small>')


@pytest.fixture
def amina(world) -> User:
    return orgs.create_user(
        db.session,
        None,
        world.org,
        username="amina.b",
        full_name="Amina Berrada",
        password=PASSWORD,
        roles=[Role.AGENT],
    )


def _change(client, current, new, confirmation=None):
    token = csrf_token(client, "/account/password")
    return client.post(
        "/account/password",
        data={
            "current": current,
            "new": new,
            "confirmation": new if confirmation is None else confirmation,
            "csrf_token": token,
        },
    )


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short one 1", "The password must have at least 12 characters."),
        ("my amina.b password", "The password must not contain your username."),
        ("berrada by the sea", "The password must not contain your name."),
        ("abababababababab", "The password must use at least 5 different characters."),
        ("password1234", "This password is one of the most commonly used: choose another one."),
        ("Iloveyou2024!", "This password is one of the most commonly used: choose another one."),
        ("qwertyuiop123456", "This password is one of the most commonly used: choose another one."),
        (PASSWORD, "The new password must differ from the current one."),
    ],
)
def test_each_rule_refuses_with_its_message_and_changes_nothing(
    app, amina, client_for, new, message
):
    client = client_for("amina.b")
    before = amina.password_hash
    response = _change(client, PASSWORD, new)
    assert response.status_code == 422
    assert message in [unescape(error) for error in ERROR.findall(response.get_data(as_text=True))]
    db.session.expire_all()
    assert db.session.get(User, amina.id).password_hash == before
    assert not db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.action == "user.password_changed")
    )


def test_the_current_password_and_a_matching_confirmation_are_required(app, amina, client_for):
    client = client_for("amina.b")
    wrong = _change(client, "not my password at all", GOOD)
    assert "The current password is wrong." in wrong.get_data(as_text=True)
    different = _change(client, PASSWORD, GOOD, confirmation=GOOD + "!")
    assert "The two new passwords are not the same." in different.get_data(as_text=True)
    assert login(app.test_client(), "amina.b", PASSWORD).status_code == 302


def test_a_good_password_is_changed_and_audited(app, amina, client_for):
    client = client_for("amina.b")
    page = client.get("/account").get_data(as_text=True)
    assert 'href="/account/password"' in page
    response = _change(client, PASSWORD, GOOD)
    assert response.status_code == 302
    assert "Your password was changed." in client.get("/account").get_data(as_text=True)
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.password_changed")
    )
    assert event.object_type == "user" and event.object_id == amina.id
    assert event.actor_id == amina.id and GOOD not in str(event.data)
    assert login(app.test_client(), "amina.b", GOOD).status_code == 302


def test_several_broken_rules_are_all_named(app, amina, client_for):
    response = _change(client_for("amina.b"), PASSWORD, "amina.b!")
    errors = ERROR.findall(response.get_data(as_text=True))
    assert len(errors) == 3  # too short, the username, the name


def test_user_creation_applies_the_policy(app, world):
    with pytest.raises(passwords.PasswordRefused) as refused:
        orgs.create_user(
            db.session,
            None,
            world.org,
            username="karim",
            full_name="Karim Alaoui",
            password="karim alaoui 2026",
            roles=[Role.AGENT],
        )
    assert len(refused.value.problems) == 2  # the username and the name
    assert not db.session.scalar(select(User.id).where(User.username == "karim"))
    app.config["PASSWORD_MIN_LENGTH"] = 20
    with pytest.raises(ServiceError, match="at least 20 characters"):
        orgs.create_user(
            db.session,
            None,
            world.org,
            username="karim",
            full_name="Karim Alaoui",
            password=GOOD[:16],
            roles=[Role.AGENT],
        )


def test_the_command_line_refuses_a_weak_password_and_accepts_its_own(app, world):
    runner = app.test_cli_runner()
    base = ["create-user", "--org", "mtn", "--full-name", "Nadia", "--role", "agent"]
    weak = runner.invoke(args=[*base, "--username", "nadia", "--password", "sunshine2020"])
    assert weak.exit_code != 0 and "most commonly used" in weak.output
    generated = runner.invoke(args=[*base, "--username", "nadia"])
    assert generated.exit_code == 0, generated.output
    password = generated.output.strip().rsplit(" ", 1)[1]
    assert passwords.problems(password, username="nadia", full_name="Nadia") == []


def test_the_shipped_list_is_the_common_passwords():
    common = passwords.common_passwords()
    assert len(common) == 19_640 and {"123456", "password", "azerty"} <= common
    assert "correct horse battery staple" not in common
