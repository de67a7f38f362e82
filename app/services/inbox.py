"""A department's work queue: what is new, in progress, due soon, overdue, and its copies.

Every tab is a conjunction of equalities (and a range on the due date) that the assignments
indexes answer in id order, and each count is answered from an index alone; bench/inbox.py
measures both with 100,000 open letters in one department.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, func, select
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


def default_tab(user: User) -> str:
    """A head starts with what awaits acceptance; an agent with what was passed to them."""
    return "new" if user.has_role(Role.DEPARTMENT_HEAD) else "in_progress"


def _where(user: User, tab: str, today: date) -> list[ColumnElement[bool]]:
    """The head sees the department's whole queue; an agent what was passed to them, and the
    copies. Copies are created accepted and only ever closed, hence state = accepted."""
    scope = [Assignment.department_id == user.department_id]
    action = [Assignment.kind == AssignmentKind.ACTION]
    if not user.has_role(Role.DEPARTMENT_HEAD):
        action.append(Assignment.agent_id == user.id)
    open_action = [*scope, *action, Assignment.state.in_(OPEN_STATES)]
    return {
        "new": [*scope, *action, Assignment.state == AssignmentState.PENDING],
        "in_progress": [*scope, *action, Assignment.state == AssignmentState.ACCEPTED],
        "due_soon": [
            *open_action,
            Assignment.due_on >= today,
            Assignment.due_on <= today + timedelta(days=DUE_SOON_DAYS),
        ],
        "overdue": [*open_action, Assignment.due_on < today],
        "copies": [
            *scope,
            Assignment.kind == AssignmentKind.COPY,
            Assignment.state == AssignmentState.ACCEPTED,
        ],
    }[tab]


def counts(session: Session, user: User, today: date) -> dict[str, int]:
    """One index-only count per tab, in one round trip."""
    columns = [
        select(func.count())
        .select_from(Assignment)
        .where(*_where(user, tab, today))
        .scalar_subquery()
        .label(tab)
        for tab in TABS
    ]
    return dict(session.execute(select(*columns)).one()._mapping)


def list_page(
    session: Session, user: User, tab: str, today: date, after: int | None = None, limit: int = 50
) -> InboxPage:
    """Newest routing first, by keyset on the assignment id."""
    stmt = (
        select(Assignment)
        .join(Letter, Letter.id == Assignment.letter_id)
        .where(*_where(user, tab, today))
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
