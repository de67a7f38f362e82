"""Registering a letter: number, row, documents and audit event in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.intake import IngestedFile
from app.models import (
    Channel,
    Contact,
    ContactKind,
    Document,
    DocumentVersion,
    Letter,
    LetterType,
    Organisation,
    Priority,
    Register,
)
from app.models.base import utcnow
from app.permissions import can_register
from app.services import audit, deadlines, numbering
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from app.timezones import to_local


@dataclass
class NewContact:
    name: str
    kind: str = ContactKind.PERSON
    national_id: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""


@dataclass
class LetterInput:
    register: str
    subject: str
    channel: str
    received_on: date | None = None
    letter_date: date | None = None
    sender_reference: str = ""
    letter_type_id: int | None = None
    priority: str = Priority.NORMAL
    confidential: bool = False
    language: str = "ar"
    physical_attachments: int = 0
    correspondent_id: int | None = None
    new_correspondent: NewContact | None = None
    files: list[IngestedFile] = field(default_factory=list)
    reply_to_id: int | None = None


@dataclass(frozen=True)
class NumberingSettings:
    number_format: str
    register_codes: dict[str, str]

    @classmethod
    def from_config(cls, config) -> NumberingSettings:
        codes = {register.value: numbering.register_code(config, register) for register in Register}
        return cls(config["NUMBER_FORMAT"], codes)


def register_letter(
    session: Session, actor: Actor, data: LetterInput, numbering_settings: NumberingSettings
) -> Letter:
    """Allocate the next number and record the letter with its documents, all or nothing."""
    if not can_register(actor.user):
        raise NotAllowed(_l("Only registry officers can register letters."))
    check_input(data)
    with write_transaction(session):
        return record_letter(session, actor, data, numbering_settings)


def record_letter(
    session: Session, actor: Actor, data: LetterInput, numbering_settings: NumberingSettings
) -> Letter:
    """The registration itself, inside the caller's transaction (the caller checked the right
    and the input): used by register_letter and by the dispatch of a reply."""
    organisation = session.get(Organisation, actor.organisation_id)
    _check_letter_type(session, actor, data.letter_type_id)
    registered_at = utcnow()
    year = _local_year(registered_at, organisation.timezone)
    # Lock order, always: the number counter, then the audit chain head. Taking them in an
    # order that depended on the input deadlocked concurrent registrations on PostgreSQL.
    seq = numbering.next_value(session, organisation.id, data.register, year)
    correspondent = _resolve_correspondent(session, actor, data)
    number = numbering.format_number(
        organisation.number_format or numbering_settings.number_format,
        year=year,
        register_code=numbering_settings.register_codes[data.register],
        seq=seq,
    )
    letter = Letter(
        organisation_id=organisation.id,
        register=data.register,
        year=year,
        seq=seq,
        number=number,
        registered_at=registered_at,
        registered_by_id=actor.user.id,
        subject=data.subject.strip(),
        sender_reference=data.sender_reference.strip(),
        letter_date=data.letter_date,
        received_on=data.received_on,
        channel=data.channel,
        letter_type_id=data.letter_type_id,
        priority=data.priority,
        confidential=data.confidential,
        language=data.language,
        physical_attachments=data.physical_attachments,
        correspondent=correspondent,
        reply_to_id=data.reply_to_id,
    )
    session.add(letter)
    session.flush()
    deadlines.refresh_due_date(session, letter)
    for position, ingested in enumerate(data.files, start=1):
        attach_document(session, actor, letter, position, ingested)
    audit.record(
        session,
        actor,
        "letter.registered",
        organisation_id=organisation.id,
        object_type="letter",
        object_id=letter.id,
        letter_id=letter.id,
        data={
            "number": number,
            "register": data.register,
            "subject": letter.subject,
            "correspondent": correspondent.name if correspondent else None,
            "reply_to": data.reply_to_id,
            "documents": [
                {"name": f.display_name, "sha256": f.original_sha256} for f in data.files
            ],
        },
    )
    return letter


def check_input(data: LetterInput) -> None:
    if data.register not in set(Register):
        raise ServiceError(_l("Unknown register."), "register")
    if not data.subject.strip():
        raise ServiceError(_l("The subject is required."), "subject")
    if data.channel not in set(Channel):
        raise ServiceError(_l("Unknown channel."), "channel")
    if data.priority not in set(Priority):
        raise ServiceError(_l("Unknown priority."), "priority")
    if data.physical_attachments < 0:
        raise ServiceError(
            _l("The number of attachments cannot be negative."), "physical_attachments"
        )
    if (
        data.correspondent_id is None
        and data.new_correspondent is None
        and (data.register != Register.INTERNAL)
    ):
        raise ServiceError(_l("Choose the correspondent or enter a new one."), "correspondent_id")
    if data.new_correspondent is not None and not data.new_correspondent.name.strip():
        raise ServiceError(_l("The correspondent's name is required."), "correspondent_name")
    if not data.files:
        raise ServiceError(_l("Attach the scanned letter (PDF, JPEG, PNG or TIFF)."), "documents")


def _resolve_correspondent(session: Session, actor: Actor, data: LetterInput) -> Contact | None:
    if data.correspondent_id is not None:
        contact = session.get(Contact, data.correspondent_id)
        if contact is None or contact.organisation_id != actor.organisation_id:
            raise ServiceError(_l("Unknown correspondent."), "correspondent_id")
        return contact
    if data.new_correspondent is None:
        return None
    new = data.new_correspondent
    contact = Contact(
        organisation_id=actor.organisation_id,
        kind=new.kind if new.kind in set(ContactKind) else ContactKind.PERSON,
        name=new.name.strip(),
        national_id=new.national_id.strip().upper(),
        email=new.email.strip(),
        phone=new.phone.strip(),
        address=new.address.strip(),
    )
    session.add(contact)
    session.flush()
    audit.record(
        session,
        actor,
        "contact.created",
        organisation_id=actor.organisation_id,
        object_type="contact",
        object_id=contact.id,
        data={"name": contact.name, "national_id": contact.national_id},
    )
    return contact


def _check_letter_type(session: Session, actor: Actor, letter_type_id: int | None) -> None:
    if letter_type_id is None:
        return
    owner = session.scalar(
        select(LetterType.organisation_id).where(LetterType.id == letter_type_id)
    )
    if owner != actor.organisation_id:
        raise ServiceError(_l("Unknown letter type."), "letter_type_id")


def attach_document(
    session: Session, actor: Actor, letter: Letter, position: int, ingested: IngestedFile
) -> Document:
    """A stored file as the letter's document number ``position`` (version 1)."""
    document = Document(
        organisation_id=letter.organisation_id,
        letter_id=letter.id,
        position=position,
        title=ingested.display_name,
    )
    session.add(document)
    session.flush()
    session.add(
        DocumentVersion(
            organisation_id=letter.organisation_id,
            document_id=document.id,
            version=1,
            original_sha256=ingested.original_sha256,
            media_type=ingested.media_type,
            size=ingested.size,
            pdf_sha256=ingested.pdf_sha256,
            page_count=ingested.page_count,
            flags=" ".join(sorted(ingested.flags)),
            created_by_id=actor.user.id,
        )
    )
    return document


def _local_year(moment_utc: datetime, timezone: str) -> int:
    """The register resets on 1 January in the organisation's own time zone."""
    return to_local(moment_utc, timezone).year
