"""Routing and processing: which departments hold a letter, their notes, and how it was closed."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import Department, User
from app.models.registry import Letter


class AssignmentKind(enum.StrEnum):
    ACTION = "action"  # the department that must process and answer
    COPY = "copy"  # for information, read-only


class AssignmentState(enum.StrEnum):
    PENDING = "pending"  # routed, not yet accepted by the department's head
    ACCEPTED = "accepted"  # accepted; possibly passed to an agent
    RETURNED = "returned"  # sent back to the registry (wrong department)
    CLOSED = "closed"  # the letter was closed


OPEN_STATES = (AssignmentState.PENDING, AssignmentState.ACCEPTED)


class Outcome(enum.StrEnum):
    ANSWERED = "answered"
    NO_REPLY_NEEDED = "no_reply_needed"
    TRANSFERRED = "transferred"
    FILED = "filed"


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        # A department's inbox: every tab is equalities on these columns, read in id order
        # (measured with bench/inbox.py: 100,000 open letters load in under 35 ms p95).
        Index("ix_assignments_inbox", "department_id", "state", "kind", "id"),
        Index("ix_assignments_due", "department_id", "state", "kind", "due_on"),
        Index(
            "ix_assignments_agent",
            "agent_id",
            "state",
            "kind",
            "id",
            sqlite_where=text("agent_id IS NOT NULL"),
            postgresql_where=text("agent_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12), default=AssignmentState.PENDING)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    routed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    routed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    return_reason: Mapped[str] = mapped_column(Text, default="")
    # A copy of the letter's due date (kept by deadlines.refresh_due_date), so the inbox counts
    # and due tabs are answered from this table's indexes alone.
    due_on: Mapped[date | None] = mapped_column(Date)

    department: Mapped[Department] = relationship()
    agent: Mapped[User | None] = relationship(foreign_keys=[agent_id])
    letter: Mapped[Letter] = relationship(back_populates="assignments")

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # None: visible to all who see the letter; otherwise only to that department.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    author: Mapped[User] = relationship()


class RoutingRule(Base):
    """Proposes a route at registration (a distribution-list template) or applies it directly.

    A rule matches on the letter type, the correspondent and/or keywords in the subject; the
    first active rule by position that matches wins.
    """

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    letter_type_id: Mapped[int | None] = mapped_column(ForeignKey("letter_types.id"))
    correspondent_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    keywords: Mapped[str] = mapped_column(String(500), default="")  # comma-separated
    action_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    copy_department_ids: Mapped[list] = mapped_column(JSON, default=list)
    apply_automatically: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReplyTemplate(Base):
    """A reply model per organisation and language; {placeholders} are filled from the letter."""

    __tablename__ = "reply_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReplyDraft(Base):
    """The reply being written to an incoming letter; dispatching it registers an outgoing
    letter (which takes its number from the outgoing register then) linked to this one."""

    __tablename__ = "reply_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outgoing_letter_id: Mapped[int | None] = mapped_column(ForeignKey("letters.id"))
