"""Working on a letter: notes, and closing it with its outcome (which stops its clock)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.intake import IngestedFile
from app.models import (
    AssignmentState,
    Document,
    Letter,
    LetterLink,
    LetterStatus,
    Note,
    Outcome,
)
from app.models.base import utcnow
from app.permissions import can_annotate, can_view_letter, processing_assignment
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from app.services.registration import attach_document

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


def link_letters(session: Session, actor: Actor, letter: Letter, number: str) -> LetterLink:
    """Link this letter to another of the organisation's, named by its registry number."""
    if not can_annotate(actor.user, letter):
        raise NotAllowed(_l("You cannot link this letter."))
    other = session.scalar(
        select(Letter).where(
            Letter.organisation_id == letter.organisation_id, Letter.number == number.strip()
        )
    )
    if other is None or not can_view_letter(actor.user, other):
        raise ServiceError(_l("No letter you can see has this number."), "number")
    if other.id == letter.id:
        raise ServiceError(_l("A letter cannot be linked to itself."), "number")
    pair = {letter.id, other.id}
    existing = session.scalar(
        select(LetterLink.id).where(
            LetterLink.letter_id.in_(pair), LetterLink.linked_letter_id.in_(pair)
        )
    )
    if existing is not None:
        raise ServiceError(_l("These letters are already linked."), "number")
    with write_transaction(session):
        link = LetterLink(
            organisation_id=letter.organisation_id,
            letter_id=letter.id,
            linked_letter_id=other.id,
            created_by_id=actor.user.id,
        )
        session.add(link)
        session.flush()
        for source, target in ((letter, other), (other, letter)):
            audit.record(
                session,
                actor,
                "letter.linked",
                organisation_id=letter.organisation_id,
                object_type="letter_link",
                object_id=link.id,
                letter_id=source.id,
                data={"number": target.number},
            )
    return link


def linked_letters(session: Session, user, letter: Letter) -> list[Letter]:
    """The letters linked to this one, either way round, that this user may see."""
    ids = session.execute(
        select(LetterLink.letter_id, LetterLink.linked_letter_id).where(
            or_(LetterLink.letter_id == letter.id, LetterLink.linked_letter_id == letter.id)
        )
    ).all()
    others = {a if b == letter.id else b for a, b in ids}
    letters = session.scalars(select(Letter).where(Letter.id.in_(others)).order_by(Letter.id))
    return [other for other in letters if can_view_letter(user, other)]


def add_working_document(
    session: Session, actor: Actor, letter: Letter, ingested: IngestedFile
) -> Document:
    """A file added while processing (a note's annex, a draft, an opinion): a new document of
    the letter, kind "working"; the letter's received documents are never replaced."""
    if processing_assignment(actor.user, letter) is None:
        raise NotAllowed(_l("Only the department processing the letter can add documents."))
    with write_transaction(session):
        position = (
            session.scalar(
                select(func.max(Document.position)).where(Document.letter_id == letter.id)
            )
            or 0
        ) + 1
        document = attach_document(session, actor, letter, position, ingested)
        document.kind = "working"
        audit.record(
            session,
            actor,
            "document.added",
            organisation_id=letter.organisation_id,
            object_type="document",
            object_id=document.id,
            letter_id=letter.id,
            data={"name": ingested.display_name, "sha256": ingested.original_sha256},
        )
    return document
