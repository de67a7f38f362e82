"""The letters behind a dashboard figure, as the viewer may see them: newest first, keyset
paginated like the register, with the number the viewer may not see.

Visibility is can_view_letter's, letter by letter. Its SQL forms (visible_letters for readers of
the register, headed_department_letters for a head) settle most letters in the database, so only
the rest (confidential ones, a delegation's) are checked one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, not_, or_, select, tuple_
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models import Letter, User
from app.permissions import can_view_letter, headed_department_letters, visible_letters
from app.services import dashboards
from app.services.register_list import decode_cursor, encode_cursor

CHECK_BATCH = 500


@dataclass(frozen=True)
class FigurePage:
    letters: list[Letter]
    next_cursor: str | None
    total: int  # letters behind the figure
    hidden: int  # of those, letters this viewer may not see


def _loaded(stmt: Select) -> Select:
    return stmt.options(
        joinedload(Letter.correspondent),
        joinedload(Letter.letter_type),
        selectinload(Letter.assignments),
        joinedload(Letter.reply_to),
    )


def _hidden(session: Session, user: User, ids: Select) -> int:
    settled = or_(visible_letters(user), headed_department_letters(user))
    unsettled = select(Letter).where(Letter.id.in_(ids), not_(settled))
    hidden, after = 0, 0
    while True:
        batch = list(
            session.scalars(
                _loaded(unsettled.where(Letter.id > after)).order_by(Letter.id).limit(CHECK_BATCH)
            ).unique()
        )
        hidden += sum(1 for letter in batch if not can_view_letter(user, letter))
        if len(batch) < CHECK_BATCH:
            return hidden
        after = batch[-1].id


def figure_page(
    session: Session,
    user: User,
    scope: dashboards.Scope,
    figure: str,
    today: date,
    cursor: str | None = None,
    limit: int = 50,
) -> FigurePage:
    """ValueError for an unknown figure (dashboards.drilldown's)."""
    # Never correlated to the outer query on letters: the figure's own select, whole.
    ids = dashboards.drilldown(scope, figure, today).correlate(None)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    stmt = select(Letter).where(Letter.id.in_(ids), Letter.organisation_id == user.organisation_id)
    position = decode_cursor(cursor) if cursor else None
    shown: list[Letter] = []
    while len(shown) <= limit:
        page = stmt
        if position:
            page = page.where(tuple_(Letter.registered_at, Letter.id) < tuple_(*position))
        batch = list(
            session.scalars(
                _loaded(page)
                .order_by(Letter.registered_at.desc(), Letter.id.desc())
                .limit(limit + 1)
            ).unique()
        )
        shown += [letter for letter in batch if can_view_letter(user, letter)]
        if len(batch) <= limit:
            break
        position = (batch[-1].registered_at, batch[-1].id)
    next_cursor = encode_cursor(shown[limit - 1]) if len(shown) > limit else None
    return FigurePage(shown[:limit], next_cursor, total, _hidden(session, user, ids))
