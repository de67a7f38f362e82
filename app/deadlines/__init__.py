"""Legal deadlines counted the way Moroccan and Algerian administrations count them.

Pure Python on purpose (no Flask, nothing else from ``app``): callers pass dates and get dates.

* :mod:`.calendar`: working days (weekend per country, public holidays from ``holidays``,
  the organisation's closures);
* :mod:`.rules`: deadline rules, due dates with extensions, urgent track and pauses, status;
* :mod:`.defaults`: Moroccan procedures (access to information, complaints) and a plain letter;
* :mod:`.hijri`: the Umm al-Qura Hijri date beside the Gregorian one.
"""

from .calendar import DEFAULT_WEEKENDS, Holiday, WorkingCalendar, calendar_for
from .defaults import (
    ACCESS_TO_INFORMATION,
    COMPLAINT,
    PLAIN_LETTER,
    PROCEDURES,
    Procedure,
    procedure,
    procedures_for,
)
from .errors import DeadlineError
from .hijri import HijriDate, format_hijri, hijri_month_name, to_hijri
from .rules import DeadlineRule, DeadlineState, Remaining, compute_due, remaining

__all__ = [
    "ACCESS_TO_INFORMATION",
    "COMPLAINT",
    "DEFAULT_WEEKENDS",
    "PLAIN_LETTER",
    "PROCEDURES",
    "DeadlineError",
    "DeadlineRule",
    "DeadlineState",
    "HijriDate",
    "Holiday",
    "Procedure",
    "Remaining",
    "WorkingCalendar",
    "calendar_for",
    "compute_due",
    "format_hijri",
    "hijri_month_name",
    "procedure",
    "procedures_for",
    "remaining",
    "to_hijri",
]
