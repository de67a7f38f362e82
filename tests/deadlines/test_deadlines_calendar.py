"""Working days in Morocco and Algeria: weekends, holidays (national and Islamic), closures."""

from __future__ import annotations

from datetime import date

import pytest

from app.deadlines import DEFAULT_WEEKENDS, DeadlineError, WorkingCalendar, calendar_for

D = date.fromisoformat

# Islamic holidays of 2026 and 2027 as `holidays` estimates them (Umm al-Qura tables, every one
# labelled "estimated"; Morocco and Algeria fix them by moon sighting). Written out on purpose: a
# library update that moves or confirms one of them fails here and in the cases below, so that
# we look at it rather than silently shifting citizens' deadlines.
ESTIMATED_ISLAMIC_HOLIDAYS: dict[str, list[tuple[str, str]]] = {
    "MA": [
        ("2026-03-20", "Eid al-Fitr"),
        ("2026-03-21", "Eid al-Fitr"),
        ("2026-05-27", "Eid al-Adha"),
        ("2026-05-28", "Eid al-Adha"),
        ("2026-06-16", "Islamic New Year"),
        ("2026-08-25", "Prophet's Birthday"),
        ("2026-08-26", "Prophet's Birthday"),
        ("2027-03-09", "Eid al-Fitr"),
        ("2027-03-10", "Eid al-Fitr"),
        ("2027-05-16", "Eid al-Adha"),
        ("2027-05-17", "Eid al-Adha"),
        ("2027-06-06", "Islamic New Year"),
        ("2027-08-14", "Oued Ed-Dahab Day; Prophet's Birthday"),  # both on 14 August
        ("2027-08-15", "Prophet's Birthday"),
    ],
    "DZ": [
        ("2026-03-20", "Eid al-Fitr"),
        ("2026-03-21", "Eid al-Fitr"),
        ("2026-03-22", "Eid al-Fitr"),  # third day since law 23-10 (2023)
        ("2026-05-27", "Eid al-Adha"),
        ("2026-05-28", "Eid al-Adha"),
        ("2026-05-29", "Eid al-Adha"),
        ("2026-06-16", "Islamic New Year"),
        ("2026-06-25", "Ashura"),
        ("2026-08-25", "Prophet's Birthday"),
        ("2027-03-09", "Eid al-Fitr"),
        ("2027-03-10", "Eid al-Fitr"),
        ("2027-03-11", "Eid al-Fitr"),
        ("2027-05-16", "Eid al-Adha"),
        ("2027-05-17", "Eid al-Adha"),
        ("2027-05-18", "Eid al-Adha"),
        ("2027-06-06", "Islamic New Year"),
        ("2027-06-15", "Ashura"),
        ("2027-08-14", "Prophet's Birthday"),
    ],
}


@pytest.mark.parametrize("country", ["MA", "DZ"])
def test_estimated_islamic_holidays_are_exactly_the_table(
    calendars: dict[str, WorkingCalendar], country: str
) -> None:
    cal = calendars[country]
    found = [
        (h.date.isoformat(), h.name.removesuffix(" (estimated)"))
        for h in cal.holidays_between(D("2026-01-01"), D("2027-12-31"), "en")
        if h.estimated
    ]
    assert found == ESTIMATED_ISLAMIC_HOLIDAYS[country]
    for day, name in ESTIMATED_ISLAMIC_HOLIDAYS[country]:
        assert cal.holiday_name(D(day), "en") == f"{name} (estimated)"
        assert not cal.is_working_day(D(day))


# -- the table of working-day deadlines --------------------------------------------------------
# (country, start, working days, due). The same start in both countries shows the weekend and
# the holidays of each; the comment lists the working days counted (start never counts).
WORKING_DAY_CASES = [
    # Weekends: Saturday-Sunday in Morocco, Friday-Saturday in Algeria.
    pytest.param("MA", "2026-06-04", 1, "2026-06-05", id="weekend-MA-thu+1=fri"),
    pytest.param("DZ", "2026-06-04", 1, "2026-06-07", id="weekend-DZ-thu+1=sun"),
    pytest.param("MA", "2026-06-05", 1, "2026-06-08", id="weekend-MA-fri+1=mon"),
    pytest.param("DZ", "2026-06-05", 1, "2026-06-07", id="weekend-DZ-fri+1=sun"),
    pytest.param("MA", "2026-06-06", 2, "2026-06-09", id="weekend-MA-start-on-sat"),
    pytest.param("DZ", "2026-06-06", 2, "2026-06-08", id="weekend-DZ-start-on-sat"),
    # Morocco, Independence Day, Wed 18 Nov 2026: 13, 16, 17, 19, 20.
    pytest.param("MA", "2026-11-12", 5, "2026-11-20", id="MA-independence-18-nov"),
    pytest.param("DZ", "2026-11-12", 5, "2026-11-19", id="DZ-no-holiday-18-nov"),
    # Morocco, Throne Day, Thu 30 Jul 2026: 28, 29, 31, 3 Aug, 4 Aug.
    pytest.param("MA", "2026-07-27", 5, "2026-08-04", id="MA-throne-day-30-jul"),
    pytest.param("DZ", "2026-07-27", 5, "2026-08-03", id="DZ-no-holiday-30-jul"),
    # Algeria, Revolution Day, Mon 1 Nov 2027: 28 Oct, 31 Oct, 2, 3, 4 Nov.
    pytest.param("DZ", "2027-10-27", 5, "2027-11-04", id="DZ-revolution-1-nov-2027"),
    pytest.param("MA", "2027-10-27", 5, "2027-11-03", id="MA-unity-day-31-oct-is-sunday"),
    # Algeria, Revolution Day on Sunday 1 Nov 2026: 2, 3, 4 Nov.
    pytest.param("DZ", "2026-10-29", 3, "2026-11-04", id="DZ-revolution-1-nov-2026-sunday"),
    pytest.param("MA", "2026-10-29", 3, "2026-11-03", id="MA-30-oct-2-3-nov"),
    # Algeria, Independence Day, Mon 5 Jul 2027: 4, 6, 7, 8, 11 Jul.
    pytest.param("DZ", "2027-07-01", 5, "2027-07-11", id="DZ-independence-5-jul"),
    pytest.param("MA", "2027-07-01", 5, "2027-07-08", id="MA-no-holiday-5-jul"),
    # Eid al-Fitr 2026 (est. Fri 20 - Sat 21, DZ also Sun 22): MA 17, 18, 19, 23, 24;
    # DZ 17, 18, 19, 23, 24 (Sunday 22 is the third day of Eid).
    pytest.param("MA", "2026-03-16", 5, "2026-03-24", id="MA-eid-al-fitr-2026"),
    pytest.param("DZ", "2026-03-16", 5, "2026-03-24", id="DZ-eid-al-fitr-2026"),
    # Eid al-Fitr 2027 (est. Tue 9 - Wed 10, DZ also Thu 11): MA 5, 8, 11, 12, 15;
    # DZ 7, 8, 14, 15, 16.
    pytest.param("MA", "2027-03-04", 5, "2027-03-15", id="MA-eid-al-fitr-2027"),
    pytest.param("DZ", "2027-03-04", 5, "2027-03-16", id="DZ-eid-al-fitr-2027"),
    # Eid al-Adha 2026 (est. Wed 27 - Thu 28, DZ also Fri 29): MA 25, 26, 29, 1 Jun, 2 Jun;
    # DZ 24, 25, 26, 31 May, 1 Jun.
    pytest.param("MA", "2026-05-22", 5, "2026-06-02", id="MA-eid-al-adha-2026"),
    pytest.param("DZ", "2026-05-22", 5, "2026-06-01", id="DZ-eid-al-adha-2026"),
    # Eid al-Adha 2027 (est. Sun 16 - Mon 17, DZ also Tue 18): MA 13, 14, 18, 19, 20;
    # DZ 13, 19, 20, 23, 24.
    pytest.param("MA", "2027-05-12", 5, "2027-05-20", id="MA-eid-al-adha-2027"),
    pytest.param("DZ", "2027-05-12", 5, "2027-05-24", id="DZ-eid-al-adha-2027"),
    # Islamic New Year, Tue 16 Jun 2026: MA 15, 17, 18, 19, 22; DZ 14, 15, 17, 18, 21.
    pytest.param("MA", "2026-06-12", 5, "2026-06-22", id="MA-islamic-new-year-2026"),
    pytest.param("DZ", "2026-06-12", 5, "2026-06-21", id="DZ-islamic-new-year-2026"),
    # Mawlid 2026 (est. Tue 25, MA also Wed 26): MA 27, 28, 31, 1, 2; DZ 26, 27, 30, 31, 1.
    pytest.param("MA", "2026-08-24", 5, "2026-09-02", id="MA-mawlid-2026-two-days"),
    pytest.param("DZ", "2026-08-24", 5, "2026-09-01", id="DZ-mawlid-2026-one-day"),
    # Year boundary, 1 January a holiday in both (Thu 1 Jan 2026): MA 25, 26, 29, 30, 31, 2 Jan;
    # DZ 25, 28, 29, 30, 31, 4 Jan.
    pytest.param("MA", "2025-12-24", 6, "2026-01-02", id="MA-year-boundary"),
    pytest.param("DZ", "2025-12-24", 6, "2026-01-04", id="DZ-year-boundary"),
    # Amazigh New Year: 14 Jan in Morocco (since 2024), 12 Jan in Algeria (since 2018).
    pytest.param("MA", "2027-01-13", 1, "2027-01-15", id="MA-amazigh-new-year-14-jan"),
    pytest.param("DZ", "2027-01-11", 1, "2027-01-13", id="DZ-amazigh-new-year-12-jan"),
    # n = 0 is the start day itself, even on a weekend.
    pytest.param("MA", "2026-06-06", 0, "2026-06-06", id="zero-days"),
]


@pytest.mark.parametrize(("country", "start", "n", "due"), WORKING_DAY_CASES)
def test_add_working_days(
    calendars: dict[str, WorkingCalendar], country: str, start: str, n: int, due: str
) -> None:
    cal = calendars[country]
    assert cal.add_working_days(D(start), n) == D(due)
    assert cal.working_days_between(D(start), D(due)) == n
    if n:
        assert cal.is_working_day(D(due))
        assert cal.add_working_days(D(due), -n) <= D(start)  # backwards lands on or before


def test_organisation_closure_day() -> None:
    plain = calendar_for("MA")
    closed = calendar_for("MA", closures=[D("2026-06-05")])  # the office closes on Friday 5
    assert plain.add_working_days(D("2026-06-01"), 5) == D("2026-06-08")
    assert closed.add_working_days(D("2026-06-01"), 5) == D("2026-06-09")
    assert not closed.is_working_day(D("2026-06-05"))
    assert closed.holiday_name(D("2026-06-05")) is None  # a closure is not a public holiday


def test_announced_eid_replaces_the_estimate() -> None:
    """Authorities announce Eid al-Fitr for Saturday 21 March: Friday 20 is worked."""
    estimated = calendar_for("MA")
    announced = calendar_for("MA", ignored_holidays=[D("2026-03-20")])
    assert estimated.add_working_days(D("2026-03-16"), 5) == D("2026-03-24")
    assert announced.add_working_days(D("2026-03-16"), 5) == D("2026-03-23")
    assert announced.holiday_name(D("2026-03-20")) is None
    assert announced.holiday_name(D("2026-03-21"), "en") == "Eid al-Fitr (estimated)"


@pytest.mark.parametrize(
    ("country", "day", "ar", "fr", "en"),
    [
        ("MA", "2026-11-18", "عيد الاستقلال", "Fête de l'indépendance", "Independence Day"),
        ("MA", "2026-07-30", "عيد العرش", "Fête du Trône", "Throne Day"),
        ("DZ", "2026-11-01", "عيد الثورة", "Fête de la Révolution", "Revolution Day"),
        ("DZ", "2026-07-05", "عيد الاستقلال", "Fête de l'Indépendance", "Independence Day"),
        (
            "MA",
            "2026-03-20",
            "عيد الفطر (تقديري)",
            "Fête de la rupture du jeûne (estimé)",
            "Eid al-Fitr (estimated)",
        ),
        (
            "DZ",
            "2026-03-22",
            "عيد الفطر (تقديري)",
            "Aïd el-Fitr (estimé)",
            "Eid al-Fitr (estimated)",
        ),
        (
            "DZ",
            "2026-08-25",
            "عيد المولد النبوي (تقديري)",
            "El-Mawlid Ennabawi Echarif (estimé)",
            "Prophet's Birthday (estimated)",
        ),
    ],
)
def test_holiday_names_in_three_languages(
    calendars: dict[str, WorkingCalendar], country: str, day: str, ar: str, fr: str, en: str
) -> None:
    cal = calendars[country]
    assert cal.holiday_name(D(day), "ar") == ar
    assert cal.holiday_name(D(day), "fr") == fr
    assert cal.holiday_name(D(day), "en") == en
    assert cal.holiday_name(D(day), "fr-MA") == fr  # region and dash accepted
    assert cal.holiday_name(D(day), "en_GB") == en


def test_holiday_name_in_unsupported_language_is_the_country_language(ma: WorkingCalendar) -> None:
    assert ma.holiday_name(D("2026-07-30"), "de") == "عيد العرش"
    assert ma.holiday_name(D("2026-07-31"), "fr") is None


def test_holiday_names_do_not_depend_on_the_locale_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given no usable language, the library reads LANGUAGE/LC_ALL/LANG: we always pass one."""
    from app.deadlines import calendar as calendar_module

    calendar_module._holiday_names.cache_clear()
    calendar_module._holiday_dates.cache_clear()
    monkeypatch.setenv("LANGUAGE", "fr")
    monkeypatch.setenv("LC_ALL", "fr_FR.UTF-8")
    try:
        cal = calendar_for("MA")
        assert cal.holiday_name(D("2026-07-30"), "en") == "Throne Day"
        assert cal.holiday_name(D("2026-07-30"), "xx") == "عيد العرش"
    finally:
        calendar_module._holiday_names.cache_clear()
        calendar_module._holiday_dates.cache_clear()


def test_default_weekends() -> None:
    assert calendar_for("ma").weekend == frozenset({5, 6}) == DEFAULT_WEEKENDS["MA"]
    assert calendar_for("DZ").weekend == frozenset({4, 5}) == DEFAULT_WEEKENDS["DZ"]
    assert calendar_for("TN").weekend == frozenset({5, 6})  # from the holidays package
    assert calendar_for("DZ", weekend=[3, 4]).weekend == frozenset({3, 4})


def test_working_days_between_is_signed(ma: WorkingCalendar) -> None:
    assert ma.working_days_between(D("2026-06-01"), D("2026-06-08")) == 5
    assert ma.working_days_between(D("2026-06-08"), D("2026-06-01")) == -5
    assert ma.working_days_between(D("2026-06-06"), D("2026-06-07")) == 0  # a weekend
    assert ma.next_working_day(D("2026-06-06")) == D("2026-06-08")


def test_calendars_are_hashable_values() -> None:
    a = calendar_for("MA", closures=[D("2026-06-05")])
    b = WorkingCalendar("ma", frozenset({5, 6}), frozenset({D("2026-06-05")}))
    assert a == b
    assert len({a, b}) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"country": "XX"}, "no public holidays known"),
        ({"country": "MAR"}, "ISO 3166-1 alpha-2"),
        ({"country": "MA", "weekend": range(7)}, "at least one working weekday"),
        ({"country": "MA", "weekend": [7]}, "weekday numbers 0-6"),
    ],
)
def test_calendar_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(DeadlineError, match=message):
        calendar_for(**kwargs)
