"""Performance dashboards: figures for a department head and for the administration.

Every figure is an aggregate over the dashboard facts (app.models.dashboard.LetterFact, one row
per letter kept by the worker), each query answered from one of its covering indexes. Days are
the organisation's local days; a period is [start, end], both included. Definitions:

- received / sent: incoming / outgoing letters registered in the period, cancelled ones left out.
  An outgoing reply without a type of its own counts under the type and the department of the
  letter it answers.
- department: the letter's action department, the last action assignment not returned to the
  registry (a letter never routed, or returned and not routed again, belongs to none).
- open: incoming letters neither closed nor cancelled, today, whatever the period; due soon:
  open with today <= due_on <= today + DUE_SOON_DAYS; overdue: open with due_on < today.
- closed: incoming letters closed (locally) in the period.
- processing time: calendar days from reception (received_on, else the local day of the
  registration) to the local day of the closing. Calendar days, because that is the time the
  citizen waits and it compares across types whose deadlines count in different units.
  median_days and p90_days are nearest-rank percentiles (the smallest value with at least 50% /
  90% of the closed letters at or below it), read from a histogram of processing days grouped in
  SQL; mean_days is their mean.
- with_deadline: closed letters that had a due date; in_time: of those, closed on or before
  due_on (the due date after extensions and clock pauses); late: closed after it.
- extended: closed letters whose deadline was extended at least once.
- answered: closed letters whose outcome is "answered" (by a dispatched reply or by hand).
- routed: incoming letters registered in the period (not cancelled) that had an action
  assignment; returned: of those, sent back to the registry at least once.
- ratings / satisfaction: citizens' ratings given in the period and their mean stars (1-5).
- reopened: complaints reopened in the period, each counted once by its reopening letter (a new
  incoming letter, registered that day).
A share or a mean over nothing is None.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

from app.models import LetterFact as F
from app.models import Register

DUE_SOON_DAYS = 3
GRAINS = ("day", "week", "month", "year")
FIGURES = (
    "received",
    "sent",
    "open",
    "due_soon",
    "overdue",
    "closed",
    "in_time",
    "late",
    "extended",
    "returned",
    "reopened",
)

# Constants written into the SQL (not bound), so both planners match the partial indexes.
_INCOMING = literal_column("'incoming'")
_OUTGOING = literal_column("'outgoing'")
_OPEN_STATUS = literal_column("'registered'")
_CANCELLED = literal_column("'cancelled'")


@dataclass(frozen=True)
class Scope:
    organisation_id: int
    start: date
    end: date
    department_id: int | None = None
    letter_type_id: int | None = None


@dataclass(frozen=True)
class Summary:
    received: int
    sent: int
    open: int
    due_soon: int
    overdue: int
    closed: int
    median_days: float | None
    p90_days: float | None
    with_deadline: int
    in_time: int
    in_time_share: float | None
    extended: int
    routed: int
    returned: int
    returned_rate: float | None
    ratings: int
    satisfaction: float | None
    reopened: int
    mean_days: float | None = None
    answered: int = 0


@dataclass(frozen=True)
class VolumePoint:
    bucket: date
    received: int
    sent: int


@dataclass(frozen=True)
class BreakdownRow:
    key_id: int | None
    received: int
    closed: int
    open: int
    overdue: int
    median_days: float | None
    p90_days: float | None
    in_time_share: float | None
    satisfaction: float | None
    mean_days: float | None = None


# -- conditions ------------------------------------------------------------------------------------


def _scoped(scope: Scope) -> list:
    conditions = [F.organisation_id == scope.organisation_id]
    if scope.department_id is not None:
        conditions.append(F.department_id == scope.department_id)
    if scope.letter_type_id is not None:
        conditions.append(F.letter_type_id == scope.letter_type_id)
    return conditions


def _registered(scope: Scope, register) -> list:
    return [
        *_scoped(scope),
        F.register == register,
        F.registered_on.between(scope.start, scope.end),
        F.status != _CANCELLED,
    ]


def _open(scope: Scope) -> list:
    return [*_scoped(scope), F.status == _OPEN_STATUS, F.register == _INCOMING]


def _closed(scope: Scope) -> list:
    return [*_scoped(scope), F.closed_on.is_not(None), F.closed_on.between(scope.start, scope.end)]


def _figure_conditions(scope: Scope, figure: str, today: date) -> list:
    with_deadline = [*_closed(scope), F.due_on.is_not(None)]
    conditions = {
        "received": lambda: _registered(scope, _INCOMING),
        "sent": lambda: _registered(scope, _OUTGOING),
        "open": lambda: _open(scope),
        "due_soon": lambda: [
            *_open(scope),
            F.due_on.between(today, today + timedelta(days=DUE_SOON_DAYS)),
        ],
        "overdue": lambda: [*_open(scope), F.due_on < today],
        "closed": lambda: _closed(scope),
        "in_time": lambda: [*with_deadline, F.closed_on <= F.due_on],
        "late": lambda: [*with_deadline, F.closed_on > F.due_on],
        "extended": lambda: [*_closed(scope), F.extensions > 0],
        "returned": lambda: [*_registered(scope, _INCOMING), F.returned.is_(True)],
        "reopened": lambda: [*_registered(scope, _INCOMING), F.reopened.is_(True)],
    }
    if figure not in conditions:
        raise ValueError(f"unknown dashboard figure {figure!r}")
    return conditions[figure]()


# -- arithmetic ------------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """Nearest rank: the smallest value with at least ``fraction`` of the counts at or below."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = math.ceil(fraction * total), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return None  # not reached: the last value holds every count


def _mean(histogram: dict[int, int]) -> float | None:
    total = sum(histogram.values())
    return sum(value * count for value, count in histogram.items()) / total if total else None


# -- queries ---------------------------------------------------------------------------------------


def _closed_histograms(session: Session, scope: Scope, key=None) -> dict:
    """{key: {"days": {processing_days: n}, "deadline": n, "in_time": n, ...}} of the letters
    closed in the period (key None when not grouped)."""
    key_column = key if key is not None else literal_column("NULL")
    query = (
        select(
            key_column.label("key"),
            F.processing_days,
            func.count().label("n"),
            func.count().filter(F.due_on.is_not(None)).label("deadline"),
            func.count().filter(F.closed_on <= F.due_on).label("in_time"),
            func.count().filter(F.extensions > 0).label("extended"),
            func.count().filter(F.answered.is_(True)).label("answered"),
        )
        .where(*_closed(scope))
        .group_by(*([key] if key is not None else []), F.processing_days)
    )
    names = ("deadline", "in_time", "extended", "answered")
    groups: dict = defaultdict(lambda: {"days": {}} | dict.fromkeys(names, 0))
    for row in session.execute(query):
        group = groups[row.key]
        group["days"][row.processing_days] = row.n
        for name in names:
            group[name] += row._mapping[name]
    return groups


def _open_counts(session: Session, scope: Scope, today: date, key=None) -> dict:
    key_column = key if key is not None else literal_column("NULL")
    query = select(
        key_column.label("key"),
        func.count().label("open"),
        func.count().filter(F.due_on < today).label("overdue"),
        func.count()
        .filter(F.due_on.between(today, today + timedelta(days=DUE_SOON_DAYS)))
        .label("due_soon"),
    ).where(*_open(scope))
    if key is not None:
        query = query.group_by(key)
    return {row.key: row for row in session.execute(query) if row.open}


def _registered_counts(session: Session, scope: Scope, key=None, *, sent: bool = True) -> dict:
    """{(key, register): row} of the letters registered in the period (incoming ones only
    unless ``sent``)."""
    key_column = key if key is not None else literal_column("NULL")
    registers = F.register.in_([_INCOMING, _OUTGOING]) if sent else F.register == _INCOMING
    incoming = F.register == _INCOMING
    query = (
        select(
            key_column.label("key"),
            F.register,
            func.count().label("n"),
            func.count().filter(incoming, F.routed.is_(True)).label("routed"),
            func.count().filter(incoming, F.returned.is_(True)).label("returned"),
            func.count().filter(incoming, F.reopened.is_(True)).label("reopened"),
        )
        .where(
            *_scoped(scope),
            registers,
            F.registered_on.between(scope.start, scope.end),
            F.status != _CANCELLED,
        )
        .group_by(*([key] if key is not None else []), F.register)
    )
    return {(row.key, row.register): row for row in session.execute(query)}


def _ratings(session: Session, scope: Scope, key=None) -> dict:
    key_column = key if key is not None else literal_column("NULL")
    query = select(
        key_column.label("key"), func.count().label("n"), func.avg(F.stars).label("mean")
    ).where(*_scoped(scope), F.rated_on.is_not(None), F.rated_on.between(scope.start, scope.end))
    if key is not None:
        query = query.group_by(key)
    return {row.key: row for row in session.execute(query) if row.n}


def summary(session: Session, scope: Scope, today: date) -> Summary:
    registered = _registered_counts(session, scope)
    incoming = registered.get((None, Register.INCOMING))
    outgoing = registered.get((None, Register.OUTGOING))
    closed = _closed_histograms(session, scope).get(None)
    days = closed["days"] if closed else {}
    opened = _open_counts(session, scope, today).get(None)
    rated = _ratings(session, scope).get(None)
    routed = incoming.routed if incoming else 0
    returned = incoming.returned if incoming else 0
    with_deadline = closed["deadline"] if closed else 0
    in_time = closed["in_time"] if closed else 0
    return Summary(
        received=incoming.n if incoming else 0,
        sent=outgoing.n if outgoing else 0,
        open=opened.open if opened else 0,
        due_soon=opened.due_soon if opened else 0,
        overdue=opened.overdue if opened else 0,
        closed=sum(days.values()),
        median_days=_percentile(days, 0.5),
        p90_days=_percentile(days, 0.9),
        with_deadline=with_deadline,
        in_time=in_time,
        in_time_share=_share(in_time, with_deadline),
        extended=closed["extended"] if closed else 0,
        routed=routed,
        returned=returned,
        returned_rate=_share(returned, routed),
        ratings=rated.n if rated else 0,
        satisfaction=float(rated.mean) if rated else None,
        reopened=incoming.reopened if incoming else 0,
        mean_days=_mean(days),
        answered=closed["answered"] if closed else 0,
    )


def _breakdown(session: Session, scope: Scope, today: date, key) -> list[BreakdownRow]:
    registered = _registered_counts(session, scope, key, sent=False)
    closed = _closed_histograms(session, scope, key)
    opened = _open_counts(session, scope, today, key)
    rated = _ratings(session, scope, key)
    keys = {k for k, _ in registered} | set(closed) | set(opened) | set(rated)
    rows = []
    for k in sorted(keys, key=lambda value: (value is None, value)):
        incoming = registered.get((k, Register.INCOMING))
        group = closed.get(k)
        days = group["days"] if group else {}
        rows.append(
            BreakdownRow(
                key_id=k,
                received=incoming.n if incoming else 0,
                closed=sum(days.values()),
                open=opened[k].open if k in opened else 0,
                overdue=opened[k].overdue if k in opened else 0,
                median_days=_percentile(days, 0.5),
                p90_days=_percentile(days, 0.9),
                in_time_share=_share(group["in_time"], group["deadline"]) if group else None,
                satisfaction=float(rated[k].mean) if k in rated else None,
                mean_days=_mean(days),
            )
        )
    return rows


def by_department(session: Session, scope: Scope, today: date) -> list[BreakdownRow]:
    """One row per action department with any figure (None: letters of no department), in
    department id order, None last."""
    return _breakdown(session, scope, today, F.department_id)


def by_type(session: Session, scope: Scope, today: date) -> list[BreakdownRow]:
    """One row per letter type with any figure (None: letters without a type), id order."""
    return _breakdown(session, scope, today, F.letter_type_id)


def bucket_of(day: date, grain: str) -> date:
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if grain == "month":
        return day.replace(day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown grain {grain!r}")


def _buckets(scope: Scope, grain: str) -> list[date]:
    buckets, day = [], bucket_of(scope.start, grain)
    while day <= scope.end:
        buckets.append(day)
        if grain == "day":
            day += timedelta(days=1)
        elif grain == "week":
            day += timedelta(days=7)
        elif grain == "month":
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        else:
            day = date(day.year + 1, 1, 1)
    return buckets


def volumes(session: Session, scope: Scope, grain: str) -> list[VolumePoint]:
    """Letters received and sent per bucket (a bucket is named by its first day, which may be
    before the period's start); every bucket of the period is there, zeros included."""
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}")
    if scope.start > scope.end:
        raise ValueError("the period ends before it starts")
    query = (
        select(F.registered_on, F.register, func.count().label("n"))
        .where(
            *_scoped(scope),
            F.register.in_([_INCOMING, _OUTGOING]),
            F.registered_on.between(scope.start, scope.end),
            F.status != _CANCELLED,
        )
        .group_by(F.registered_on, F.register)
    )
    counts: dict[date, dict[str, int]] = defaultdict(lambda: {"incoming": 0, "outgoing": 0})
    for row in session.execute(query):
        counts[bucket_of(row.registered_on, grain)][row.register] += row.n
    return [
        VolumePoint(bucket, counts[bucket]["incoming"], counts[bucket]["outgoing"])
        for bucket in _buckets(scope, grain)
    ]


def drilldown(scope: Scope, figure: str, today: date) -> Select:
    """The ids of the letters behind a figure (labelled ``id``); the caller adds visibility and
    pagination. ValueError for a figure not in FIGURES."""
    return select(F.letter_id.label("id")).where(*_figure_conditions(scope, figure, today))
