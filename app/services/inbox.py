"""A department's work queue: what is new, in progress, due soon, overdue, and its copies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from app.models import Assignment, AssignmentKind, AssignmentState, Letter, Role, User
from app.models.routing import OPEN_STATES

DUE_SOON_DAYS = 3
TABS = ("new", "in_progress", "due_soon", "overdue", "copies")


@dataclass(frozen=True)
class InboxPage:
    assignments: list[Assignment]
    next_cursor: int | None


def has_inbox(user: User) -> bool:
    return user.department_id is not None and user.has_role(Role.DEPARTMENT_HEAD, Role.AGENT)


def _mine(user: User) -> ColumnElement[bool]:
    """The head sees the whole department's queue; an agent what was passed to them, and copies."""
    scope = Assignment.department_id == user.department_id
    if user.has_role(Role.DEPARTMENT_HEAD):
        return and_(scope, Assignment.state.in_(OPEN_STATES))
    return and_(
        scope,
        Assignment.state.in_(OPEN_STATES),
        or_(Assignment.agent_id == user.id, Assignment.kind == AssignmentKind.COPY),
    )


def _tab(tab: str, today: date) -> ColumnElement[bool]:
    action = Assignment.kind == AssignmentKind.ACTION
    return {
        "new": and_(action, Assignment.state == AssignmentState.PENDING),
        "in_progress": and_(action, Assignment.state == AssignmentState.ACCEPTED),
        "due_soon": and_(
            action, Letter.due_on >= today, Letter.due_on <= today + timedelta(days=DUE_SOON_DAYS)
        ),
        "overdue": and_(action, Letter.due_on < today),
        "copies": Assignment.kind == AssignmentKind.COPY,
    }[tab]


def counts(session: Session, user: User, today: date) -> dict[str, int]:
    row = session.execute(
        select(*(func.count().filter(_tab(tab, today)).label(tab) for tab in TABS))
        .select_from(Assignment)
        .join(Letter, Letter.id == Assignment.letter_id)
        .where(_mine(user))
    ).one()
    return dict(row._mapping)


def list_page(
    session: Session, user: User, tab: str, today: date, after: int | None = None, limit: int = 50
) -> InboxPage:
    """Newest routing first, by keyset on the assignment id."""
    stmt = (
        select(Assignment)
        .join(Letter, Letter.id == Assignment.letter_id)
        .where(_mine(user), _tab(tab, today))
        .options(
            contains_eager(Assignment.letter).joinedload(Letter.correspondent),
            joinedload(Assignment.agent),
        )
        .order_by(Assignment.id.desc())
        .limit(limit + 1)
    )
    if after:
        stmt = stmt.where(Assignment.id < after)
    rows = list(session.scalars(stmt))
    return InboxPage(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)
