"""A department's work queue: what is new, in progress, due soon, overdue, and its copies.

Every tab is a conjunction of equalities (and a range on the due date) that the assignments
indexes answer in id order, and each count is answered from an index alone; bench/inbox.py
measures both with 100,000 open letters in one department.

A substitute also gets, for each absent colleague whose work they do today, that colleague's
queue (only the delegated letter types' letters when the delegation names types).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from app.models import Assignment, AssignmentKind, AssignmentState, Letter, Role, User
from app.models.routing import OPEN_STATES
from app.services.delegations import active_delegations

DUE_SOON_DAYS = 3
TABS = ("new", "in_progress", "due_soon", "overdue", "copies")


@dataclass(frozen=True)
class InboxPage:
    assignments: list[Assignment]
    next_cursor: int | None


@dataclass(frozen=True)
class DelegatedQueue:
    """An absent colleague's queue a substitute works on; letter_type_ids None: every type."""

    owner: User
    letter_type_ids: list[int] | None


def has_inbox(user: User) -> bool:
    return user.department_id is not None and user.has_role(Role.DEPARTMENT_HEAD, Role.AGENT)


def default_tab(user: User) -> str:
    """A head starts with what awaits acceptance; an agent with what was passed to them."""
    return "new" if user.has_role(Role.DEPARTMENT_HEAD) else "in_progress"


def delegated_queues(session: Session, user: User, today: date) -> list[DelegatedQueue]:
    """The queues of those this user substitutes today (those who have one)."""
    queues: dict[int, DelegatedQueue] = {}
    for delegation in active_delegations(session, user, today):
        owner = delegation.user
        if not has_inbox(owner):
            continue
        known = queues.get(owner.id)
        if delegation.letter_type_id is None or (known and known.letter_type_ids is None):
            types = None
        else:
            types = [*(known.letter_type_ids if known else []), delegation.letter_type_id]
        queues[owner.id] = DelegatedQueue(owner, types)
    return list(queues.values())


def _where(
    user: User, tab: str, today: date, letter_type_ids: list[int] | None = None
) -> list[ColumnElement[bool]]:
    """The head sees the department's whole queue; an agent what was passed to them, and the
    copies. Copies are created accepted and only ever closed, hence state = accepted.
    Given letter types, only their letters (a substitute's view of a per-type delegation)."""
    scope = [Assignment.department_id == user.department_id]
    if letter_type_ids is not None:
        scope.append(Assignment.letter.has(Letter.letter_type_id.in_(letter_type_ids)))
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


def counts(
    session: Session, user: User, today: date, letter_type_ids: list[int] | None = None
) -> dict[str, int]:
    """One index-only count per tab, in one round trip."""
    columns = [
        select(func.count())
        .select_from(Assignment)
        .where(*_where(user, tab, today, letter_type_ids))
        .scalar_subquery()
        .label(tab)
        for tab in TABS
    ]
    return dict(session.execute(select(*columns)).one()._mapping)


def list_page(
    session: Session,
    user: User,
    tab: str,
    today: date,
    after: int | None = None,
    limit: int = 50,
    letter_type_ids: list[int] | None = None,
) -> InboxPage:
    """Newest routing first, by keyset on the assignment id."""
    stmt = (
        select(Assignment)
        .join(Letter, Letter.id == Assignment.letter_id)
        .where(*_where(user, tab, today, letter_type_ids))
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
