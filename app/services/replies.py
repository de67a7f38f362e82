"""Replies: drafted from the organisation's templates, dispatched as outgoing letters.

Dispatching registers the reply in the outgoing register (its number is allocated then), stores
its PDF, links it to the incoming letter and closes that one as answered: one transaction.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date

from flask_babel import lazy_gettext as _l
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.intake import IngestedFile
from app.files.store import FileStore
from app.models import Letter, Organisation, Outcome, Register, ReplyDraft, ReplyTemplate
from app.models.base import utcnow
from app.models.signing import Circuit, CircuitStatus
from app.permissions import processing_assignment
from app.services import audit, registration
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from app.services.processing import record_closing

PLACEHOLDER = re.compile(r"\{(\w+)\}")
PLACEHOLDER_NAMES = (
    "number",
    "subject",
    "correspondent",
    "sender_reference",
    "letter_date",
    "received_on",
    "organisation",
    "today",
)
MAX_BODY = 50_000


def fill(text: str, letter: Letter, organisation: Organisation, locale: str, today: date) -> str:
    """Replace {number}, {subject}, {correspondent} ... with the letter's values.

    A plain substitution, not str.format: a template must not reach attributes of the values.
    Unknown placeholders are left as typed, so the author sees them.
    """
    values = {
        "number": letter.number,
        "subject": letter.subject,
        "correspondent": letter.correspondent.name if letter.correspondent else "",
        "sender_reference": letter.sender_reference,
        "letter_date": letter.letter_date.isoformat() if letter.letter_date else "",
        "received_on": letter.received_on.isoformat() if letter.received_on else "",
        "organisation": organisation.name(locale),
        "today": today.isoformat(),
    }
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def current_draft(session: Session, letter: Letter) -> ReplyDraft | None:
    return session.scalar(
        select(ReplyDraft)
        .where(ReplyDraft.letter_id == letter.id, ReplyDraft.outgoing_letter_id.is_(None))
        .order_by(ReplyDraft.id.desc())
    )


def start_draft(
    session: Session,
    actor: Actor,
    letter: Letter,
    *,
    template: ReplyTemplate | None,
    language: str,
    subject_prefix: str,
    today: date,
) -> ReplyDraft:
    _require_processing(actor, letter)
    existing = current_draft(session, letter)
    if existing is not None:
        return existing
    if template is not None and template.organisation_id != letter.organisation_id:
        raise ServiceError(_l("Unknown template."), "template_id")
    organisation = session.get(Organisation, letter.organisation_id)
    body = fill(template.body, letter, organisation, language, today) if template else ""
    with write_transaction(session):
        draft = ReplyDraft(
            organisation_id=letter.organisation_id,
            letter_id=letter.id,
            author_id=actor.user.id,
            language=template.language if template else language,
            subject=f"{subject_prefix}{letter.subject}",
            body=body,
        )
        session.add(draft)
        session.flush()
        audit.record_on_letter(
            session,
            actor,
            letter,
            "reply.drafted",
            {"template": template.name if template else None},
        )
    return draft


def signature_circuit(session: Session, draft: ReplyDraft) -> Circuit | None:
    """The draft's circuit in progress or completed (the signed reply), if any."""
    return session.scalar(
        select(Circuit)
        .where(
            Circuit.reply_draft_id == draft.id,
            Circuit.status.in_((CircuitStatus.IN_PROGRESS, CircuitStatus.COMPLETED)),
        )
        .order_by(Circuit.id.desc())
    )


def save_draft(session: Session, actor: Actor, draft: ReplyDraft, subject: str, body: str) -> None:
    letter = session.get(Letter, draft.letter_id)
    _require_processing(actor, letter)
    _check_text(subject, body)
    if signature_circuit(session, draft) is not None:
        raise ServiceError(
            _l("The reply was sent for signature: withdraw it from its circuit to change it.")
        )
    with write_transaction(session):
        draft.subject = subject.strip()
        draft.body = body.strip()
        draft.updated_at = utcnow()
        audit.record_on_letter(session, actor, letter, "reply.saved", {})


def dispatch(
    session: Session,
    actor: Actor,
    draft: ReplyDraft,
    *,
    channel: str,
    store: FileStore,
    numbering_settings: registration.NumberingSettings,
    render_pdf: Callable[[Letter, ReplyDraft], bytes],
) -> Letter:
    """Register the reply as an outgoing letter with its PDF and close the incoming letter.

    A reply that went through a signature circuit is dispatched as signed, byte for byte (its
    outgoing number is in the register, not written into the signed PDF)."""
    incoming = session.get(Letter, draft.letter_id)
    _require_processing(actor, incoming)
    if draft.outgoing_letter_id is not None:
        raise ServiceError(_l("This reply was already dispatched."))
    circuit = signature_circuit(session, draft)
    if circuit is not None and circuit.status != CircuitStatus.COMPLETED:
        raise ServiceError(_l("The reply is still waiting for its visas and signatures."))
    signed = store.open_verified(circuit.current_version.sha256) if circuit else None
    _check_text(draft.subject, draft.body)
    data = registration.LetterInput(
        register=Register.OUTGOING,
        subject=draft.subject,
        channel=channel,
        letter_date=None,
        confidential=incoming.confidential,
        language=draft.language,
        correspondent_id=incoming.correspondent_id,
        reply_to_id=incoming.id,
    )
    with write_transaction(session):
        outgoing = registration.record_letter(session, actor, data, numbering_settings)
        outgoing.letter_date = outgoing.registered_at.date()
        pdf = signed if signed is not None else render_pdf(outgoing, draft)
        sha = store.put_bytes(pdf)  # written before the rows naming it commit
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        name = f"{outgoing.number.replace('/', '-')}.pdf"
        document = IngestedFile(sha, len(pdf), "application/pdf", name, sha, pages, frozenset())
        registration.attach_document(session, actor, outgoing, 1, document)
        draft.outgoing_letter_id = outgoing.id
        record_closing(session, actor, incoming, Outcome.ANSWERED, "", reply=outgoing.number)
        audit.record_on_letter(
            session,
            actor,
            incoming,
            "reply.dispatched",
            {"number": outgoing.number, "sha256": sha, "signed": signed is not None},
        )
    return outgoing


def _require_processing(actor: Actor, letter: Letter) -> None:
    if processing_assignment(actor.user, letter) is None:
        raise NotAllowed(_l("Only the department processing the letter can reply to it."))


def _check_text(subject: str, body: str) -> None:
    if not subject.strip():
        raise ServiceError(_l("The subject is required."), "subject")
    if not body.strip() or len(body) > MAX_BODY:
        raise ServiceError(_l("Write the reply (at most 50,000 characters)."), "body")
