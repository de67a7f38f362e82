"""Working days as Moroccan and Algerian administrations count them.

A day is a *working day* unless it is

* a weekend day: Saturday and Sunday in Morocco, Friday and Saturday in Algeria (since 2009);
* a public holiday, as listed by the `holidays <https://pypi.org/project/holidays/>`_ package
  (default "public" category only: Algeria's Christian and Jewish holidays, which only concern
  the faithful of those religions, are not included);
* one of the organisation's own closing days (``closures``).

Islamic holidays are estimates
-------------------------------
``holidays`` has no confirmed dates for Morocco or Algeria: Eid al-Fitr, Eid al-Adha, the Islamic
New Year, Mawlid (and Ashura in Algeria) come from its Umm al-Qura tables, i.e. the Saudi
astronomical calendar, and every one of them carries the "(estimated)" label, past years included.
Both countries fix these days by moon sighting, and Morocco often observes them one day after
Saudi Arabia. The announced day is only known a day or two before: an organisation that follows
the announcement adds the real day to ``closures`` and, if the estimated day turns out to be a
working day, lists it in ``ignored_holidays``. Note that Morocco's two-day Eids already cover
"Umm al-Qura day" and "Umm al-Qura day + 1".

Counting convention
-------------------
``add_working_days(start, n)`` returns the n-th working day *after* ``start``: the start day
itself never counts, whether or not it is a working day (a letter received on Saturday with a
2-day deadline is due on Tuesday in Morocco). ``working_days_between(a, b)`` is its inverse: it
counts the working days in the half-open interval ``(a, b]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

import holidays

from .errors import DeadlineError

__all__ = [
    "DEFAULT_WEEKENDS",
    "Holiday",
    "WorkingCalendar",
    "calendar_for",
]

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)

#: Weekends as the administrations observe them. Other countries get the weekend that the
#: ``holidays`` package declares for them.
DEFAULT_WEEKENDS: Mapping[str, frozenset[int]] = MappingProxyType(
    {
        "MA": frozenset({SATURDAY, SUNDAY}),
        "DZ": frozenset({FRIDAY, SATURDAY}),  # since 2009; Thursday-Friday before
    }
)

_ONE_DAY = timedelta(days=1)
_SHOW_ESTIMATED = "islamic_show_estimated"


class Holiday(NamedTuple):
    """A public holiday: its date, its (localized) name and whether the date is estimated."""

    date: date
    name: str
    estimated: bool


@dataclass(frozen=True)
class WorkingCalendar:
    """An organisation's working days.

    Immutable and hashable; holiday look-ups are cached per (country, year) at module level, so
    creating calendars is cheap and they can be shared between threads.

    Attributes:
        country: ISO 3166-1 alpha-2 code, e.g. ``"MA"`` or ``"DZ"``.
        weekend: weekday numbers (Monday = 0) that are never working days.
        closures: the organisation's own closing days (bridges, local holidays, the announced
            Eid day when it differs from the estimate...).
        ignored_holidays: library holidays that are in fact working days here (typically an
            estimated Islamic holiday that the authorities announced for another day).
    """

    country: str
    weekend: frozenset[int]
    closures: frozenset[date] = frozenset()
    ignored_holidays: frozenset[date] = frozenset()
    _languages: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        country = self.country.upper() if isinstance(self.country, str) else self.country
        object.__setattr__(self, "country", country)
        object.__setattr__(self, "weekend", frozenset(self.weekend))
        object.__setattr__(self, "closures", frozenset(self.closures))
        object.__setattr__(self, "ignored_holidays", frozenset(self.ignored_holidays))
        if not self.weekend <= frozenset(range(7)):
            raise DeadlineError(f"weekend days are weekday numbers 0-6, got {sorted(self.weekend)}")
        if len(self.weekend) == 7:
            raise DeadlineError("a calendar needs at least one working weekday")
        object.__setattr__(self, "_languages", _entity_languages(country))

    # -- single days -----------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is neither a weekend day, nor a public holiday, nor a closure."""
        return (
            d.weekday() not in self.weekend
            and d not in self.closures
            and not self.is_public_holiday(d)
        )

    def is_public_holiday(self, d: date) -> bool:
        """Whether ``d`` is a public holiday of the country (after ``ignored_holidays``)."""
        return d in _holiday_dates(self.country, d.year) and d not in self.ignored_holidays

    def holiday_name(self, d: date, language: str = "fr") -> str | None:
        """The public holiday's name on ``d``, or ``None`` if ``d`` is not a public holiday.

        ``language`` is ``"ar"``, ``"fr"`` or ``"en"`` (a region such as ``"en_GB"`` or
        ``"fr-MA"`` is accepted); when the library has no translation for the country, the
        name is in the country's own language. Estimated Islamic holidays carry the library's
        localized "(estimated)" label, e.g. ``"عيد الفطر (تقديري)"``. Two holidays on the same day
        are joined with ``"; "``. Closures are not public holidays and have no name here.
        """
        if not self.is_public_holiday(d):
            return None
        return _holiday_names(self.country, d.year, self._language(language), True).get(d)

    def holidays_between(self, a: date, b: date, language: str = "fr") -> list[Holiday]:
        """Public holidays from ``a`` to ``b`` (both included), in date order.

        Weekend days are included too: a holiday on a Saturday is not moved in either country.
        """
        lang = self._language(language)
        result: list[Holiday] = []
        for year in range(a.year, b.year + 1):
            labelled = _holiday_names(self.country, year, lang, True)
            plain = _holiday_names(self.country, year, lang, False)
            for d in sorted(labelled):
                if a <= d <= b and d not in self.ignored_holidays:
                    result.append(Holiday(d, labelled[d], labelled[d] != plain[d]))
        return result

    # -- counting ----------------------------------------------------------------------------

    def next_working_day(self, d: date) -> date:
        """``d`` itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (``start`` itself never counts).

        ``n == 0`` returns ``start`` unchanged; a negative ``n`` counts backwards (the |n|-th
        working day before ``start``), which is handy for reminders.
        """
        step = _ONE_DAY if n >= 0 else -_ONE_DAY
        d = start
        for _ in range(abs(n)):
            d += step
            while not self.is_working_day(d):
                d += step
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in ``(a, b]``; negative (``-count of (b, a]``) when ``b`` is before ``a``.

        ``working_days_between(a, add_working_days(a, n)) == n`` for every ``n``.
        """
        if b < a:
            return -self.working_days_between(b, a)
        return sum(1 for d in _days(a + _ONE_DAY, b) if self.is_working_day(d))

    # -- helpers -----------------------------------------------------------------------------

    def _language(self, language: str) -> str:
        """Map "ar"/"fr"/"en"/"en-GB" to a language the library supports for this country.

        The library must always get a supported language: with an unsupported one it falls back
        to the process's locale environment variables, which would make names vary by server.
        """
        supported = self._languages[1:]
        wanted = language.replace("-", "_")
        if wanted in supported:
            return wanted
        base = wanted.split("_", 1)[0].lower()
        for candidate in supported:
            if candidate.split("_", 1)[0].lower() == base:
                return candidate
        return self._languages[0]


def calendar_for(
    country: str,
    closures: Iterable[date] = (),
    *,
    ignored_holidays: Iterable[date] = (),
    weekend: Iterable[int] | None = None,
) -> WorkingCalendar:
    """A calendar with the usual weekend of ``country`` ({5, 6} for MA, {4, 5} for DZ).

    Other countries get the weekend the ``holidays`` package declares. Raises
    :class:`DeadlineError` for a country the package does not know.
    """
    code = country.upper()
    if weekend is None:
        weekend = DEFAULT_WEEKENDS.get(code)
        if weekend is None:
            weekend = _entity(code).weekend
    return WorkingCalendar(
        country=code,
        weekend=frozenset(weekend),
        closures=frozenset(closures),
        ignored_holidays=frozenset(ignored_holidays),
    )


# -- the holidays library, cached ----------------------------------------------------------


def _days(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += _ONE_DAY


@lru_cache(maxsize=64)
def _entity(country: str) -> holidays.HolidayBase:
    """An empty holidays object of ``country``, for its metadata (languages, weekend)."""
    if not (len(country) == 2 and country.isalpha() and country.isupper()):
        raise DeadlineError(f"country must be an ISO 3166-1 alpha-2 code, got {country!r}")
    try:
        return holidays.country_holidays(country, years=())
    except NotImplementedError:
        raise DeadlineError(f"no public holidays known for country {country!r}") from None


@lru_cache(maxsize=64)
def _entity_languages(country: str) -> tuple[str, ...]:
    """(default language, *supported languages) of the country's holiday names."""
    entity = _entity(country)
    supported = tuple(entity.supported_languages)
    default = entity.default_language or (supported[0] if supported else "en_US")
    return (default, *supported)


@lru_cache(maxsize=256)
def _holiday_names(
    country: str, year: int, language: str, show_estimated: bool
) -> Mapping[date, str]:
    options = {}
    if _SHOW_ESTIMATED in _entity(country).get_supported_options():
        options[_SHOW_ESTIMATED] = show_estimated
    found = holidays.country_holidays(country, years=year, language=language, **options)
    return MappingProxyType({d: name for d, name in found.items() if d.year == year})


@lru_cache(maxsize=256)
def _holiday_dates(country: str, year: int) -> frozenset[date]:
    return frozenset(_holiday_names(country, year, _entity_languages(country)[0], True))
