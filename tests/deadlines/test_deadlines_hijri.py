"""Hijri (Umm al-Qura) dates beside Gregorian ones.

Known dates were cross-checked against a second, independent implementation: ICU's
``islamic-umalqura`` calendar (ICU 78.2 in Node.js,
``Intl.DateTimeFormat("en-u-ca-islamic-umalqura")``) gives the same day for every date below.
A third source, the Umm al-Qura tables that ``holidays`` ships, is compared in
``test_agrees_with_the_holidays_package``.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from app.deadlines import calendar_for, format_hijri, hijri_month_name, to_hijri
from app.deadlines.hijri import HIJRI_MONTHS

D = date.fromisoformat

KNOWN_DATES = [
    pytest.param("2026-11-23", (1448, 6, 13), id="2026-11-23"),
    pytest.param("2026-02-18", (1447, 9, 1), id="1-ramadan-1447"),
    pytest.param("2026-03-20", (1447, 10, 1), id="1-shawwal-1447"),
    pytest.param("2026-05-27", (1447, 12, 10), id="10-dhu-al-hijja-1447"),
    pytest.param("2026-06-16", (1448, 1, 1), id="1-muharram-1448"),
    pytest.param("2026-08-25", (1448, 3, 12), id="12-rabi-al-awwal-1448"),
    pytest.param("2027-03-09", (1448, 10, 1), id="1-shawwal-1448"),
    pytest.param("2026-01-01", (1447, 7, 12), id="2026-01-01"),
    pytest.param("2017-06-23", (1438, 9, 28), id="decree-2-17-265"),
]


@pytest.mark.parametrize(("gregorian", "hijri"), KNOWN_DATES)
def test_known_dates(gregorian: str, hijri: tuple[int, int, int]) -> None:
    result = to_hijri(D(gregorian))
    assert result == hijri
    assert (result.year, result.month, result.day) == hijri


@pytest.mark.parametrize(
    ("gregorian", "language", "text"),
    [
        ("2026-11-23", "ar", "13 جمادى الآخرة 1448"),
        ("2026-11-23", "fr", "13 Joumada al-akhira 1448"),
        ("2026-11-23", "en", "13 Jumada al-Akhirah 1448"),
        ("2026-10-23", "ar", "12 جمادى الأولى 1448"),
        ("2026-10-23", "fr", "12 Joumada al-oula 1448"),
        ("2026-02-18", "fr", "1er Ramadan 1447"),
        ("2026-02-18", "ar", "1 رمضان 1447"),
        ("2026-02-18", "en-GB", "1 Ramadan 1447"),
        ("2026-06-16", "fr_MA", "1er Mouharram 1448"),
        ("2026-05-27", "en", "10 Dhu al-Hijjah 1447"),
        ("2026-05-27", "de", "10 ذو الحجة 1447"),  # unknown language: Arabic
    ],
)
def test_format_hijri(gregorian: str, language: str, text: str) -> None:
    assert format_hijri(D(gregorian), language) == text


def test_datetime_is_accepted() -> None:
    assert to_hijri(datetime(2026, 2, 18, 23, 59)) == (1447, 9, 1)


def test_month_names() -> None:
    assert all(len(names) == 12 for names in HIJRI_MONTHS.values())
    assert hijri_month_name(9, "fr") == "Ramadan"
    assert hijri_month_name(1, "ar") == "محرم"
    with pytest.raises(ValueError, match="1-12"):
        hijri_month_name(13)


@pytest.mark.parametrize("outside", ["1924-07-31", "2077-11-17"])
def test_outside_the_table(outside: str) -> None:
    with pytest.raises(ValueError, match="outside the Umm al-Qura table"):
        to_hijri(D(outside))


@pytest.mark.parametrize("country", ["MA", "DZ"])
def test_agrees_with_the_holidays_package(country: str) -> None:
    """Both libraries use Umm al-Qura: each estimated Islamic holiday's first day matches."""
    first_day = {
        "Eid al-Fitr": (10, 1),
        "Eid al-Adha": (12, 10),
        "Islamic New Year": (1, 1),
        "Prophet's Birthday": (3, 12),
    }
    cal = calendar_for(country)
    checked = 0
    for holiday in cal.holidays_between(D("2020-01-01"), D("2030-12-31"), "en"):
        day_before = cal.holiday_name(date.fromordinal(holiday.date.toordinal() - 1), "en") or ""
        for name, month_day in first_day.items():
            if name in holiday.name and name not in day_before:  # first day of the holiday
                assert to_hijri(holiday.date)[1:] == month_day, holiday
                checked += 1
    assert checked == 4 * 11  # four holidays a year, 2020-2030
