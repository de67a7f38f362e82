"""The registry: correspondents, letter types, letters, their documents and the number counters."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import User

if TYPE_CHECKING:
    from app.models.routing import Assignment


class Register(enum.StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"
    INTERNAL = "internal"


class Channel(enum.StrEnum):
    POST = "post"
    HAND = "hand"
    EMAIL = "email"
    FAX = "fax"
    PORTAL = "portal"
    COURIER = "courier"


class Priority(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    VERY_URGENT = "very_urgent"


class LetterStatus(enum.StrEnum):
    REGISTERED = "registered"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ContactKind(enum.StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


LANGUAGES = ("ar", "fr", "en", "other")


class Contact(Base):
    """A correspondent: a citizen (with national ID) or an organisation."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_org_name", "organisation_id", "name"),
        Index("ix_contacts_org_national_id", "organisation_id", "national_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(20), default=ContactKind.PERSON)
    name: Mapped[str] = mapped_column(String(300))
    national_id: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LetterType(Base):
    __tablename__ = "letter_types"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    code: Mapped[str] = mapped_column(String(40))
    name_ar: Mapped[str] = mapped_column(String(200))
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The deadline rule (app.deadlines.DeadlineRule); no days means no legal deadline.
    deadline_days: Mapped[int | None] = mapped_column(Integer)
    deadline_unit: Mapped[str] = mapped_column(String(10), default="working")
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    max_extensions: Mapped[int] = mapped_column(Integer, default=0)
    pausable: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent_days: Mapped[int | None] = mapped_column(Integer)
    urgent_extension_days: Mapped[int | None] = mapped_column(Integer)
    acknowledge_days: Mapped[int | None] = mapped_column(Integer)

    def name(self, locale: str) -> str:
        return {"ar": self.name_ar, "fr": self.name_fr}.get(locale) or self.name_en or self.name_fr


class RegistryCounter(Base):
    """Last number used per organisation, register and year.

    Updated inside the registration's own transaction (never a database sequence, which can skip
    values on rollback), so numbers have no gaps and no duplicates.
    """

    __tablename__ = "registry_counters"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    register: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Letter(Base):
    __tablename__ = "letters"
    __table_args__ = (
        UniqueConstraint("organisation_id", "register", "year", "seq"),
        UniqueConstraint("organisation_id", "number"),
        # The register list is read newest first by keyset (registered_at, id), optionally filtered.
        Index("ix_letters_register_order", "organisation_id", "register", "registered_at", "id"),
        Index(
            "ix_letters_register_channel",
            "organisation_id",
            "register",
            "channel",
            "registered_at",
            "id",
        ),
        Index(
            "ix_letters_register_status",
            "organisation_id",
            "register",
            "status",
            "registered_at",
            "id",
        ),
        Index(
            "ix_letters_register_type",
            "organisation_id",
            "register",
            "letter_type_id",
            "registered_at",
            "id",
        ),
        Index("ix_letters_correspondent", "correspondent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    register: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(60))
    registered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    registered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    subject: Mapped[str] = mapped_column(Text)
    sender_reference: Mapped[str] = mapped_column(String(120), default="")
    letter_date: Mapped[date | None] = mapped_column(Date)
    received_on: Mapped[date | None] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20))
    letter_type_id: Mapped[int | None] = mapped_column(ForeignKey("letter_types.id"))
    priority: Mapped[str] = mapped_column(String(20), default=Priority.NORMAL)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(8), default="ar")
    physical_attachments: Mapped[int] = mapped_column(Integer, default=0)
    correspondent_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # An outgoing reply names the incoming letter it answers.
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), index=True)

    # Processing: the legal deadline (from the letter type's rule), its clock, and the outcome.
    due_on: Mapped[date | None] = mapped_column(Date)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    extension_reasons: Mapped[list] = mapped_column(JSON, default=list)
    clock_pauses: Mapped[list] = mapped_column(JSON, default=list)  # [[start, end or null], ...]
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(20), default="")

    status: Mapped[str] = mapped_column(String(20), default=LetterStatus.REGISTERED)
    cancelled_reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)

    correspondent: Mapped[Contact | None] = relationship()
    reply_to: Mapped[Letter | None] = relationship(remote_side=[id])
    letter_type: Mapped[LetterType | None] = relationship()
    registered_by: Mapped[User] = relationship()
    documents: Mapped[list[Document]] = relationship(
        back_populates="letter", order_by="Document.position"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="letter", order_by="Assignment.id"
    )

    @property
    def is_cancelled(self) -> bool:
        return self.status == LetterStatus.CANCELLED

    @property
    def is_closed(self) -> bool:
        return self.status == LetterStatus.CLOSED

    @property
    def is_open(self) -> bool:
        return self.status == LetterStatus.REGISTERED


class Document(Base):
    """One document of a letter; its content lives in versions (a signed copy is a new version)."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("letter_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    # "received": part of the letter as registered; "working": added while processing it.
    kind: Mapped[str] = mapped_column(String(10), default="received")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    letter: Mapped[Letter] = relationship(back_populates="documents")
    versions: Mapped[list[DocumentVersion]] = relationship(
        order_by="DocumentVersion.version", lazy="selectin"
    )

    @property
    def current(self) -> DocumentVersion:
        return self.versions[-1]


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    version: Mapped[int] = mapped_column(Integer)
    # The file as received, and the PDF used to view and sign it (the same file for a PDF).
    original_sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    page_count: Mapped[int | None] = mapped_column(Integer)
    # Space-separated intake flags: encrypted, password_protected, unreadable, analysis_failed.
    flags: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    @property
    def flag_set(self) -> set[str]:
        return set(self.flags.split())


class LetterLink(Base):
    """Two letters that belong together (a follow-up, a duplicate, a related case)."""

    __tablename__ = "letter_links"
    __table_args__ = (UniqueConstraint("letter_id", "linked_letter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    linked_letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
