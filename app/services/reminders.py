"""Deadline reminders and escalation, run periodically by the worker.

Before the due date the agent (or, before one is named, the head) is reminded; once overdue the
agent and the head are told; after ESCALATE_AFTER_DAYS working days overdue the head's head is.
Each (user, letter, kind, level) is notified once, so the job can run as often as it likes.
E-mails go to the outbox in the same transaction; the worker sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import render_template
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import (
    Assignment,
    AssignmentKind,
    AssignmentState,
    Department,
    Letter,
    LetterStatus,
    Notification,
    Organisation,
    OutgoingEmail,
    Role,
    User,
    UserRole,
)
from app.services.deadlines import organisation_calendar


@dataclass(frozen=True)
class ReminderSettings:
    days_before: int
    escalate_after: int
    default_locale: str
    base_url: str

    @classmethod
    def from_config(cls, config) -> ReminderSettings:
        return cls(
            config["REMINDER_DAYS_BEFORE"],
            config["ESCALATE_AFTER_DAYS"],
            config["DEFAULT_LOCALE"],
            config["BASE_URL"].rstrip("/"),
        )


@dataclass(frozen=True)
class ReminderReport:
    notifications: int
    emails: int


def check_deadlines(session: Session, today: date, settings: ReminderSettings) -> ReminderReport:
    """Notify whoever must know about letters due soon or overdue on ``today``."""
    rows = session.execute(
        select(Assignment, Letter)
        .join(Letter, Letter.id == Assignment.letter_id)
        .where(
            Assignment.kind == AssignmentKind.ACTION,
            Assignment.state.in_((AssignmentState.PENDING, AssignmentState.ACCEPTED)),
            Letter.status == LetterStatus.REGISTERED,
            Letter.due_on.is_not(None),
        )
    ).all()
    calendars: dict[int, object] = {}
    planned: list[tuple[User, Letter, str, int]] = []
    for assignment, letter in rows:
        if letter.organisation_id not in calendars:
            organisation = session.get(Organisation, letter.organisation_id)
            calendars[letter.organisation_id] = organisation_calendar(session, organisation)
        days_left = calendars[letter.organisation_id].working_days_between(today, letter.due_on)
        for user, kind, level in _recipients(session, assignment, days_left, settings):
            planned.append((user, letter, kind, level))
    notifications = emails = 0
    with write_transaction(session):
        for user, letter, kind, level in planned:
            if _already_notified(session, user, letter, kind, level):
                continue
            session.add(
                Notification(
                    organisation_id=letter.organisation_id,
                    user_id=user.id,
                    letter_id=letter.id,
                    kind=kind,
                    level=level,
                )
            )
            notifications += 1
            if user.email:
                session.add(_email(user, letter, kind, settings))
                emails += 1
    return ReminderReport(notifications, emails)


def _recipients(session: Session, assignment: Assignment, days_left: int, settings):
    heads = _heads(session, assignment.department_id)
    if 0 <= days_left <= settings.days_before:
        agent = session.get(User, assignment.agent_id) if assignment.agent_id else None
        for user in [agent] if agent else heads:
            yield user, "due_soon", 0
    elif days_left < 0:
        if assignment.agent_id:
            yield session.get(User, assignment.agent_id), "overdue", 0
        for head in heads:
            yield head, "overdue", 1
        if -days_left >= settings.escalate_after:
            department = session.get(Department, assignment.department_id)
            if department.parent_id:
                for head in _heads(session, department.parent_id):
                    yield head, "overdue", 2


def _heads(session: Session, department_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.department_id == department_id,
                User.active.is_(True),
                UserRole.role == Role.DEPARTMENT_HEAD,
            )
        )
    )


def _already_notified(session: Session, user: User, letter: Letter, kind: str, level: int) -> bool:
    return (
        session.scalar(
            select(Notification.id).where(
                Notification.user_id == user.id,
                Notification.letter_id == letter.id,
                Notification.kind == kind,
                Notification.level == level,
            )
        )
        is not None
    )


def _email(user: User, letter: Letter, kind: str, settings: ReminderSettings) -> OutgoingEmail:
    """Rendered now, in the recipient's language."""
    with force_locale(user.locale or settings.default_locale):
        due = format_date(letter.due_on, "medium")
        if kind == "due_soon":
            subject = _("Letter %(number)s is due on %(date)s", number=letter.number, date=due)
        else:
            subject = _(
                "Letter %(number)s is overdue since %(date)s", number=letter.number, date=due
            )
        link = f"{settings.base_url}/letters/{letter.id}"
        body = render_template(
            "emails/deadline.txt", user=user, letter=letter, kind=kind, link=link
        )
    return OutgoingEmail(
        organisation_id=letter.organisation_id, to_address=user.email, subject=subject, body=body
    )


def unread_count(session: Session, user: User) -> int:
    from sqlalchemy import func

    return session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )
