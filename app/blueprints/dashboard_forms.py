"""The dashboard's period and scope selector (a GET form) and the period it stands for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from app.forms import optional_int

PERIODS = ("month", "12m", "year", "custom")
GRAINS = ("day", "week", "month", "year")
MAX_BUCKETS = 400  # more columns than a chart can show: a coarser grain is used instead
MAX_DAYS = 3660  # a custom period of at most ten years


def period_choices():
    return [
        ("month", _l("This month")),
        ("12m", _l("Last 12 months")),
        ("year", _l("This year")),
        ("custom", _l("From … to …")),
    ]


def grain_choices():
    return [
        ("", _l("Automatic")),
        ("day", _l("By day")),
        ("week", _l("By week")),
        ("month", _l("By month")),
        ("year", _l("By year")),
    ]


class DashboardForm(FlaskForm):
    class Meta:
        csrf = False  # a GET selector changes nothing

    period = SelectField(_l("Period"), choices=period_choices, default="month")
    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])
    grain = SelectField(_l("Grouped"), choices=grain_choices, validators=[Optional()])
    department = SelectField(
        _l("Department"), coerce=optional_int, validate_choice=False, validators=[Optional()]
    )
    letter_type = SelectField(
        _l("Letter type"), coerce=optional_int, validate_choice=False, validators=[Optional()]
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.period.data != "custom" or not valid:
            return valid
        if self.start.data is None or self.end.data is None:
            self.start.errors = [*self.start.errors, _l("Give the first and the last day.")]
            return False
        if self.start.data > self.end.data:
            self.end.errors = [*self.end.errors, _l("The last day comes before the first.")]
            return False
        if (self.end.data - self.start.data).days > MAX_DAYS:
            self.end.errors = [*self.end.errors, _l("A period of at most ten years.")]
            return False
        return True


def figure_labels() -> dict:
    """What each figure counts, as tiles, tables, the drill-down and the CSV name it."""
    from app.services.dashboards import DUE_SOON_DAYS

    return {
        "received": _l("Received"),
        "sent": _l("Sent"),
        "open": _l("Open today"),
        "due_soon": _l("Due within %(n)s days", n=DUE_SOON_DAYS),
        "overdue": _l("Overdue"),
        "closed": _l("Closed in the period"),
        "in_time": _l("Closed within the deadline"),
        "late": _l("Closed after the deadline"),
        "extended": _l("Closed after an extension"),
        "returned": _l("Returned to the registry"),
        "reopened": _l("Reopened complaints"),
    }


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    grain: str


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def buckets(start: date, end: date, grain: str) -> int:
    days = (end - start).days + 1
    return {
        "day": days,
        "week": days // 7 + 2,
        "month": (end.year - start.year) * 12 + end.month - start.month + 1,
        "year": end.year - start.year + 1,
    }[grain]


def automatic_grain(start: date, end: date) -> str:
    days = (end - start).days + 1
    if days <= 31:
        return "day"
    if days <= 186:
        return "week"
    return "month" if days <= 3 * 366 else "year"


def resolve(period: str, start: date | None, end: date | None, grain: str, today: date) -> Period:
    """The days a (validated) choice covers, up to today, and the grain of its chart."""
    if period == "custom" and start and end:
        first, last = start, end
    elif period == "12m":
        first, last = _months_back(today, 11), today
    elif period == "year":
        first, last = date(today.year, 1, 1), today
    else:
        first, last = today.replace(day=1), today
    if grain not in GRAINS or buckets(first, last, grain) > MAX_BUCKETS:
        grain = automatic_grain(first, last)
    return Period(first, last, grain)
