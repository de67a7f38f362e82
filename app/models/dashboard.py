"""Dashboard facts: one narrow row per letter, derived from the registry, for aggregate queries.

The row is a pure function of the letter, its assignments, its rating and its reopening
(app.services.dashboard_facts computes it in SQL), so it can always be rebuilt. Every audit event
about a letter queues the letter in ``fact_outbox`` in the same transaction; the worker refreshes
the queued rows. The indexes follow the dashboard's queries (app.services.dashboards): a period
of registration, of closing or of rating, for the whole administration, one department or one
type; each index carries the columns the counts read, so they are answered from the index alone.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.portal import PortalRating, PortalSubmission

_REGISTERED = ("organisation_id", "register", "registered_on", "status")
_REGISTERED_FIGURES = ("routed", "returned", "reopened")
_CLOSED_FIGURES = ("processing_days", "due_on", "extensions", "answered")
_CLOSED = text("closed_on IS NOT NULL")
_OPEN = text("status = 'registered' AND register = 'incoming'")
_RATED = text("rated_on IS NOT NULL")


def _partial(condition):
    return {"sqlite_where": condition, "postgresql_where": condition}


class LetterFact(Base):
    __tablename__ = "letter_facts"
    __table_args__ = (
        Index(
            "ix_letter_facts_registered",
            *_REGISTERED,
            "department_id",
            "letter_type_id",
            *_REGISTERED_FIGURES,
        ),
        Index(
            "ix_letter_facts_dept_registered",
            "organisation_id",
            "department_id",
            "register",
            "registered_on",
            "status",
            "letter_type_id",
            *_REGISTERED_FIGURES,
        ),
        Index(
            "ix_letter_facts_type_registered",
            "organisation_id",
            "letter_type_id",
            "register",
            "registered_on",
            "status",
            "department_id",
            *_REGISTERED_FIGURES,
        ),
        Index(
            "ix_letter_facts_closed",
            "organisation_id",
            "closed_on",
            "department_id",
            "letter_type_id",
            *_CLOSED_FIGURES,
            **_partial(_CLOSED),
        ),
        Index(
            "ix_letter_facts_dept_closed",
            "organisation_id",
            "department_id",
            "closed_on",
            "letter_type_id",
            *_CLOSED_FIGURES,
            **_partial(_CLOSED),
        ),
        Index(
            "ix_letter_facts_type_closed",
            "organisation_id",
            "letter_type_id",
            "closed_on",
            "department_id",
            *_CLOSED_FIGURES,
            **_partial(_CLOSED),
        ),
        Index(  # register and status lead, so SQLite's planner sees three equalities here
            "ix_letter_facts_open",
            "organisation_id",
            "register",
            "status",
            "due_on",
            "department_id",
            "letter_type_id",
            **_partial(_OPEN),
        ),
        Index(
            "ix_letter_facts_rated",
            "organisation_id",
            "rated_on",
            "department_id",
            "letter_type_id",
            "stars",
            **_partial(_RATED),
        ),
    )

    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    register: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    registered_on: Mapped[date] = mapped_column(Date)  # local day of the registration
    # An outgoing letter without a type of its own takes the type of the letter it answers.
    letter_type_id: Mapped[int | None] = mapped_column(Integer)
    # The action department (last action assignment not returned); an outgoing reply takes
    # the one of the letter it answers. None: never routed (or returned and not routed again).
    department_id: Mapped[int | None] = mapped_column(Integer)
    due_on: Mapped[date | None] = mapped_column(Date)
    # The local day of the closing, for closed incoming letters only (what the dashboard reads).
    closed_on: Mapped[date | None] = mapped_column(Date)
    processing_days: Mapped[int | None] = mapped_column(Integer)  # calendar days, when closed
    extensions: Mapped[int] = mapped_column(SmallInteger, default=0)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)  # outcome "answered"
    routed: Mapped[bool] = mapped_column(Boolean, default=False)  # an action assignment ever
    returned: Mapped[bool] = mapped_column(Boolean, default=False)  # returned to the registry
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)  # a complaint's reopening
    rated_on: Mapped[date | None] = mapped_column(Date)  # local day of the citizen's rating
    stars: Mapped[int | None] = mapped_column(SmallInteger)


class FactOutbox(Base):
    """Letters whose facts must be refreshed, written with each audit event about a letter."""

    __tablename__ = "fact_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)  # drained in this order
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"))


# The facts look up a letter's rating and reopening; the portal tables had no index for that.
Index("ix_portal_ratings_letter", PortalRating.letter_id)
Index("ix_portal_submissions_reopened", PortalSubmission.reopened_letter_id)
