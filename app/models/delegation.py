"""Absence and delegation: a user names a substitute for a range of days, for every letter type
or for one. Delegations are revoked, never deleted, so the record of who could act for whom
stays."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ColumnElement, Date, DateTime, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import User
from app.models.registry import LetterType


class Delegation(Base):
    __tablename__ = "delegations"
    __table_args__ = (
        # "Whom do I substitute today?" is asked on every permission check that own rights fail.
        Index("ix_delegations_substitute", "substitute_id", "starts_on"),
        Index("ix_delegations_user", "user_id", "starts_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # the absent user
    substitute_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_on: Mapped[date] = mapped_column(Date)  # inclusive
    ends_on: Mapped[date] = mapped_column(Date)  # inclusive
    # None: every letter type.
    letter_type_id: Mapped[int | None] = mapped_column(ForeignKey("letter_types.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    substitute: Mapped[User] = relationship(foreign_keys=[substitute_id])
    letter_type: Mapped[LetterType | None] = relationship()

    def in_force_on(self, day: date) -> bool:
        return self.revoked_at is None and self.starts_on <= day <= self.ends_on

    @classmethod
    def in_force(cls, day: date) -> list[ColumnElement[bool]]:
        """The SQL form of in_force_on."""
        return [cls.revoked_at.is_(None), cls.starts_on <= day, cls.ends_on >= day]

    def covers(self, letter_type_id: int | None) -> bool:
        """Whether it hands over letters of this type (a letter without a type, or one not
        known, is handed over only by a delegation for every type)."""
        return self.letter_type_id is None or self.letter_type_id == letter_type_id
