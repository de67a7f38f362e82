"""Due dates: extensions, urgent track, pauses, calendar-day roll-over and status."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from app.deadlines import (
    ACCESS_TO_INFORMATION,
    COMPLAINT,
    PLAIN_LETTER,
    DeadlineError,
    DeadlineRule,
    Remaining,
    WorkingCalendar,
    calendar_for,
    compute_due,
    procedure,
    procedures_for,
    remaining,
)

D = date.fromisoformat

ACCESS = ACCESS_TO_INFORMATION.rule
PAUSABLE_20 = DeadlineRule(days=20, unit="working", pausable=True)
PAUSABLE_30_CAL = DeadlineRule(days=30, unit="calendar", pausable=True)

# June 2026 in Morocco: Tuesday 16 is the (estimated) Islamic New Year, the only holiday.
# From Monday 1 June, 20 working days: 2-5, 8-12, 15, 17-19, 22-26, 29, 30 -> Tuesday 30 June.

# (country, rule, start, keyword arguments, due)
DUE_CASES = [
    pytest.param("MA", ACCESS, "2026-06-01", {}, "2026-06-30", id="access-20-working-days"),
    # + 20: 1-3, 6-10, 13-17, 20-24, 27, 28 July (Throne Day, 30 July, is beyond).
    pytest.param(
        "MA", ACCESS, "2026-06-01", {"extensions": 1}, "2026-07-28", id="access-one-extension"
    ),
    # Urgent: 3 working days from Thursday 4 June: 5, 8, 9; extended: 10, 11, 12.
    pytest.param("MA", ACCESS, "2026-06-04", {"urgent": True}, "2026-06-09", id="urgent-MA"),
    pytest.param("DZ", ACCESS, "2026-06-04", {"urgent": True}, "2026-06-09", id="urgent-DZ"),
    pytest.param(
        "MA",
        ACCESS,
        "2026-06-04",
        {"urgent": True, "extensions": 1},
        "2026-06-12",
        id="urgent-extended",
    ),
    # Pause Monday 8 -> Monday 15 June: 9, 10, 11, 12, 15 = 5 working days stopped.
    pytest.param(
        "MA",
        PAUSABLE_20,
        "2026-06-01",
        {"pauses": [(D("2026-06-08"), D("2026-06-15"))]},
        "2026-07-07",
        id="pause-5-working-days",
    ),
    # Pause Monday 15 -> Monday 22 June: 17, 18, 19, 22 = 4 (the 16th is a holiday).
    pytest.param(
        "MA",
        PAUSABLE_20,
        "2026-06-01",
        {"pauses": [(D("2026-06-15"), D("2026-06-22"))]},
        "2026-07-06",
        id="pause-over-a-holiday",
    ),
    # Two pauses, given out of order: 5 + 4 = 9 working days.
    pytest.param(
        "MA",
        PAUSABLE_20,
        "2026-06-01",
        {
            "pauses": [
                (D("2026-06-22"), D("2026-06-26")),
                (D("2026-06-08"), D("2026-06-15")),
            ]
        },
        "2026-07-13",
        id="two-pauses",
    ),
    # A pause that starts and ends the same day stops nothing.
    pytest.param(
        "MA",
        PAUSABLE_20,
        "2026-06-01",
        {"pauses": [(D("2026-06-08"), D("2026-06-08"))]},
        "2026-06-30",
        id="empty-pause",
    ),
    # Calendar days: 1 June + 30 = 1 July (Wednesday); a 10-day pause adds 10 calendar days.
    pytest.param("MA", PAUSABLE_30_CAL, "2026-06-01", {}, "2026-07-01", id="calendar-30"),
    pytest.param(
        "MA",
        PAUSABLE_30_CAL,
        "2026-06-01",
        {"pauses": [(D("2026-06-05"), D("2026-06-15"))]},
        "2026-07-13",  # 11 July is a Saturday -> Monday 13
        id="calendar-pause-then-roll",
    ),
    # Roll-over: Monday 1 June + 6 = Sunday 7 -> Monday 8 in Morocco...
    pytest.param(
        "MA",
        DeadlineRule(days=6, unit="calendar"),
        "2026-06-01",
        {},
        "2026-06-08",
        id="calendar-sunday-rolls-to-monday-MA",
    ),
    # ... while Sunday is a working day in Algeria,
    pytest.param(
        "DZ",
        DeadlineRule(days=6, unit="calendar"),
        "2026-06-01",
        {},
        "2026-06-07",
        id="calendar-sunday-stays-DZ",
    ),
    # and + 4 = Friday 5 -> Sunday 7 in Algeria, Friday 5 stays in Morocco.
    pytest.param(
        "DZ",
        DeadlineRule(days=4, unit="calendar"),
        "2026-06-01",
        {},
        "2026-06-07",
        id="calendar-friday-rolls-to-sunday-DZ",
    ),
    pytest.param(
        "MA",
        DeadlineRule(days=4, unit="calendar"),
        "2026-06-01",
        {},
        "2026-06-05",
        id="calendar-friday-stays-MA",
    ),
    pytest.param(
        "MA",
        DeadlineRule(days=6, unit="calendar", roll_to_working_day=False),
        "2026-06-01",
        {},
        "2026-06-07",
        id="calendar-no-roll",
    ),
    # Complaint, 60 calendar days: 31 May + 60 = Throne Day (Thursday 30 July) -> Friday 31.
    pytest.param("MA", COMPLAINT.rule, "2026-05-31", {}, "2026-07-31", id="complaint-60-days"),
    # Plain letter, 30 calendar days: 17 Feb 2026 + 30 = Thursday 19 March 2026.
    pytest.param("MA", PLAIN_LETTER.rule, "2026-02-17", {}, "2026-03-19", id="letter-30-days"),
    # ... 18 Feb + 30 = Friday 20 March, Eid al-Fitr (est.), then the weekend -> Monday 23.
    pytest.param("MA", PLAIN_LETTER.rule, "2026-02-18", {}, "2026-03-23", id="letter-over-eid-MA"),
    # ... in Algeria Friday 20 - Sunday 22 are Eid (and weekend) -> Monday 23 too.
    pytest.param("DZ", PLAIN_LETTER.rule, "2026-02-18", {}, "2026-03-23", id="letter-over-eid-DZ"),
]


@pytest.mark.parametrize(("country", "rule", "start", "kwargs", "due"), DUE_CASES)
def test_compute_due(
    calendars: dict[str, WorkingCalendar],
    country: str,
    rule: DeadlineRule,
    start: str,
    kwargs: dict,
    due: str,
) -> None:
    state = compute_due(rule, D(start), calendars[country], **kwargs)
    assert state.due == D(due)
    assert not state.paused
    assert calendars[country].is_working_day(state.due) or not rule.roll_to_working_day


def test_pause_of_five_working_days_pushes_the_due_date_by_five(ma: WorkingCalendar) -> None:
    start = D("2026-06-01")
    without = compute_due(PAUSABLE_20, start, ma).due
    paused = compute_due(PAUSABLE_20, start, ma, pauses=[(D("2026-06-08"), D("2026-06-15"))])
    assert paused.stopped_days == 5
    assert paused.due == ma.add_working_days(without, 5)
    assert ma.working_days_between(without, paused.due) == 5


def test_open_pause_stops_the_clock(ma: WorkingCalendar) -> None:
    start = D("2026-06-01")
    state = compute_due(PAUSABLE_20, start, ma, pauses=[(D("2026-06-08"), None)])
    assert state.due is None
    assert state.paused
    assert state.paused_since == D("2026-06-08")
    assert state.days_left_on_clock == 15  # 2, 3, 4, 5 and 8 June have run
    assert state.remaining(D("2026-09-01")) == Remaining(15, "paused", "working")
    # Once the citizen answers (15 June), the 15 days run again from the next working day.
    resumed = compute_due(PAUSABLE_20, start, ma, pauses=[(D("2026-06-08"), D("2026-06-15"))])
    assert resumed.due == ma.add_working_days(D("2026-06-15"), state.days_left_on_clock)


def test_open_pause_on_a_calendar_rule(ma: WorkingCalendar) -> None:
    state = compute_due(PAUSABLE_30_CAL, D("2026-06-01"), ma, pauses=[(D("2026-06-05"), None)])
    assert (state.due, state.paused, state.days_left_on_clock) == (None, True, 26)
    assert state.remaining(D("2026-06-20")) == Remaining(26, "paused", "calendar")


def test_acknowledgement_deadline(ma: WorkingCalendar) -> None:
    # 1 June + 15 = Tuesday 16 June, Islamic New Year (est.) in Morocco -> Wednesday 17.
    state = compute_due(COMPLAINT.rule, D("2026-06-01"), ma)
    assert state.acknowledge_due == D("2026-06-17")
    assert state.due == D("2026-07-31")
    assert compute_due(ACCESS, D("2026-06-01"), ma).acknowledge_due is None


# (rule, keyword arguments, error message)
ERROR_CASES = [
    pytest.param(ACCESS, {"extensions": 2}, "at most 1 extension", id="second-extension"),
    pytest.param(
        ACCESS, {"urgent": True, "extensions": 2}, "at most 1 extension", id="urgent-second"
    ),
    pytest.param(ACCESS, {"extensions": -1}, "cannot be negative", id="negative-extension"),
    pytest.param(COMPLAINT.rule, {"extensions": 1}, "at most 0 extension", id="no-extension"),
    pytest.param(COMPLAINT.rule, {"urgent": True}, "no urgent track", id="no-urgent-track"),
    pytest.param(
        replace(ACCESS, urgent_extension_days=None),
        {"urgent": True, "extensions": 1},
        "no extension on the urgent track",
        id="urgent-without-extension",
    ),
    pytest.param(
        ACCESS,
        {"pauses": [(D("2026-06-08"), D("2026-06-15"))]},
        "cannot be paused",
        id="not-pausable",
    ),
    pytest.param(
        PAUSABLE_20,
        {"pauses": [(D("2026-05-29"), D("2026-06-03"))]},
        "before the request",
        id="pause-before-start",
    ),
    pytest.param(
        PAUSABLE_20,
        {"pauses": [(D("2026-06-10"), D("2026-06-08"))]},
        "ends before it starts",
        id="pause-backwards",
    ),
    pytest.param(
        PAUSABLE_20,
        {"pauses": [(D("2026-06-08"), D("2026-06-15")), (D("2026-06-12"), D("2026-06-19"))]},
        "overlaps",
        id="overlapping-pauses",
    ),
    pytest.param(
        PAUSABLE_20,
        {"pauses": [(D("2026-06-08"), None), (D("2026-06-20"), D("2026-06-22"))]},
        "not the last",
        id="open-pause-not-last",
    ),
    pytest.param(
        PAUSABLE_20,
        {"pauses": [(D("2026-07-01"), None)]},
        "had expired",
        id="pause-after-expiry",
    ),
]


@pytest.mark.parametrize(("rule", "kwargs", "message"), ERROR_CASES)
def test_compute_due_errors(
    ma: WorkingCalendar, rule: DeadlineRule, kwargs: dict, message: str
) -> None:
    with pytest.raises(DeadlineError, match=message):
        compute_due(rule, D("2026-06-01"), ma, **kwargs)


def test_pause_may_start_on_the_due_date(ma: WorkingCalendar) -> None:
    state = compute_due(PAUSABLE_20, D("2026-06-01"), ma, pauses=[(D("2026-06-30"), None)])
    assert state.days_left_on_clock == 0


@pytest.mark.parametrize(
    ("rule_kwargs", "message"),
    [
        ({"days": 20, "unit": "weeks"}, "unit must be"),
        ({"days": -1, "unit": "working"}, "days cannot be negative"),
        ({"days": 1, "unit": "working", "urgent_days": -3}, "urgent_days cannot be negative"),
    ],
)
def test_rule_validation(rule_kwargs: dict, message: str) -> None:
    with pytest.raises(DeadlineError, match=message):
        DeadlineRule(**rule_kwargs)


# -- remaining -----------------------------------------------------------------------------------
# Due Tuesday 30 June 2026 in Morocco.
REMAINING_CASES = [
    pytest.param("2026-06-01", 3, Remaining(20, "on_time"), id="start"),
    pytest.param("2026-06-24", 3, Remaining(4, "on_time"), id="4-days-left"),
    pytest.param("2026-06-25", 3, Remaining(3, "due_soon"), id="3-days-left"),
    pytest.param("2026-06-27", 3, Remaining(2, "due_soon"), id="saturday"),
    pytest.param("2026-06-30", 3, Remaining(0, "due_soon"), id="due-today"),
    pytest.param("2026-06-30", 0, Remaining(0, "due_soon"), id="due-today-threshold-0"),
    pytest.param("2026-06-24", 5, Remaining(4, "due_soon"), id="threshold-5"),
    pytest.param("2026-07-01", 3, Remaining(-1, "overdue"), id="one-day-late"),
    pytest.param("2026-07-03", 3, Remaining(-3, "overdue"), id="three-days-late"),
    pytest.param("2026-07-05", 3, Remaining(-3, "overdue"), id="late-on-sunday"),
]


@pytest.mark.parametrize(("today", "threshold", "expected"), REMAINING_CASES)
def test_remaining(ma: WorkingCalendar, today: str, threshold: int, expected: Remaining) -> None:
    state = compute_due(ACCESS, D("2026-06-01"), ma)
    assert state.due == D("2026-06-30")
    assert state.remaining(D(today), due_soon_days=threshold) == expected
    assert remaining(state.due, D(today), ma, due_soon_days=threshold) == expected


def test_overdue_on_the_weekend_right_after_the_due_date(ma: WorkingCalendar) -> None:
    # Due Friday 26 June: on Saturday 27 no working day has passed, but the answer is late.
    assert remaining(D("2026-06-26"), D("2026-06-27"), ma) == Remaining(-1, "overdue")
    assert remaining(D("2026-06-26"), D("2026-06-29"), ma) == Remaining(-1, "overdue")
    assert remaining(D("2026-06-26"), D("2026-06-30"), ma) == Remaining(-2, "overdue")


# -- defaults ------------------------------------------------------------------------------------


def test_moroccan_defaults() -> None:
    expected = DeadlineRule(
        days=20,
        unit="working",
        extension_days=20,
        max_extensions=1,
        urgent_days=3,
        urgent_extension_days=3,
    )
    assert expected == ACCESS
    assert (COMPLAINT.rule.days, COMPLAINT.rule.unit, COMPLAINT.rule.acknowledge_days) == (
        60,
        "calendar",
        15,
    )
    assert (PLAIN_LETTER.rule.days, PLAIN_LETTER.rule.unit) == (30, "calendar")
    assert PLAIN_LETTER.legal_basis("fr") is None
    assert procedure("ma.complaint") is COMPLAINT
    assert [p.code for p in procedures_for("ma")] == [
        "ma.access_to_information",
        "ma.complaint",
        "letter",
    ]
    assert [p.code for p in procedures_for("DZ")] == ["letter"]


@pytest.mark.parametrize("proc", [ACCESS_TO_INFORMATION, COMPLAINT, PLAIN_LETTER])
def test_procedure_names(proc) -> None:
    names = {lang: proc.name(lang) for lang in ("ar", "fr", "en")}
    assert len(set(names.values())) == 3
    assert any("\u0600" <= ch <= "\u06ff" for ch in names["ar"])
    assert proc.name("fr-MA") == names["fr"]
    assert proc.name("de") == names["fr"]
    if proc.basis_fr is not None:
        assert "31-13" in proc.legal_basis("fr") or "2-17-265" in proc.legal_basis("fr")
        assert proc.legal_basis("ar") != proc.legal_basis("en")


def test_closures_move_a_calendar_day_deadline() -> None:
    cal = calendar_for("MA", closures=[D("2026-03-19")])
    assert compute_due(PLAIN_LETTER.rule, D("2026-02-17"), cal).due == D("2026-03-23")
