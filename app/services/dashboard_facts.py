"""Keeps the dashboard facts (app.models.dashboard.LetterFact) equal to the registry.

One INSERT ... SELECT computes the facts of any set of letters, so the worker's refresh of a few
letters and the rebuild of a whole administration share the same definition. Local days come
from the organisation's time zone: its UTC offsets over the letters' time span are written into
the statement as a CASE on the timestamp, which both SQLite and PostgreSQL evaluate row by row
without a time-zone database of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from app.database import write_transaction
from app.models import (
    Assignment,
    AssignmentKind,
    AssignmentState,
    FactOutbox,
    Letter,
    LetterFact,
    LetterStatus,
    Organisation,
    Outcome,
    PortalRating,
    PortalSubmission,
    Register,
)
from app.models.base import utcnow
from app.timezones import zone

BATCH = 500  # outbox rows per round; also the size of an IN (...) list


def _offset_seconds(tz, moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).astimezone(tz).utcoffset().total_seconds())


def utc_offsets(timezone: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[(from this UTC instant, offset in seconds), ...] covering [start, end]; the first entry
    applies before ``start`` too and the last one after ``end``."""
    tz = zone(timezone)
    day = datetime(start.year, start.month, start.day)
    offsets = [(day, _offset_seconds(tz, day))]
    while day <= end:
        following = day + timedelta(days=1)
        if _offset_seconds(tz, following) != offsets[-1][1]:
            low, high = day, following  # the change happens in (low, high]: narrow to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _offset_seconds(tz, middle) == offsets[-1][1]:
                    low = middle
                else:
                    high = middle
            high = high.replace(microsecond=0)
            offsets.append((high, _offset_seconds(tz, high)))
        day = following
    return offsets


def local_day(column, offsets: list[tuple[datetime, int]], dialect: str):
    """SQL: the local calendar day of a naive UTC timestamp column."""
    seconds = literal(offsets[0][1])
    if len(offsets) > 1:
        branches = [(column < offsets[i + 1][0], offsets[i][1]) for i in range(len(offsets) - 1)]
        seconds = case(*branches, else_=offsets[-1][1])
    if dialect == "postgresql":
        moment = column + seconds * literal_column("interval '1 second'")
        return cast(moment, Date)
    return func.date(column, func.printf("%d seconds", seconds))


def _days_between(later, earlier, dialect: str):
    if dialect == "postgresql":
        return later - earlier
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _action_department(letter_id):
    return (
        select(Assignment.department_id)
        .where(
            Assignment.letter_id == letter_id,
            Assignment.kind == AssignmentKind.ACTION,
            Assignment.state != AssignmentState.RETURNED,
        )
        .order_by(Assignment.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _rating(offsets: list[tuple[datetime, int]], dialect: str):
    """The local day and the stars of the letter's rating (the portal takes one per letter;
    were there several, the latest). Aggregates and an id lookup, so the planners use the
    rating's letter index and evaluate the time-zone CASE once per letter."""
    other = aliased(PortalRating)
    latest_id = (
        select(func.max(other.id))
        .where(other.letter_id == Letter.id)
        .correlate(Letter)
        .scalar_subquery()
    )
    rated_on = (
        select(local_day(func.max(PortalRating.created_at), offsets, dialect))
        .where(PortalRating.letter_id == Letter.id)
        .scalar_subquery()
    )
    stars = select(PortalRating.stars).where(PortalRating.id == latest_id).scalar_subquery()
    return rated_on, stars


def facts_select(where, offsets: list[tuple[datetime, int]], dialect: str):
    """The LetterFact columns, computed for the letters matching ``where``."""
    answered_letter = aliased(Letter)
    rated_on, stars = _rating(offsets, dialect)
    closed = and_(
        Letter.register == Register.INCOMING,
        Letter.status == LetterStatus.CLOSED,
        Letter.closed_at.is_not(None),
    )
    registered_on = local_day(Letter.registered_at, offsets, dialect)
    closed_on = local_day(Letter.closed_at, offsets, dialect)
    started_on = func.coalesce(Letter.received_on, registered_on)
    action = and_(Assignment.letter_id == Letter.id, Assignment.kind == AssignmentKind.ACTION)
    returned = and_(Assignment.letter_id == Letter.id, Assignment.state == AssignmentState.RETURNED)
    reply_type = (
        select(answered_letter.letter_type_id)
        .where(answered_letter.id == Letter.reply_to_id)
        .scalar_subquery()
    )
    columns = {
        "letter_id": Letter.id,
        "organisation_id": Letter.organisation_id,
        "register": Letter.register,
        "status": Letter.status,
        "registered_on": registered_on,
        "letter_type_id": func.coalesce(Letter.letter_type_id, reply_type),
        "department_id": func.coalesce(
            _action_department(Letter.id), _action_department(Letter.reply_to_id)
        ),
        "due_on": Letter.due_on,
        "closed_on": case((closed, closed_on)),
        "processing_days": case((closed, _days_between(closed_on, started_on, dialect))),
        "extensions": Letter.extensions,
        "answered": and_(closed, Letter.outcome == Outcome.ANSWERED),
        "routed": exists().where(action),
        "returned": exists().where(returned),
        "reopened": exists().where(PortalSubmission.reopened_letter_id == Letter.id),
        "rated_on": rated_on,
        "stars": stars,
    }
    query = select(*(value.label(name) for name, value in columns.items())).where(where)
    return list(columns), query


def _offsets_for(session: Session, organisation_id: int, timezone: str):
    """The organisation's UTC offsets from its first letter to a year from now."""
    firsts = [
        session.scalar(
            select(func.min(Letter.registered_at)).where(
                Letter.organisation_id == organisation_id, Letter.register == register
            )
        )
        for register in Register
    ]
    now = utcnow()
    start = min((first for first in firsts if first is not None), default=now)
    return utc_offsets(timezone, start, now + timedelta(days=366))


def _insert(session: Session, organisation_id: int, timezone: str, where) -> int:
    dialect = session.get_bind().dialect.name
    names, query = facts_select(where, _offsets_for(session, organisation_id, timezone), dialect)
    query = query.where(Letter.organisation_id == organisation_id)
    statement = insert(LetterFact).from_select(names, query)
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return result.rowcount


def organisation_zones(session: Session, organisation_id: int | None = None):
    query = select(Organisation.id, Organisation.timezone).order_by(Organisation.id)
    if organisation_id is not None:
        query = query.where(Organisation.id == organisation_id)
    return [tuple(row) for row in session.execute(query)]


def _related(session: Session, letter_ids: set[int]) -> set[int]:
    """The letters whose facts read these letters': the letter a reply answers (its type and
    department feed the reply's) and the replies to them."""
    ids = sorted(letter_ids)
    related = set(letter_ids)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        related.update(
            session.scalars(
                select(Letter.reply_to_id).where(
                    Letter.id.in_(chunk), Letter.reply_to_id.is_not(None)
                )
            )
        )
        related.update(session.scalars(select(Letter.id).where(Letter.reply_to_id.in_(chunk))))
    return related


def refresh(session: Session, letter_ids: Iterable[int]) -> int:
    """Recompute the facts of these letters (and of the letters related to them), in the
    caller's transaction; returns how many fact rows were written."""
    ids = sorted(_related(session, set(letter_ids)))
    by_organisation: dict[int, list[int]] = {}
    for letter_id, organisation_id in _organisations(session, ids):
        by_organisation.setdefault(organisation_id, []).append(letter_id)
    written = 0
    zones = dict(organisation_zones(session))
    for organisation_id, members in by_organisation.items():
        for start in range(0, len(members), BATCH):
            chunk = members[start : start + BATCH]
            session.execute(delete(LetterFact).where(LetterFact.letter_id.in_(chunk)))
            written += _insert(
                session, organisation_id, zones[organisation_id], Letter.id.in_(chunk)
            )
    return written


def _organisations(session: Session, ids: list[int]) -> list[tuple[int, int]]:
    rows = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        query = select(Letter.id, Letter.organisation_id).where(Letter.id.in_(chunk))
        rows.extend(tuple(row) for row in session.execute(query))
    return rows


def has_changes(session: Session) -> bool:
    """A letter waits for its facts to be refreshed."""
    return session.scalar(select(FactOutbox.id).limit(1)) is not None


def drain_outbox(session: Session, batch: int = BATCH) -> int:
    """Refresh the facts of the oldest queued letters; returns how many letters were queued.

    The rows read are deleted by id in the refreshing transaction: a row another transaction
    commits meanwhile, even with a smaller id, stays for the next round."""
    with write_transaction(session):
        rows = session.execute(
            select(FactOutbox.id, FactOutbox.letter_id).order_by(FactOutbox.id).limit(batch)
        ).all()
        if not rows:
            return 0
        refresh(session, {row.letter_id for row in rows})
        session.execute(delete(FactOutbox).where(FactOutbox.id.in_([row.id for row in rows])))
    return len({row.letter_id for row in rows})


def fill(session: Session, organisation_id: int, timezone: str) -> int:
    """Recompute every fact of one organisation in the caller's transaction (also used by the
    migration that created the table)."""
    session.execute(delete(LetterFact).where(LetterFact.organisation_id == organisation_id))
    return _insert(session, organisation_id, timezone, true())


def rebuild(session: Session, organisation_id: int | None = None) -> int:
    """Recompute every fact of one organisation (or of all), set-based: one INSERT ... SELECT
    per organisation, each in its own transaction. Returns the number of fact rows."""
    total = 0
    for org_id, timezone in organisation_zones(session, organisation_id):
        with write_transaction(session):
            total += fill(session, org_id, timezone)
    return total
