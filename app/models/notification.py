"""In-app notifications and the e-mail outbox the background worker drains."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.registry import Letter


class Notification(Base):
    """A deadline reminder or escalation for one user; unique per level so reruns add nothing."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "letter_id", "kind", "level"),
        Index("ix_notifications_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"))
    kind: Mapped[str] = mapped_column(String(20))  # due_soon, overdue
    level: Mapped[int] = mapped_column(Integer, default=0)  # 0 agent, 1 head, 2 head's head
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    letter: Mapped[Letter] = relationship()


class OutgoingEmail(Base):
    """Written in the transaction that decides to send; sent by the worker, retried on failure."""

    __tablename__ = "outgoing_emails"
    __table_args__ = (Index("ix_outgoing_emails_pending", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for e-mails about a citizen's portal account, which belongs to no administration.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    to_address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # A PDF from the file store sent with the message (a portal receipt), by its hash.
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    attachment_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
