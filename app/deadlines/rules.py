"""Deadline rules and the computation of due dates.

How a due date is computed
--------------------------
The clock starts the day *after* ``start`` (the day the administration received the request):

* ``unit="working"``: the due date is the ``days``-th working day after ``start``
  (:meth:`WorkingCalendar.add_working_days`), so it is always a working day;
* ``unit="calendar"``: the due date is ``start + days``. When that day is not a working day it
  moves to the next working day (``roll_to_working_day=True``, the default): this is the usual
  administrative rule that a time limit expiring on a weekend day or a holiday is extended to the
  next working day. Set ``roll_to_working_day=False`` for a rule that expressly excludes it.

Extensions add ``extension_days`` each (``urgent_extension_days`` on the urgent track), at most
``max_extensions`` times. Pauses ("waiting for the citizen") stop the clock; see
:func:`compute_due`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, get_args

from .calendar import WorkingCalendar
from .errors import DeadlineError

__all__ = [
    "DeadlineRule",
    "DeadlineState",
    "Remaining",
    "Status",
    "Unit",
    "compute_due",
    "remaining",
]

Unit = Literal["working", "calendar"]
Status = Literal["on_time", "due_soon", "overdue", "paused"]
Pause = tuple[date, date | None]

#: Default threshold of :func:`remaining`: due in 3 working days or fewer is "due soon".
DUE_SOON_DAYS = 3


@dataclass(frozen=True)
class DeadlineRule:
    """How long an administration has to answer, as data.

    Attributes:
        days: the ordinary time limit.
        unit: ``"working"`` or ``"calendar"`` days.
        extension_days: days added by one extension.
        max_extensions: how many extensions the rule allows (0: none).
        pausable: whether the clock may be stopped while waiting for the citizen.
        urgent_days: the time limit on the urgent track; ``None``: the rule has no urgent track.
        urgent_extension_days: days added by one extension on the urgent track; ``None``: no
            extension on the urgent track (it does *not* fall back to ``extension_days``).
        acknowledge_days: time limit for acknowledging receipt, same unit; ``None``: no
            acknowledgement is required.
        roll_to_working_day: calendar-day deadlines that end on a non-working day move to the
            next working day (no effect on working-day rules, which always end on one).
    """

    days: int
    unit: Unit
    extension_days: int = 0
    max_extensions: int = 0
    pausable: bool = False
    urgent_days: int | None = None
    urgent_extension_days: int | None = None
    acknowledge_days: int | None = None
    roll_to_working_day: bool = True

    def __post_init__(self) -> None:
        if self.unit not in get_args(Unit):
            raise DeadlineError(f"unit must be 'working' or 'calendar', got {self.unit!r}")
        for name in ("days", "extension_days", "max_extensions"):
            if getattr(self, name) < 0:
                raise DeadlineError(f"{name} cannot be negative")
        for name in ("urgent_days", "urgent_extension_days", "acknowledge_days"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise DeadlineError(f"{name} cannot be negative")


@dataclass(frozen=True)
class Remaining:
    """Where a deadline stands on a given day.

    Attributes:
        days: working days from today to the due date: 0 on the due date itself, negative once
            overdue (at least -1 from the day after the due date, even when that day is a
            weekend day). While paused: the days left on the stopped clock, counted in ``unit``.
        status: ``"on_time"``, ``"due_soon"`` (0 <= days <= threshold), ``"overdue"`` or
            ``"paused"``.
        unit: ``"working"``, except for a paused calendar-day rule.
    """

    days: int
    status: Status
    unit: Unit = "working"


@dataclass(frozen=True)
class DeadlineState:
    """The result of :func:`compute_due`.

    Attributes:
        due: the last day to answer; ``None`` while the clock is stopped (open pause).
        paused: whether the clock is stopped now.
        paused_since: start of the open pause, if any.
        days_left_on_clock: while paused, the days (in ``unit``) that were left when the clock
            stopped; they start running again the day after the citizen answers.
        unit: the rule's unit.
        stopped_days: days (in ``unit``) added by the closed pauses.
        acknowledge_due: the last day to acknowledge receipt, when the rule requires it.
        calendar: the calendar the state was computed with.
    """

    due: date | None
    paused: bool
    unit: Unit
    paused_since: date | None = None
    days_left_on_clock: int | None = None
    stopped_days: int = 0
    acknowledge_due: date | None = None
    calendar: WorkingCalendar | None = field(default=None, repr=False, compare=False)

    def remaining(self, today: date, *, due_soon_days: int = DUE_SOON_DAYS) -> Remaining:
        """Working days left on ``today`` and the status; see :func:`remaining`."""
        if self.paused or self.due is None:
            return Remaining(self.days_left_on_clock or 0, "paused", self.unit)
        if self.calendar is None:  # pragma: no cover - compute_due always sets it
            raise DeadlineError("this state has no calendar")
        return remaining(self.due, today, self.calendar, due_soon_days=due_soon_days)


def remaining(
    due: date, today: date, calendar: WorkingCalendar, *, due_soon_days: int = DUE_SOON_DAYS
) -> Remaining:
    """Working days from ``today`` to ``due`` and the status.

    * ``today <= due``: ``days = working_days_between(today, due)`` (0 on the due date);
      ``"due_soon"`` when ``days <= due_soon_days``, else ``"on_time"``;
    * ``today > due``: ``"overdue"``, ``days`` = minus the working days elapsed since the due date,
      at least -1 (on the Saturday after a Friday deadline the answer is already late).
    """
    if today > due:
        return Remaining(min(-1, calendar.working_days_between(today, due)), "overdue")
    days = calendar.working_days_between(today, due)
    return Remaining(days, "due_soon" if days <= due_soon_days else "on_time")


def compute_due(
    rule: DeadlineRule,
    start: date,
    calendar: WorkingCalendar,
    *,
    urgent: bool = False,
    extensions: int = 0,
    pauses: Iterable[Pause] = (),
) -> DeadlineState:
    """The due date of a request received on ``start``.

    Args:
        rule: the procedure's rule.
        start: the day of receipt; it never counts.
        calendar: the organisation's working calendar.
        urgent: use the urgent track (``rule.urgent_days``).
        extensions: how many extensions were granted; more than ``rule.max_extensions`` raises.
        pauses: ``(stopped_on, resumed_on)`` pairs, in any order. The clock runs on
            ``stopped_on`` and is stopped from the next day up to and including ``resumed_on``;
            the due date moves by that many days, counted in the rule's unit (working days in
            ``(stopped_on, resumed_on]`` for a working-day rule, ``resumed_on - stopped_on``
            calendar days otherwise). ``resumed_on=None`` marks the pause still running (only the
            last one may be open).

    Returns:
        A :class:`DeadlineState`. With an open pause we do not guess a date: ``due`` is ``None``,
        ``paused`` is true and ``days_left_on_clock`` says what will be left to run once the
        citizen answers (call again with the pause closed to get the date).

    Raises:
        DeadlineError: urgent track the rule does not have; negative or too many extensions;
            pauses on a rule that is not pausable, starting before ``start`` or after the deadline
            had already expired, ending before they start, overlapping, or open but not last.
    """
    days = _total_days(rule, urgent=urgent, extensions=extensions)
    closed, open_since = _check_pauses(rule, start, pauses)

    stopped = 0
    for stopped_on, resumed_on in closed:
        _check_not_expired(stopped_on, _due(rule, start, calendar, days + stopped))
        stopped += _span(rule, calendar, stopped_on, resumed_on)

    acknowledge_due = (
        None
        if rule.acknowledge_days is None
        else _due(rule, start, calendar, rule.acknowledge_days)
    )
    due = _due(rule, start, calendar, days + stopped)
    if open_since is not None:
        _check_not_expired(open_since, due)
        # Days left are counted to the due date before any roll-over to a working day, so that
        # resuming on day r gives exactly start + days + stopped + (r - open_since).
        unrolled_due = _due(rule, start, calendar, days + stopped, roll=False)
        left = max(0, _span(rule, calendar, open_since, unrolled_due))
        return DeadlineState(
            due=None,
            paused=True,
            unit=rule.unit,
            paused_since=open_since,
            days_left_on_clock=left,
            stopped_days=stopped,
            acknowledge_due=acknowledge_due,
            calendar=calendar,
        )
    return DeadlineState(
        due=due,
        paused=False,
        unit=rule.unit,
        stopped_days=stopped,
        acknowledge_due=acknowledge_due,
        calendar=calendar,
    )


# -- internals -------------------------------------------------------------------------------


def _total_days(rule: DeadlineRule, *, urgent: bool, extensions: int) -> int:
    if extensions < 0:
        raise DeadlineError("the number of extensions cannot be negative")
    if extensions > rule.max_extensions:
        raise DeadlineError(
            f"this procedure allows at most {rule.max_extensions} extension(s); "
            f"{extensions} requested"
        )
    if not urgent:
        return rule.days + extensions * rule.extension_days
    if rule.urgent_days is None:
        raise DeadlineError("this procedure has no urgent track")
    if extensions and rule.urgent_extension_days is None:
        raise DeadlineError("this procedure allows no extension on the urgent track")
    return rule.urgent_days + extensions * (rule.urgent_extension_days or 0)


def _check_pauses(
    rule: DeadlineRule, start: date, pauses: Iterable[Pause]
) -> tuple[list[tuple[date, date]], date | None]:
    ordered = sorted(pauses, key=lambda pause: pause[0])
    if ordered and not rule.pausable:
        raise DeadlineError("this procedure's deadline cannot be paused")
    closed: list[tuple[date, date]] = []
    open_since: date | None = None
    previous_end = start
    for index, (stopped_on, resumed_on) in enumerate(ordered):
        if stopped_on < start:
            raise DeadlineError(f"pause on {stopped_on} starts before the request ({start})")
        if stopped_on < previous_end:
            raise DeadlineError(f"pause on {stopped_on} overlaps the previous pause")
        if resumed_on is None:
            if index != len(ordered) - 1:
                raise DeadlineError(f"pause on {stopped_on} is open but is not the last one")
            open_since = stopped_on
            break
        if resumed_on < stopped_on:
            raise DeadlineError(f"pause on {stopped_on} ends before it starts ({resumed_on})")
        closed.append((stopped_on, resumed_on))
        previous_end = resumed_on
    return closed, open_since


def _check_not_expired(stopped_on: date, due: date) -> None:
    if stopped_on > due:
        raise DeadlineError(
            f"pause on {stopped_on} starts after the deadline had expired ({due}): "
            "an expired deadline cannot be paused"
        )


def _span(rule: DeadlineRule, calendar: WorkingCalendar, a: date, b: date) -> int:
    """Days from ``a`` to ``b`` in the rule's unit (working days in ``(a, b]``)."""
    if rule.unit == "working":
        return calendar.working_days_between(a, b)
    return (b - a).days


def _due(
    rule: DeadlineRule, start: date, calendar: WorkingCalendar, days: int, *, roll: bool = True
) -> date:
    """``start`` plus ``days`` in the rule's unit; ``roll=False``: without the roll-over."""
    if rule.unit == "working":
        return calendar.add_working_days(start, days)
    due = start + timedelta(days=days)
    return calendar.next_working_day(due) if roll and rule.roll_to_working_day else due
