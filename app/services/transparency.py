"""The public transparency page an administration chooses to publish: a year's volumes, answer
times, share answered in time and citizen satisfaction, aggregated only.

Nothing personal leaves here: no letter, subject, number or name, only counts and measures of
the dashboards service. A department or letter type with fewer than MIN_LETTERS letters in
the year is withheld, so a figure cannot point at one citizen's case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import Letter, Organisation
from app.services import audit, dashboards
from app.services.actor import Actor

MIN_LETTERS = 5


@dataclass(frozen=True)
class PublicRow:
    key_id: int
    received: int
    closed: int
    mean_days: float | None
    median_days: float | None
    in_time_share: float | None
    satisfaction: float | None


@dataclass(frozen=True)
class PublicFigures:
    year: int
    start: date
    end: date
    received: int
    answered: int
    closed: int
    mean_days: float | None
    median_days: float | None
    with_deadline: int
    in_time_share: float | None
    ratings: int
    satisfaction: float | None
    departments: list[PublicRow]
    types: list[PublicRow]
    withheld: int  # rows (departments and types) under MIN_LETTERS, not shown


def set_publication(session: Session, actor: Actor, organisation: Organisation, publish: bool):
    """Publish the page, or withdraw it; one audit event either way (none if nothing changes)."""
    if bool(organisation.publish_transparency) == publish:
        return
    with write_transaction(session):
        organisation.publish_transparency = publish
        audit.record(
            session,
            actor,
            "transparency.published" if publish else "transparency.withdrawn",
            organisation_id=organisation.id,
            object_type="organisation",
            object_id=organisation.id,
        )


def years(session: Session, organisation: Organisation, today: date) -> list[int]:
    """From the year of its first letter to this one, newest first."""
    first = session.scalar(
        select(func.min(Letter.year)).where(Letter.organisation_id == organisation.id)
    )
    first = min(first or today.year, today.year)
    return list(range(today.year, first - 1, -1))


def _public_rows(rows: list[dashboards.BreakdownRow]) -> tuple[list[PublicRow], int]:
    kept = [
        PublicRow(
            row.key_id,
            row.received,
            row.closed,
            row.mean_days,
            row.median_days,
            row.in_time_share,
            row.satisfaction,
        )
        for row in rows
        if row.key_id is not None and row.received >= MIN_LETTERS
    ]
    return kept, len(rows) - len(kept)


def figures(session: Session, organisation: Organisation, year: int, today: date) -> PublicFigures:
    """The year's figures (up to today for the current year)."""
    start, end = date(year, 1, 1), min(date(year, 12, 31), today)
    scope = dashboards.Scope(organisation.id, start, end)
    summary = dashboards.summary(session, scope, today)
    departments, hidden_departments = _public_rows(dashboards.by_department(session, scope, today))
    types, hidden_types = _public_rows(dashboards.by_type(session, scope, today))
    return PublicFigures(
        year=year,
        start=start,
        end=end,
        received=summary.received,
        answered=summary.answered,
        closed=summary.closed,
        mean_days=summary.mean_days,
        median_days=summary.median_days,
        with_deadline=summary.with_deadline,
        in_time_share=summary.in_time_share,
        ratings=summary.ratings,
        satisfaction=summary.satisfaction,
        departments=departments,
        types=types,
        withheld=hidden_departments + hidden_types,
    )
