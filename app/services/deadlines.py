"""Letters and their legal deadlines: the letter type's rule on the organisation's calendar."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.deadlines import (
    DeadlineError,
    DeadlineRule,
    DeadlineState,
    WorkingCalendar,
    calendar_for,
)
from app.deadlines import compute_due as _compute_due
from app.deadlines.defaults import Procedure
from app.models import Closure, Letter, LetterType, Organisation, Priority
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from app.timezones import to_local

MIN_REASON_LENGTH = 5


def rule_of(letter_type: LetterType | None) -> DeadlineRule | None:
    if letter_type is None or not letter_type.deadline_days:
        return None
    return DeadlineRule(
        days=letter_type.deadline_days,
        unit=letter_type.deadline_unit,
        extension_days=letter_type.extension_days,
        max_extensions=letter_type.max_extensions,
        pausable=letter_type.pausable,
        urgent_days=letter_type.urgent_days,
        urgent_extension_days=letter_type.urgent_extension_days,
        acknowledge_days=letter_type.acknowledge_days,
    )


def rule_columns(procedure: Procedure) -> dict:
    """A shipped procedure (app.deadlines.defaults) as LetterType column values."""
    rule = procedure.rule
    return {
        "deadline_days": rule.days,
        "deadline_unit": rule.unit,
        "extension_days": rule.extension_days,
        "max_extensions": rule.max_extensions,
        "pausable": rule.pausable,
        "urgent_days": rule.urgent_days,
        "urgent_extension_days": rule.urgent_extension_days,
        "acknowledge_days": rule.acknowledge_days,
    }


def organisation_calendar(session: Session, organisation: Organisation) -> WorkingCalendar:
    closures = session.scalars(
        select(Closure.day).where(Closure.organisation_id == organisation.id)
    )
    return calendar_for(organisation.country, closures=frozenset(closures))


def deadline_of(
    session: Session, letter: Letter, *, extensions: int | None = None
) -> DeadlineState | None:
    """The letter's deadline now, or None when its type sets none."""
    rule = rule_of(letter.letter_type)
    if rule is None:
        return None
    organisation = session.get(Organisation, letter.organisation_id)
    start = letter.received_on or to_local(letter.registered_at, organisation.timezone).date()
    pauses = [
        (date.fromisoformat(start_day), date.fromisoformat(end_day) if end_day else None)
        for start_day, end_day in letter.clock_pauses
    ]
    try:
        return _compute_due(
            rule,
            start,
            organisation_calendar(session, organisation),
            urgent=letter.priority != Priority.NORMAL and rule.urgent_days is not None,
            extensions=letter.extensions if extensions is None else extensions,
            pauses=pauses,
        )
    except DeadlineError as error:
        raise ServiceError(_l("The deadline cannot be changed: %(why)s", why=str(error))) from error


def refresh_due_date(session: Session, letter: Letter) -> None:
    """Recompute the stored due date (None while the clock is stopped or without a rule)."""
    session.flush()  # the letter type may just have changed
    session.refresh(letter, ["letter_type"])
    state = deadline_of(session, letter)
    letter.due_on = state.due if state else None
    for assignment in letter.assignments:  # the inbox reads its own copy
        assignment.due_on = letter.due_on


def extend(session: Session, actor: Actor, letter: Letter, reason: str, can_act: bool) -> None:
    """Use one of the extensions the procedure allows, with its reason."""
    if not can_act:
        raise NotAllowed(_l("Only the department processing the letter can extend its deadline."))
    reason = reason.strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ServiceError(_l("Give the reason for the extension."), "reason")
    if rule_of(letter.letter_type) is None:
        raise ServiceError(_l("The procedure allows no further extension."))
    try:
        deadline_of(session, letter, extensions=letter.extensions + 1)
    except ServiceError as error:
        raise ServiceError(_l("The procedure allows no further extension.")) from error
    with write_transaction(session):
        old_due = letter.due_on
        letter.extensions += 1
        letter.extension_reasons = [*letter.extension_reasons, reason]
        refresh_due_date(session, letter)
        data = {"reason": reason, "from": old_due, "to": letter.due_on}
        audit.record_on_letter(session, actor, letter, "letter.extended", data)


def pause_clock(session: Session, actor: Actor, letter: Letter, today: date, can_act: bool) -> None:
    """Waiting for the citizen: the clock stops where the procedure allows it."""
    if not can_act:
        raise NotAllowed(_l("Only the department processing the letter can stop its clock."))
    rule = rule_of(letter.letter_type)
    if rule is None or not rule.pausable:
        raise ServiceError(_l("This procedure's clock cannot be stopped."))
    if letter.clock_pauses and letter.clock_pauses[-1][1] is None:
        raise ServiceError(_l("The clock is already stopped."))
    with write_transaction(session):
        record_clock_stop(session, actor, letter, today)


def record_clock_stop(session: Session, actor: Actor, letter: Letter, today: date) -> None:
    """The stop itself, inside the caller's transaction (the caller checked the procedure)."""
    letter.clock_pauses = [*letter.clock_pauses, [today.isoformat(), None]]
    refresh_due_date(session, letter)
    audit.record_on_letter(session, actor, letter, "letter.clock_stopped", {"on": today})


def resume_clock(
    session: Session, actor: Actor, letter: Letter, today: date, can_act: bool
) -> None:
    if not can_act:
        raise NotAllowed(_l("Only the department processing the letter can restart its clock."))
    if not letter.clock_pauses or letter.clock_pauses[-1][1] is not None:
        raise ServiceError(_l("The clock is running."))
    with write_transaction(session):
        record_clock_restart(session, actor, letter, today)


def record_clock_restart(session: Session, actor: Actor, letter: Letter, today: date) -> None:
    """The restart itself, inside the caller's transaction (the clock is stopped)."""
    started = letter.clock_pauses[-1][0]
    letter.clock_pauses = [*letter.clock_pauses[:-1], [started, today.isoformat()]]
    refresh_due_date(session, letter)
    audit.record_on_letter(
        session, actor, letter, "letter.clock_restarted", {"on": today, "due": letter.due_on}
    )
