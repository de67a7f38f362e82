"""Deadline reminders and escalation with a frozen clock, e-mailed through a real SMTP server."""

from __future__ import annotations

import socket
from datetime import date
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app.extensions import db
from app.models import Notification, OutgoingEmail, Role, User
from app.services import organisations as orgs
from app.services import routing
from app.services.actor import Actor
from app.worker import run_once as worker_round
from tests.conftest import PASSWORD
from tests.factories import register


def run_once(app, today):
    """One worker round (its own app context and session), then end this test's read
    transaction so it sees what the worker committed."""
    report = worker_round(app, today=today)
    db.session.commit()
    # The deadline and e-mail figures (the round's signature upkeep is tested elsewhere).
    return {key: report[key] for key in ("notifications", "emails_queued", "emails_sent")}


class Inbox:
    """aiosmtpd handler keeping what it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(app):
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    yield handler
    controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def routed(app, world):
    """A plain letter (30 calendar days) received 1 December 2026, routed to DRH (under SG),
    passed to its agent."""
    from app.deadlines import PLAIN_LETTER
    from app.services.deadlines import rule_columns

    sg = orgs.create_department(db.session, None, world.org, code="SG", name_ar="ك ع", name_fr="SG")
    drh = orgs.create_department(
        db.session, None, world.org, code="DRH", name_ar="م م ب", name_fr="DRH", parent=sg
    )
    people = {}
    for username, role, department, locale in (
        ("sg.head", Role.DEPARTMENT_HEAD, sg, "fr"),
        ("drh.head", Role.DEPARTMENT_HEAD, drh, "ar"),
        ("drh.agent", Role.AGENT, drh, "fr"),
    ):
        people[username] = orgs.create_user(
            db.session,
            None,
            world.org,
            username=username,
            full_name=username,
            password=PASSWORD,
            roles=[role],
            department=department,
            email=f"{username}@example.org",
            locale=locale,
        )
    letter_type = orgs.create_letter_type(
        db.session,
        None,
        world.org,
        code="LETTRE",
        name_ar="مراسلة",
        name_fr="Lettre",
        deadline_rule=rule_columns(PLAIN_LETTER),
    )
    with app.test_request_context():
        letter = register(
            world.officer,
            subject="Demande d'attestation",
            letter_type_id=letter_type.id,
            received_on=date(2026, 12, 1),
        )
    assignment = routing.route_letter(db.session, Actor(world.officer), letter, drh.id)
    routing.pass_to_agent(db.session, Actor(people["drh.head"]), assignment, people["drh.agent"].id)
    assert letter.due_on == date(2026, 12, 31)
    return letter, people


def _notified(username: str) -> list[tuple[str, int]]:
    user = db.session.scalar(select(User).where(User.username == username))
    return sorted(
        (n.kind, n.level)
        for n in db.session.scalars(select(Notification).where(Notification.user_id == user.id))
    )


def test_nothing_before_the_reminder_window(app, routed, smtp):
    assert run_once(app, today=date(2026, 12, 20)) == {
        "notifications": 0,
        "emails_queued": 0,
        "emails_sent": 0,
    }


def test_reminder_then_overdue_then_escalation(app, routed, smtp):
    letter, _people = routed
    # Tuesday 29 December: 2 working days left -> the agent is reminded, once.
    report = run_once(app, today=date(2026, 12, 29))
    assert report == {"notifications": 1, "emails_queued": 1, "emails_sent": 1}
    assert run_once(app, today=date(2026, 12, 29))["notifications"] == 0
    assert _notified("drh.agent") == [("due_soon", 0)]
    [message] = smtp.messages
    assert message.rcpt_tos == ["drh.agent@example.org"]
    assert letter.number in message.content.decode()

    # 4 January 2027: overdue -> the agent and the head.
    run_once(app, today=date(2027, 1, 4))
    assert _notified("drh.agent") == [("due_soon", 0), ("overdue", 0)]
    assert _notified("drh.head") == [("overdue", 1)]
    assert _notified("sg.head") == []
    # 8 January 2027: 5 working days overdue (1 January is a holiday) -> the head's head.
    run_once(app, today=date(2027, 1, 8))
    assert _notified("sg.head") == [("overdue", 2)]
    recipients = [m.rcpt_tos[0] for m in smtp.messages]
    assert recipients.count("sg.head@example.org") == 1
    # the head reads Arabic: the e-mail is in Arabic
    head_mail = next(m for m in smtp.messages if m.rcpt_tos == ["drh.head@example.org"])
    parsed = message_from_bytes(head_mail.content, policy=policy.default)
    assert "تجاوزت المراسلة" in parsed.get_content()
    assert parsed["Subject"].startswith("المراسلة")
    agent_mail = message_from_bytes(smtp.messages[0].content, policy=policy.default)
    assert "arrive à échéance" in agent_mail.get_content()  # the agent reads French


def test_closed_letter_is_not_reminded(app, world, routed, smtp):
    from app.services.processing import close_letter

    letter, people = routed
    close_letter(db.session, Actor(people["drh.agent"]), letter, "answered", "")
    assert run_once(app, today=date(2027, 1, 8))["notifications"] == 0


def test_smtp_failure_is_retried_and_nothing_is_lost(app, routed):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port())  # nobody listens there
    report = run_once(app, today=date(2026, 12, 29))
    assert report["emails_queued"] == 1 and report["emails_sent"] == 0
    email = db.session.scalar(select(OutgoingEmail))
    assert email.attempts == 1 and email.sent_at is None and "Connection" in email.last_error
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        app.config.update(SMTP_PORT=controller.port)
        from app.services.email_outbox import send_pending_emails

        later = email.next_attempt_at
        assert send_pending_emails(db.session, app.config, now=later) == 1
    finally:
        controller.stop()
    assert len(handler.messages) == 1
    assert (
        db.session.scalar(
            select(func.count(OutgoingEmail.id)).where(OutgoingEmail.sent_at.is_(None))
        )
        == 0
    )


def test_notifications_page_shows_and_marks_read(app, routed, smtp, client_for):
    from tests.conftest import csrf_token

    letter, _people = routed
    run_once(app, today=date(2026, 12, 29))
    client = client_for("drh.agent")
    page = client.get("/notifications").get_data(as_text=True)
    assert letter.number in page and "unread-count" in page
    client.post("/notifications/read", data={"csrf_token": csrf_token(client, "/notifications")})
    assert "unread-count" not in client.get("/notifications").get_data(as_text=True)
    # someone else's notifications are not shown
    assert letter.number not in client_for("officer.two").get("/notifications").get_data(
        as_text=True
    )
