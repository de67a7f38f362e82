"""Dashboard figures over the March 2026 of tests/dashboards/conftest.py, counted by hand.

The letters (local days; D1, D2 the departments; DEMANDE has a 10-calendar-day deadline):
  L10 registered 27 Feb, D1, closed 2 Mar (3 days, due 9 Mar: in time)
  L1  2 Mar, D1, closed 10 Mar (8 days, due 12 Mar: in time), rated 4 stars on 11 Mar,
      reopened on 27 Mar as R
  L2  3 Mar, received 1 Mar, D1, extended once (due 11 -> 16 Mar), answered by the reply O1 on
      14 Mar (13 days: in time)
  L3  3 Mar, D2, closed 25 Mar (22 days, due 13 Mar: late), rated 2 stars on 26 Mar
  L4  6 Mar, COURRIER, routed to D1, returned, routed to D2, closed 9 Mar (3 days, no deadline)
  L5  10 Mar, D1, open, due 23 Mar (the 20 Mar holiday pushes 20 -> 23)
  L7  12 Mar, cancelled 13 Mar
  O1  14 Mar, outgoing reply to L2 (so D1, DEMANDE)
  L8  15 Mar, COURRIER, never routed, open
  L11 16 Mar, D2, corrected from COURRIER to DEMANDE: due 26 Mar, open
  L9  20 Mar, outgoing, COURRIER, no department
  R   27 Mar, the reopening of L1: DEMANDE, back to D1, due 6 Apr, open
  L6  31 Mar 23:30 UTC = 1 Apr local, D2, due 13 Apr, open
"today" is Friday 10 April 2026.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Department, Letter, LetterFact, Role, User
from app.permissions import can_view_dashboard
from app.services import dashboards, letters, routing
from app.services.actor import Actor
from app.services.dashboards import BreakdownRow, Scope, VolumePoint
from app.worker import run_once
from tests.conftest import _user
from tests.dashboards.conftest import _action, build_march

TODAY = date(2026, 4, 10)


def _scope(march, **filters) -> Scope:
    return Scope(march.organisation.id, date(2026, 3, 1), date(2026, 3, 31), **filters)


def _work(application) -> None:
    run_once(application, check_deadlines=False)
    db.session.commit()


def _ids(march, figure: str, **filters) -> set[str]:
    names = {letter_id: name for name, letter_id in march.ids.items()}
    query = dashboards.drilldown(_scope(march, **filters), figure, TODAY)
    return {names[letter_id] for letter_id in db.session.scalars(query)}


MARCH_SUMMARY = dict(
    received=8,  # L1 L2 L3 L4 L5 L8 L11 R (L7 cancelled, L10 in February, L6 in April)
    sent=2,  # O1 L9
    open=5,  # L5 L6 L8 L11 R
    due_soon=1,  # L6 (13 Apr, within 10..13 Apr)
    overdue=3,  # L5 (23 Mar), L11 (26 Mar), R (6 Apr)
    closed=5,  # L10 L4 L1 L2 L3: 3, 3, 8, 13, 22 days
    median_days=8.0,  # rank ceil(5 * 0.5) = 3rd of 3,3,8,13,22
    p90_days=22.0,  # rank ceil(5 * 0.9) = 5th
    mean_days=9.8,  # 49 / 5
    with_deadline=4,  # all but L4
    in_time=3,  # L10 L1 L2
    in_time_share=0.75,
    extended=1,  # L2
    answered=1,  # L2, by its reply
    routed=7,  # L1 L2 L3 L4 L5 L11 R (not L8)
    returned=1,  # L4
    returned_rate=1 / 7,
    ratings=2,  # L1 4 stars, L3 2 stars
    satisfaction=3.0,
    reopened=1,  # R
)


def test_summary_of_the_administration(app, march):
    _work(app)
    summary = dashboards.summary(db.session, _scope(march), TODAY)
    assert summary == dashboards.Summary(**MARCH_SUMMARY)


def test_summary_of_a_department_and_of_a_type(app, march):
    _work(app)
    d1 = dashboards.summary(db.session, _scope(march, department_id=march.d1), TODAY)
    assert d1 == dashboards.Summary(
        received=4,  # L1 L2 L5 R
        sent=1,  # O1, the reply to L2
        open=2,  # L5 R
        due_soon=0,
        overdue=2,  # L5 R
        closed=3,  # L10 L1 L2: 3, 8, 13 days
        median_days=8.0,  # 2nd of 3
        p90_days=13.0,  # 3rd of 3
        mean_days=8.0,  # 24 / 3
        with_deadline=3,
        in_time=3,
        in_time_share=1.0,
        extended=1,  # L2
        answered=1,
        routed=4,  # L1 L2 L5 R
        returned=0,  # L4's return counts where it ended, D2
        returned_rate=0.0,
        ratings=1,  # L1
        satisfaction=4.0,
        reopened=1,
    )
    plain = dashboards.summary(db.session, _scope(march, letter_type_id=march.plain), TODAY)
    assert plain == dashboards.Summary(
        received=2,  # L4 L8 (L11 is a DEMANDE since its correction, L7 cancelled)
        sent=1,  # L9
        open=1,  # L8, no due date
        due_soon=0,
        overdue=0,
        closed=1,  # L4, 3 days
        median_days=3.0,
        p90_days=3.0,
        mean_days=3.0,
        with_deadline=0,
        in_time=0,
        in_time_share=None,
        extended=0,
        answered=0,
        routed=1,  # L4
        returned=1,
        returned_rate=1.0,
        ratings=0,
        satisfaction=None,
        reopened=0,
    )


def test_an_empty_period_has_no_shares(app, march):
    _work(app)
    empty = Scope(march.organisation.id, date(2025, 1, 1), date(2025, 1, 31))
    summary = dashboards.summary(db.session, empty, TODAY)
    assert (summary.received, summary.closed, summary.median_days, summary.mean_days) == (
        0, 0, None, None,
    )  # fmt: skip
    assert summary.in_time_share is None and summary.satisfaction is None
    assert summary.open == 5  # open letters are counted whatever the period
    other = Scope(march.organisation.id + 1000, date(2026, 3, 1), date(2026, 3, 31))
    assert dashboards.summary(db.session, other, TODAY).open == 0


def test_volumes_per_week_month_day_and_year(app, march):
    _work(app)
    assert dashboards.volumes(db.session, _scope(march), "week") == [
        VolumePoint(date(2026, 2, 23), 0, 0),  # Sunday 1 March only: nothing
        VolumePoint(date(2026, 3, 2), 4, 0),  # L1 L2 L3 L4
        VolumePoint(date(2026, 3, 9), 2, 1),  # L5 L8 (L7 cancelled); O1
        VolumePoint(date(2026, 3, 16), 1, 1),  # L11; L9
        VolumePoint(date(2026, 3, 23), 1, 0),  # R
        VolumePoint(date(2026, 3, 30), 0, 0),  # L6 is 1 April locally
    ]
    assert dashboards.volumes(db.session, _scope(march), "month") == [
        VolumePoint(date(2026, 3, 1), 8, 2)
    ]
    days = dashboards.volumes(db.session, _scope(march), "day")
    assert len(days) == 31 and days[2] == VolumePoint(date(2026, 3, 3), 2, 0)  # L2 L3
    year = Scope(march.organisation.id, date(2026, 1, 1), date(2026, 12, 31))
    assert dashboards.volumes(db.session, year, "year") == [
        VolumePoint(date(2026, 1, 1), 10, 2)  # March's 8, L10 and L6
    ]
    by_d2 = dashboards.volumes(db.session, _scope(march, department_id=march.d2), "month")
    assert by_d2 == [VolumePoint(date(2026, 3, 1), 3, 0)]  # L3 L4 L11


def test_volumes_refuse_bad_input(app, march):
    with pytest.raises(ValueError):
        dashboards.volumes(db.session, _scope(march), "quarter")
    backwards = Scope(march.organisation.id, date(2026, 3, 31), date(2026, 3, 1))
    with pytest.raises(ValueError):
        dashboards.volumes(db.session, backwards, "day")


def test_by_department(app, march):
    _work(app)
    assert dashboards.by_department(db.session, _scope(march), TODAY) == [
        # L1 L2 L5 R received; L10 L1 L2 closed (3, 8, 13 days, all in time); L5 R open and
        # overdue; L1 rated 4
        BreakdownRow(march.d1, 4, 3, 2, 2, 8.0, 13.0, 1.0, 4.0, 8.0),
        # L3 L4 L11 received; L4 (3 days, no deadline) and L3 (22, late) closed: median = 1st
        # of 2, p90 = 2nd; L6 L11 open, L11 overdue; L3 rated 2
        BreakdownRow(march.d2, 3, 2, 2, 1, 3.0, 22.0, 0.0, 2.0, 12.5),
        # L8, never routed: received, open, no due date
        BreakdownRow(None, 1, 0, 1, 0, None, None, None, None, None),
    ]


def test_by_type(app, march):
    _work(app)
    assert dashboards.by_type(db.session, _scope(march), TODAY) == [
        # L1 L2 L3 L5 L11 R received; L10 L1 L2 L3 closed (3, 8, 13, 22: median 2nd, p90 4th,
        # 3 of 4 in time); L5 L6 L11 R open, L5 L11 R overdue; ratings 4 and 2
        BreakdownRow(march.typed, 6, 4, 4, 3, 8.0, 22.0, 0.75, 3.0, 11.5),
        # L4 L8 received; L4 closed (3 days, no deadline); L8 open
        BreakdownRow(march.plain, 2, 1, 1, 0, 3.0, 3.0, None, None, 3.0),
    ]
    only_d2 = dashboards.by_type(db.session, _scope(march, department_id=march.d2), TODAY)
    assert [(row.key_id, row.received, row.open) for row in only_d2] == [
        (march.typed, 2, 2),  # L3 L11; L6 L11
        (march.plain, 1, 0),  # L4
    ]


DRILLDOWN = {
    "received": {"L1", "L2", "L3", "L4", "L5", "L8", "L11", "R"},
    "sent": {"O1", "L9"},
    "open": {"L5", "L6", "L8", "L11", "R"},
    "due_soon": {"L6"},
    "overdue": {"L5", "L11", "R"},
    "closed": {"L10", "L1", "L2", "L3", "L4"},
    "in_time": {"L10", "L1", "L2"},
    "late": {"L3"},
    "extended": {"L2"},
    "returned": {"L4"},
    "reopened": {"R"},
}


def test_drilldown_lists_the_letters_behind_each_figure(app, march):
    _work(app)
    assert set(DRILLDOWN) == set(dashboards.FIGURES)
    for figure, expected in DRILLDOWN.items():
        assert _ids(march, figure) == expected, figure


def test_drilldown_in_a_department_and_unknown_figures(app, march):
    _work(app)
    assert _ids(march, "open", department_id=march.d2) == {"L6", "L11"}
    assert _ids(march, "closed", letter_type_id=march.plain) == {"L4"}
    with pytest.raises(ValueError):
        dashboards.drilldown(_scope(march), "everything", TODAY)


def _facts(session) -> list[tuple]:
    columns = [column for column in LetterFact.__table__.columns]
    return [tuple(row) for row in session.execute(select(*columns).order_by(LetterFact.letter_id))]


def test_changes_after_the_first_refresh_reach_the_facts(app, march, clock):
    _work(app)
    officer = Actor(db.session.scalar(select(User).where(User.username == "d.officer")))
    l5, l8, l11 = (db.session.get(Letter, march.ids[name]) for name in ("L5", "L8", "L11"))
    clock.at(3, month=4)
    letters.correct_letter(db.session, officer, l8, {"letter_type_id": march.typed}, "Type.")
    letters.cancel_letter(db.session, officer, l5, "Doublon de L2.")
    routing.return_to_registry(db.session, Actor(_head(march, "D2")), _action(l11), "Pas ici.")
    routing.route_letter(db.session, officer, l11, march.d1)
    _work(app)
    fact = {name: db.session.get(LetterFact, march.ids[name]) for name in ("L5", "L8", "L11")}
    assert fact["L8"].letter_type_id == march.typed and fact["L8"].due_on == date(2026, 3, 25)
    assert fact["L5"].status == "cancelled"
    assert (fact["L11"].department_id, fact["L11"].returned) == (march.d1, True)
    summary = dashboards.summary(db.session, _scope(march), TODAY)
    assert (summary.received, summary.open, summary.overdue) == (
        7,  # L5 cancelled
        4,  # L6 L8 L11 R
        3,  # L8 (due 25 Mar, 10 days from 15 Mar), L11, R
    )
    assert (summary.routed, summary.returned) == (6, 2)  # L5 gone; L11 returned too
    d1 = dashboards.by_department(db.session, _scope(march), TODAY)[0]
    assert (d1.key_id, d1.received, d1.open) == (march.d1, 4, 2)  # L1 L2 L11 R; L11 R
    # and the full rebuild agrees with the refreshed rows, through the command line
    before = _facts(db.session)
    result = app.test_cli_runner().invoke(args=["dashboards", "rebuild"])
    assert result.exit_code == 0 and "13 letters" in result.output
    db.session.commit()
    assert _facts(db.session) == before


def _head(march, code):
    department = db.session.scalar(
        select(Department).where(
            Department.organisation_id == march.organisation.id, Department.code == code
        )
    )
    return db.session.scalar(select(User).where(User.department_id == department.id))


def test_rebuild_matches_the_worker_and_is_idempotent(app, march):
    from app.services import dashboard_facts

    _work(app)
    incremental = _facts(db.session)
    assert len(incremental) == 13
    assert dashboard_facts.rebuild(db.session, march.organisation.id) == 13
    assert _facts(db.session) == incremental
    assert dashboard_facts.rebuild(db.session) == 13
    assert _facts(db.session) == incremental
    result = app.test_cli_runner().invoke(args=["dashboards", "rebuild", "--org", "nope"])
    assert result.exit_code != 0 and "no organisation" in result.output


def test_who_may_see_which_dashboard(app, march):
    officer = _user(march.organisation, "d.officer2", [Role.REGISTRY_OFFICER])
    admin = _user(march.organisation, "d.admin2", [Role.ADMINISTRATOR])
    head = _head(march, "D1")
    assert can_view_dashboard(admin, None) and can_view_dashboard(admin, march.d2)
    assert can_view_dashboard(head, march.d1)
    assert not can_view_dashboard(head, march.d2) and not can_view_dashboard(head, None)
    assert not can_view_dashboard(officer, None) and not can_view_dashboard(officer, march.d1)


@pytest.mark.postgres
def test_the_same_figures_on_postgresql(pg_app, clock):
    march = build_march(clock)
    _work(pg_app)
    summary = dashboards.summary(db.session, _scope(march), TODAY)
    assert summary == dashboards.Summary(**MARCH_SUMMARY)
    assert dashboards.volumes(db.session, _scope(march), "month") == [
        VolumePoint(date(2026, 3, 1), 8, 2)
    ]
    rows = dashboards.by_department(db.session, _scope(march), TODAY)
    assert rows[1] == BreakdownRow(march.d2, 3, 2, 2, 1, 3.0, 22.0, 0.0, 2.0, 12.5)
    assert _ids(march, "late") == {"L3"} and _ids(march, "reopened") == {"R"}
    from app.services import dashboard_facts

    before = _facts(db.session)
    assert dashboard_facts.rebuild(db.session) == 13
    assert _facts(db.session) == before


def test_the_migration_fills_the_facts_of_existing_letters(tmp_path, new_database):
    from flask_migrate import upgrade

    from tests.conftest import make_app
    from tests.test_migrations import FIRST, _fill_first_schema

    instance = tmp_path / "instance"
    application = make_app(instance, DATABASE_URL=new_database(instance, empty=True))
    with application.app_context():
        upgrade(revision=FIRST)
        _fill_first_schema()  # one incoming letter, 2 January 2026 09:30 UTC, Casablanca
        db.session.remove()
        upgrade()
        fact = db.session.get(LetterFact, 1)
        assert (fact.register, fact.status, fact.registered_on) == (
            "incoming", "registered", date(2026, 1, 2),
        )  # fmt: skip
        assert fact.department_id is None and not fact.routed and fact.closed_on is None
        db.session.remove()
        db.engine.dispose()
