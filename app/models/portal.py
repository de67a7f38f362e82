"""The citizens' e-counter: the request types an administration publishes, the submissions made
on the portal (before and after registration), optional citizen accounts, and the counters that
slow down guessing."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import Organisation
from app.models.registry import Letter, LetterType

# The identity fields a request type may require (the name is always required).
IDENTITY_FIELDS = ("national_id", "email", "phone", "address")


class EmailMode(enum.StrEnum):
    # An e-mail address is required and confirmed by a link before the letter is registered.
    REQUIRED = "required"
    # The citizen may give one (confirmed by a link first) or continue without and keep the code.
    OPTIONAL = "optional"


class SubmissionStatus(enum.StrEnum):
    AWAITING_CONFIRMATION = "awaiting"
    REGISTERED = "registered"


class PortalRequestType(Base):
    """A kind of request an administration accepts on the portal."""

    __tablename__ = "portal_request_types"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name_ar: Mapped[str] = mapped_column(String(200))
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    # The registry's letter type: it gives the legal deadline and feeds the routing rules.
    letter_type_id: Mapped[int | None] = mapped_column(ForeignKey("letter_types.id"))
    required_fields: Mapped[list] = mapped_column(JSON, default=list)
    email_mode: Mapped[str] = mapped_column(String(10), default=EmailMode.OPTIONAL)
    # Complaints: how many days after the answer the citizen may reopen once; None: never.
    reopen_days: Mapped[int | None] = mapped_column(Integer)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    organisation: Mapped[Organisation] = relationship()
    letter_type: Mapped[LetterType | None] = relationship()

    def name(self, locale: str) -> str:
        return {"ar": self.name_ar, "fr": self.name_fr}.get(locale) or self.name_en or self.name_fr


class CitizenAccount(Base):
    """An optional account: an e-mail (confirmed) and a password, listing one's submissions."""

    __tablename__ = "citizen_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(300))
    locale: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class PortalSubmission(Base):
    """One request from the portal: kept while its e-mail awaits confirmation, then registered.

    Secrets are stored as SHA-256 digests only (the tracking code has 80 random bits, the
    confirmation token 128): a copy of the database does not open anyone's file.
    """

    __tablename__ = "portal_submissions"
    __table_args__ = (
        Index("ix_portal_submissions_email_created", "email", "created_at"),
        Index("ix_portal_submissions_account", "citizen_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # in URLs, random
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    request_type_id: Mapped[int] = mapped_column(ForeignKey("portal_request_types.id"))
    status: Mapped[str] = mapped_column(String(12), default=SubmissionStatus.AWAITING_CONFIRMATION)
    locale: Mapped[str] = mapped_column(String(8), default="ar")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizen_accounts.id"))

    name: Mapped[str] = mapped_column(String(300))
    national_id: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")  # lower-cased
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    subject: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    # The stored files (app.files.intake.IngestedFile as dicts), in the citizen's order.
    files: Mapped[list] = mapped_column(JSON, default=list)

    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirm_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)

    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), unique=True)
    tracking_code_hash: Mapped[str | None] = mapped_column(String(64))
    # The plain code lives here only between the registration and its receipt (then cleared).
    pending_code: Mapped[str | None] = mapped_column(String(40))
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))

    complement_request: Mapped[str] = mapped_column(Text, default="")
    complement_requested_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The request stopped the clock (so the citizen's answer restarts it; a clock the department
    # stopped for another reason stays stopped).
    complement_stopped_clock: Mapped[bool] = mapped_column(Boolean, default=False)
    reopened_letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"))

    request_type: Mapped[PortalRequestType] = relationship()
    organisation: Mapped[Organisation] = relationship()
    letter: Mapped[Letter | None] = relationship(foreign_keys=[letter_id])
    reopened_letter: Mapped[Letter | None] = relationship(foreign_keys=[reopened_letter_id])
    ratings: Mapped[list[PortalRating]] = relationship(order_by="PortalRating.id")


class PortalRating(Base):
    """The citizen's rating of an answer: one per answered letter of a submission."""

    __tablename__ = "portal_ratings"
    __table_args__ = (UniqueConstraint("submission_id", "letter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("portal_submissions.id"))
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"))
    stars: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PortalThrottle(Base):
    """Wrong attempts per key (an address, a registry number, an account): past a few, each
    further attempt waits longer, whatever the app server that answers."""

    __tablename__ = "portal_throttles"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
