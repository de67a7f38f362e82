"""Routing and processing: which departments hold a letter, their notes, and how it was closed."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
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
        # A department's inbox: its open letters by kind and state.
        Index("ix_assignments_inbox", "department_id", "state", "kind", "letter_id"),
        Index("ix_assignments_agent", "agent_id", "state"),
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
