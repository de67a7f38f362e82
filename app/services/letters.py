"""Changing a registered letter: corrections of some fields, and cancellation. Never deletion."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import (
    LANGUAGES,
    AssignmentState,
    Contact,
    Letter,
    LetterStatus,
    LetterType,
    Priority,
)
from app.models.base import utcnow
from app.permissions import can_cancel, can_correct
from app.services import audit, deadlines
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError

# The number, register, registration time and channel are the legal record: never corrected.
CORRECTABLE_FIELDS = (
    "subject",
    "sender_reference",
    "letter_date",
    "received_on",
    "letter_type_id",
    "priority",
    "language",
    "physical_attachments",
    "correspondent_id",
    "confidential",
)
MIN_REASON_LENGTH = 5


def correct_letter(
    session: Session, actor: Actor, letter: Letter, changes: dict[str, Any], reason: str = ""
) -> dict[str, tuple[Any, Any]]:
    """Apply the changed fields and record old and new values. Returns what changed."""
    if not can_correct(actor.user, letter):
        raise NotAllowed(_l("You cannot correct this letter."))
    unknown = set(changes) - set(CORRECTABLE_FIELDS)
    if unknown:
        raise ServiceError(
            _l("These fields cannot be corrected: %(fields)s", fields=", ".join(sorted(unknown)))
        )
    diff = {
        name: (getattr(letter, name), value)
        for name, value in changes.items()
        if getattr(letter, name) != value
    }
    if not diff:
        return {}
    _check_values(session, actor, diff)
    with write_transaction(session):
        for name, (_old, new) in diff.items():
            setattr(letter, name, new)
        if set(diff) & {"letter_type_id", "received_on", "priority"}:
            deadlines.refresh_due_date(session, letter)
        audit.record(
            session,
            actor,
            "letter.corrected",
            organisation_id=letter.organisation_id,
            object_type="letter",
            object_id=letter.id,
            letter_id=letter.id,
            data={
                "changes": {
                    name: [_shown(session, name, old), _shown(session, name, new)]
                    for name, (old, new) in diff.items()
                },
                "reason": reason.strip(),
            },
        )
    return diff


def cancel_letter(session: Session, actor: Actor, letter: Letter, reason: str) -> None:
    """Cancel with a reason; the number stays used and the letter stays readable."""
    if not can_cancel(actor.user, letter):
        raise NotAllowed(_l("You cannot cancel this letter."))
    reason = reason.strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ServiceError(_l("Give the reason for the cancellation."), "reason")
    with write_transaction(session):
        letter.status = LetterStatus.CANCELLED
        letter.cancelled_reason = reason
        letter.cancelled_at = utcnow()
        for assignment in letter.assignments:  # a cancelled letter leaves every inbox
            if assignment.is_open:
                assignment.state = AssignmentState.CLOSED
        audit.record(
            session,
            actor,
            "letter.cancelled",
            organisation_id=letter.organisation_id,
            object_type="letter",
            object_id=letter.id,
            letter_id=letter.id,
            data={"number": letter.number, "reason": reason},
        )


def _check_values(session: Session, actor: Actor, diff: dict[str, tuple[Any, Any]]) -> None:
    new = {name: value for name, (_old, value) in diff.items()}
    if "subject" in new and not str(new["subject"]).strip():
        raise ServiceError(_l("The subject is required."), "subject")
    if "priority" in new and new["priority"] not in set(Priority):
        raise ServiceError(_l("Unknown priority."), "priority")
    if "language" in new and new["language"] not in LANGUAGES:
        raise ServiceError(_l("Unknown language."), "language")
    if "physical_attachments" in new and int(new["physical_attachments"]) < 0:
        raise ServiceError(
            _l("The number of attachments cannot be negative."), "physical_attachments"
        )
    for name, model in (("letter_type_id", LetterType), ("correspondent_id", Contact)):
        if new.get(name) is not None:
            owner = session.scalar(select(model.organisation_id).where(model.id == new[name]))
            if owner != actor.organisation_id:
                raise ServiceError(_l("Unknown value."), name)


def _shown(session: Session, name: str, value: Any) -> Any:
    """The value as the history shows it: names rather than row ids, ISO dates."""
    if value is None:
        return None
    if name == "letter_type_id":
        letter_type = session.get(LetterType, value)
        return f"{letter_type.name_ar} / {letter_type.name_fr}" if letter_type else value
    if name == "correspondent_id":
        contact = session.get(Contact, value)
        return contact.name if contact else value
    return value.isoformat() if isinstance(value, date) else value
