"""Signature keys and certificates, and the e-parapheur: circuits of visas and signatures.

Nothing here is deleted: certificates are revoked, circuits withdrawn or rejected, and every
version of a circuit's document stays in the file store.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import Department, User


class CertificatePurpose(enum.StrEnum):
    AUTHORITY = "authority"  # the organisation's CA (embedded default)
    SIGNATORY = "signatory"  # a person's signing certificate
    SEAL = "seal"  # the organisation's seal: what Diwan produces itself
    TIMESTAMPING = "timestamping"  # Diwan's own time-stamp authority


class KeyStorage(enum.StrEnum):
    SECRET = "secret"  # noqa: S105 - a storage kind, not a password; encrypted under the signatory's signing secret, never stored
    SERVER = "server"  # encrypted under a key derived from the installation's SECRET_KEY
    PKCS11 = "pkcs11"  # in a token; the signing secret is the token PIN


class SigningCertificate(Base):
    __tablename__ = "signing_certificates"
    __table_args__ = (
        UniqueConstraint("organisation_id", "serial"),
        Index("ix_signing_certificates_owner", "organisation_id", "purpose", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(20))
    serial: Mapped[str] = mapped_column(String(64))  # hexadecimal
    subject: Mapped[str] = mapped_column(String(1000))
    issuer: Mapped[str] = mapped_column(String(1000))
    not_before: Mapped[datetime] = mapped_column(DateTime)
    not_after: Mapped[datetime] = mapped_column(DateTime)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    # Certificates between this one and its root, DER, issuer first (an outside CA's chain).
    chain_der: Mapped[list] = mapped_column(JSON, default=list)  # base64 strings
    key_storage: Mapped[str] = mapped_column(String(20))
    encrypted_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    pkcs11_token: Mapped[str] = mapped_column(String(200), default="")
    pkcs11_key_label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revocation_reason: Mapped[str] = mapped_column(String(500), default="")

    user: Mapped[User | None] = relationship()

    def usable_on(self, moment: datetime) -> bool:
        return self.revoked_at is None and self.not_before <= moment <= self.not_after


class RevocationList(Base):
    """Each CRL the organisation's CA issued, newest by number; served at /pki/<code>/crl."""

    __tablename__ = "revocation_lists"
    __table_args__ = (UniqueConstraint("organisation_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[datetime] = mapped_column(DateTime)
    next_update: Mapped[datetime] = mapped_column(DateTime)
    crl_der: Mapped[bytes] = mapped_column(LargeBinary)


class StepAction(enum.StrEnum):
    VISA = "visa"
    SIGN = "sign"


class CircuitStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"  # sent back to the author, who may start a new circuit
    WITHDRAWN = "withdrawn"


class StepStatus(enum.StrEnum):
    WAITING = "waiting"  # a later position: not yet its turn
    PENDING = "pending"  # its turn: in someone's "to sign" basket
    APPROVED = "approved"  # visa given
    SIGNED = "signed"
    REJECTED = "rejected"
    RESET = "reset"  # done once, undone when the circuit went back before it


class CircuitTemplate(Base):
    """A reusable list of steps for one type of document."""

    __tablename__ = "circuit_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    document_type: Mapped[str] = mapped_column(String(40))
    # [{"position": 1, "action": "visa", "user_id": None, "department_id": 3, "role": "..."}]
    steps: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)


class Circuit(Base):
    __tablename__ = "circuits"
    __table_args__ = (Index("ix_circuits_author", "organisation_id", "author_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    title: Mapped[str] = mapped_column(String(500))
    document_type: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The letter a reply answers, when the document is a reply draft.
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"), index=True)
    reply_draft_id: Mapped[int | None] = mapped_column(ForeignKey("reply_drafts.id"))
    status: Mapped[str] = mapped_column(String(20), default=CircuitStatus.IN_PROGRESS)
    # Names the circuit in the QR code of its stamps: the public verification page's address.
    verification_token: Mapped[str] = mapped_column(String(64), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=1)  # the current step position
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When the newest document time-stamp's certificate expires: the renewal job's cue.
    archive_expires_at: Mapped[datetime | None] = mapped_column(DateTime)

    author: Mapped[User] = relationship()
    steps: Mapped[list[CircuitStep]] = relationship(
        back_populates="circuit", order_by="(CircuitStep.position, CircuitStep.id)"
    )
    versions: Mapped[list[CircuitVersion]] = relationship(order_by="CircuitVersion.number")

    @property
    def current_version(self) -> CircuitVersion:
        return self.versions[-1]


class CircuitStep(Base):
    __tablename__ = "circuit_steps"
    __table_args__ = (
        Index("ix_circuit_steps_basket_user", "assignee_id", "status"),
        Index("ix_circuit_steps_basket_department", "department_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # steps sharing a position run in parallel
    action: Mapped[str] = mapped_column(String(10))
    # Either a named person, or whoever holds `role` in `department_id`.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    role: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(20), default=StepStatus.WAITING)
    acted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acted_for_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acted_at: Mapped[datetime | None] = mapped_column(DateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    # The version the visa or signature was given on, and (a signature) the version it made.
    version_id: Mapped[int | None] = mapped_column(ForeignKey("circuit_versions.id"))
    # A security key's assertion over the document digest, kept as evidence of the signature.
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)

    circuit: Mapped[Circuit] = relationship(back_populates="steps")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    department: Mapped[Department | None] = relationship()
    acted_by: Mapped[User | None] = relationship(foreign_keys=[acted_by_id])
    acted_for: Mapped[User | None] = relationship(foreign_keys=[acted_for_id])


class CircuitVersion(Base):
    """One version of the circuit's document: the submitted PDF, then one per signature."""

    __tablename__ = "circuit_versions"
    __table_args__ = (UniqueConstraint("circuit_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id"))
    number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer)
    # What made it: "submitted", "signed", "sealed", "timestamped".
    reason: Mapped[str] = mapped_column(String(20))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CircuitAnnotation(Base):
    """A reviewer's remark pinned to a point of a page (never written into the PDF)."""

    __tablename__ = "circuit_annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("circuit_versions.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    page: Mapped[int] = mapped_column(Integer)  # 1-based
    x: Mapped[float] = mapped_column()  # 0..1 from the page's left edge
    y: Mapped[float] = mapped_column()  # 0..1 from the page's top edge
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    author: Mapped[User] = relationship()
