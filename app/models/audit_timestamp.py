"""RFC 3161 time-stamps anchoring each organisation's audit chain.

A hash chain alone does not stop someone who can write to the database from rewriting an event
and recomputing every later hash and the head. A time-stamp token over the head event's hash,
signed by an authority whose key the database does not hold in the clear, fixes the chain up to
that event: a rewrite at or before a stamped event no longer matches the token.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class AuditTimestamp(Base):
    """One token per stamped head; the unique (organisation, seq) keeps concurrent workers from
    stamping the same head twice."""

    __tablename__ = "audit_timestamps"
    __table_args__ = (UniqueConstraint("organisation_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    seq: Mapped[int] = mapped_column(Integer)  # the audit event the token covers
    event_hash: Mapped[str] = mapped_column(String(64))  # that event's hash (hex) when stamped
    token: Mapped[bytes] = mapped_column(LargeBinary)  # DER TimeStampToken (CMS ContentInfo)
    authority: Mapped[str] = mapped_column(Text)  # the TSA URL, or "organisation"
    stamped_at: Mapped[datetime] = mapped_column(DateTime)  # the token's genTime (UTC)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
