"""Working on a letter: notes, and closing it with its outcome (which stops its clock)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import AssignmentState, Letter, LetterStatus, Note, Outcome
from app.models.base import utcnow
from app.permissions import can_annotate, processing_assignment
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError

MAX_NOTE_LENGTH = 10_000


def add_note(
    session: Session, actor: Actor, letter: Letter, body: str, *, department_only: bool
) -> Note:
    """A note for everyone who sees the letter, or only for the author's department."""
    if not can_annotate(actor.user, letter):
        raise NotAllowed(_l("You cannot add notes to this letter."))
    body = body.strip()
    if not body or len(body) > MAX_NOTE_LENGTH:
        raise ServiceError(_l("Write the note (at most 10,000 characters)."), "body")
    if department_only and actor.user.department_id is None:
        raise ServiceError(_l("You belong to no department."), "department_only")
    with write_transaction(session):
        note = Note(
            organisation_id=letter.organisation_id,
            letter_id=letter.id,
            author_id=actor.user.id,
            department_id=actor.user.department_id if department_only else None,
            body=body,
        )
        session.add(note)
        session.flush()
        audit.record(
            session,
            actor,
            "note.added",
            organisation_id=letter.organisation_id,
            object_type="note",
            object_id=note.id,
            letter_id=letter.id,
            data={"department_only": department_only},
        )
    return note


def close_letter(
    session: Session, actor: Actor, letter: Letter, outcome: str, comment: str
) -> None:
    """Record the outcome; the letter leaves the inboxes and its clock stops."""
    if processing_assignment(actor.user, letter) is None:
        raise NotAllowed(_l("Only the department processing the letter can close it."))
    if outcome not in set(Outcome):
        raise ServiceError(_l("Choose the outcome."), "outcome")
    with write_transaction(session):
        record_closing(session, actor, letter, outcome, comment)


def record_closing(
    session: Session, actor: Actor, letter: Letter, outcome: str, comment: str, **extra
) -> None:
    """The closing itself, inside the caller's transaction (close_letter, a reply's dispatch)."""
    letter.status = LetterStatus.CLOSED
    letter.outcome = outcome
    letter.closed_at = utcnow()
    for assignment in letter.assignments:
        if assignment.is_open:
            assignment.state = AssignmentState.CLOSED
    audit.record(
        session,
        actor,
        "letter.closed",
        organisation_id=letter.organisation_id,
        object_type="letter",
        object_id=letter.id,
        letter_id=letter.id,
        data={"outcome": outcome, "comment": comment.strip(), **extra},
    )


def notes_of(session: Session, letter: Letter) -> list[Note]:
    return list(session.scalars(select(Note).where(Note.letter_id == letter.id).order_by(Note.id)))
