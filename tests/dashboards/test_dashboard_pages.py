"""The dashboard pages, the drill-down, the CSV export and the public transparency page, checked
against figures counted by hand on the fixed data set of tests/dashboards/ui_dataset.py (its
docstring lists the letters), in Arabic and in French.

Today's period ("this month") holds every letter: they are all registered, closed and rated on
the day the test runs. Numbers are read from the data-value hooks of the page, as shown.
"""

# The fixtures imported from ui_fixtures come back as test parameters:
# ruff: noqa: F811

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.models import Letter, Role
from app.services import organisations as orgs
from app.services import pki
from tests.conftest import PASSWORD
from tests.dashboards.ui_dataset import SUBJECTS, build, make_world, signed_in
from tests.dashboards.ui_fixtures import (  # noqa: F401  (fixtures)
    NBSP,
    app,
    built,
    data,
    speaking,
    values,
    world,
)

# The administration's summary, counted by hand from the data set:
#   received 11: L1-L8, L10, L11, L12 (L9 cancelled); sent 2: O1, O2
#   open 5: L5 L6 L7 L8 L11; due soon 1: L6; overdue 1: L5
#   closed 6: L1 L2 L3 L4 L10 L12, processing days 20 4 12 7 0 0 -> sorted 0 0 4 7 12 20:
#     median (nearest rank 3 of 6) 4, 90th percentile (rank 6 of 6) 20, mean 43/6 = 7.17
#   with a deadline 4 (L1 L2 L3 L10), in time 3 (L2 L3 L10) -> 75 %, late 1 (L1)
#   extended 1 (L3); routed 11, returned 1 (L8) -> 1/11 = 9.1 %
#   ratings 2 (4 and 5 stars) -> 4.5; reopened 1 (L11)
SUMMARY = {
    "fr": {
        "received": "11",
        "sent": "2",
        "open": "5",
        "due_soon": "1",
        "overdue": "1",
        "closed": "6",
        "extended": "1",
        "reopened": "1",
        "in_time_share": f"75,0{NBSP}%",
        "median_days": "4,0",
        "returned_rate": f"9,1{NBSP}%",
        "satisfaction": "4,5",
    },
    "ar": {
        "received": "11",
        "sent": "2",
        "open": "5",
        "due_soon": "1",
        "overdue": "1",
        "closed": "6",
        "extended": "1",
        "reopened": "1",
        "in_time_share": "75.0%",
        "median_days": "4.0",
        "returned_rate": "9.1%",
        "satisfaction": "4.5",
    },
}
# Per department (the last action department not returned):
#   DRH: L1 L2 L3 L6 L12 -> received 5; closed 4 (20 4 12 0 -> median rank 2 of 4 = 4,
#        90th rank 4 of 4 = 20); open 1 (L6); in time 2 of 3 with a deadline; L12 rated 5
#   DSI: L4 L5 L8 L10 L11 -> received 5; closed 2 (7 0 -> median 0, 90th 7); open 3, overdue 1
#        (L5); in time 1 of 1 (L10); L10 rated 4
#   DAJ: L7 -> received 1, open 1 (L8 was returned by DAJ: it is DSI's)
DEPARTMENTS = {
    "DRH": {"received": "5", "closed": "4", "open": "1", "overdue": "0"},
    "DSI": {"received": "5", "closed": "2", "open": "3", "overdue": "1"},
    "DAJ": {"received": "1", "closed": "0", "open": "1", "overdue": "0"},
}
DEPARTMENT_MEASURES = {
    "fr": {
        "DRH": ("4,0", "20,0", f"66,7{NBSP}%", "5,0"),
        "DSI": ("0,0", "7,0", f"100,0{NBSP}%", "4,0"),
    },
    "ar": {"DRH": ("4.0", "20.0", "66.7%", "5.0"), "DSI": ("0.0", "7.0", "100.0%", "4.0")},
}


def row(page: str, table: str, key: int) -> str:
    match = re.search(rf'id="table-{table}".*?<tr data-key="{key}">(.*?)</tr>', page, re.S)
    assert match, f"no row {key} in {table}"
    return match.group(1)


def cells(row_html: str) -> dict[str, str]:
    """A breakdown row's counts (inside their links) and measures."""
    return {
        name: re.sub(r"<[^>]+>", "", text).strip()
        for name, text in re.findall(r'data-value="([a-z_0-9]+)">(.*?)</td>', row_html, re.S)
    }


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_administration_sees_hand_counted_figures(data, client_for, language):
    admin = speaking(client_for("admin"), language)
    response = admin.get("/dashboard")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<html lang="{language}" dir="{"rtl" if language == "ar" else "ltr"}"' in page
    shown = values(page)
    for name, expected in SUMMARY[language].items():
        assert shown[name] == expected, name
    p90 = "20,0" if language == "fr" else "20.0"
    assert p90 in shown["p90_days"]
    # "2 évaluations", "تقييمان (2)": the count, in each language's plural form.
    assert re.search(r"\b2\b", shown["ratings"]), shown["ratings"]
    assert re.search(r'data-figure="in_time">3\b', page)  # 3 in time
    assert re.search(r'data-figure="late">1\b', page)  # 1 late
    assert re.search(r'data-figure="returned">1\b.*?11', page)  # 1 of 11 routed
    for code, counts in DEPARTMENTS.items():
        got = cells(row(page, "departments", data.departments[code]))
        assert {k: got[k] for k in counts} == counts, code
    for code, (median, p90, share, stars) in DEPARTMENT_MEASURES[language].items():
        got = cells(row(page, "departments", data.departments[code]))
        assert (got["median_days"], got["p90_days"], got["in_time_share"]) == (median, p90, share)
        assert got["satisfaction"] == stars
    # Per type: DEM L1 L2 L3 L5 L6 L7 L10 L11 (8, closed 4, open 4, overdue 1);
    # COURRIER L4 L8 L12 (3, closed 2, open 1).
    dem = cells(row(page, "types", data.types["DEM"]))
    assert [dem[k] for k in ("received", "closed", "open", "overdue")] == ["8", "4", "4", "1"]
    courrier = cells(row(page, "types", data.types["COURRIER"]))
    assert [courrier[k] for k in ("received", "closed", "open")] == ["3", "2", "1"]
    assert courrier["in_time_share"] == "—"  # no deadline: no share
    # The chart, right to left in Arabic, with its numbers in a table beside it.
    svg = re.search(r'<svg[^>]*id="chart-volumes"[^>]*>', page).group(0)
    assert 'role="img"' in svg and f'direction="{"rtl" if language == "ar" else "ltr"}"' in svg
    assert "<title>" in page and 'style="' not in page
    month = "janv." if language == "fr" else "يناير"
    assert month in admin.get("/dashboard?period=year&grain=month").get_data(as_text=True)


def test_a_head_sees_their_department_and_no_other(data, client_for):
    head = speaking(client_for("head.drh"), "fr")
    page = head.get("/dashboard").get_data(as_text=True)
    shown = values(page)
    # DRH alone: received 5, closed 4 (median 4, 90th 20), open 1, due soon 1 (L6), sent 1 (O1
    # answers L2), in time 2 of 3 with a deadline, 1 rating (5 stars).
    assert [shown[k] for k in ("received", "sent", "open", "due_soon", "overdue", "closed")] == [
        "5",
        "1",
        "1",
        "1",
        "0",
        "4",
    ]
    assert (shown["median_days"], shown["in_time_share"]) == ("4,0", f"66,7{NBSP}%")
    assert shown["satisfaction"] == "5,0"
    assert 'id="table-departments"' not in page  # a head has no department breakdown
    assert 'href="/dashboard"' in page  # the main menu's link
    dsi = data.departments["DSI"]
    for url in (
        f"/dashboard?department={dsi}",
        f"/dashboard/letters?figure=received&department={dsi}",
        f"/dashboard/export.csv?department={dsi}",
    ):
        assert head.get(url).status_code == 403, url
    agent = client_for("agent.drh")
    for url in ("/dashboard", "/dashboard/letters?figure=received", "/dashboard/export.csv"):
        assert agent.get(url).status_code == 403, url
    assert 'href="/dashboard"' not in agent.get("/inbox").get_data(as_text=True)
    assert client_for("officer").get("/dashboard").status_code == 403


def test_another_organisation_sees_none_of_it(app, data, world, client_for):
    orgs.create_user(
        db.session,
        None,
        world.other_org,
        username="other.admin",
        full_name="Other Admin",
        password=PASSWORD,
        roles=[Role.ADMINISTRATOR],
    )
    other = client_for("other.admin")
    page = other.get("/dashboard").get_data(as_text=True)
    assert values(page)["received"] == "0" and values(page)["closed"] == "0"
    dsi = data.departments["DSI"]
    assert other.get(f"/dashboard?department={dsi}").status_code == 404
    assert other.get(f"/dashboard/letters?figure=open&department={dsi}").status_code == 404
    assert other.get(f"/dashboard?letter_type={data.types['DEM']}").status_code == 404
    listing = other.get("/dashboard/letters?figure=received").get_data(as_text=True)
    assert 'data-total="0"' in listing and data.numbers["L1"] not in listing


def listed(page: str) -> list[str]:
    return re.findall(r'<td class="number"><bdi dir="ltr"><a href="/letters/\d+">([^<]+)</a>', page)


def test_a_figure_leads_to_the_letters_behind_it(app, data, client_for):
    admin = client_for("admin")
    n = data.numbers
    page = admin.get("/dashboard/letters?figure=received").get_data(as_text=True)
    # 11 received; L7 is confidential: the administrator may not see it.
    assert 'data-total="11" data-hidden="1"' in page
    received = ["L1", "L2", "L3", "L4", "L5", "L6", "L8", "L10", "L11", "L12"]
    assert sorted(listed(page)) == sorted(n[k] for k in received)
    assert SUBJECTS["L7"] not in page
    for figure, keys in (
        ("overdue", ["L5"]),
        ("due_soon", ["L6"]),
        ("late", ["L1"]),
        ("in_time", ["L2", "L3", "L10"]),
        ("extended", ["L3"]),
        ("returned", ["L8"]),
        ("reopened", ["L11"]),
        ("sent", ["O1", "O2"]),
    ):
        page = admin.get(f"/dashboard/letters?figure={figure}").get_data(as_text=True)
        assert sorted(listed(page)) == sorted(n[k] for k in keys), figure
    # From the DAJ row of the breakdown: its one open letter is the confidential one.
    daj = data.departments["DAJ"]
    dashboard = admin.get("/dashboard").get_data(as_text=True)
    link = f"/dashboard/letters?figure=open&amp;period=month&amp;department={daj}"
    assert link in dashboard
    page = admin.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert 'data-total="1" data-hidden="1"' in page and listed(page) == []
    head = client_for("head.daj")  # DAJ sees it: it was routed there
    page = head.get(f"/dashboard/letters?figure=open&department={daj}").get_data(as_text=True)
    assert listed(page) == [n["L7"]] and 'data-hidden="0"' in page
    assert admin.get("/dashboard/letters?figure=everything").status_code == 404
    assert admin.get("/dashboard/letters").status_code == 404


def test_the_drill_down_pages_by_keyset(app, data, client_for):
    app.config["PAGE_SIZE"] = 3
    admin = client_for("admin")
    url, seen = "/dashboard/letters?figure=received", []
    while url:
        page = admin.get(url).get_data(as_text=True)
        seen += listed(page)
        following = re.search(r'rel="next" href="([^"]+)"', page)
        url = following.group(1).replace("&amp;", "&") if following else None
    assert len(seen) == len(set(seen)) == 10  # every visible letter once, newest first
    by_number = {n: db.session.get(Letter, data.letter_ids[k]) for k, n in data.numbers.items()}
    moments = [(by_number[x].registered_at, by_number[x].id) for x in seen]
    assert moments == sorted(moments, reverse=True)


@pytest.mark.parametrize(
    "query",
    [
        "period=custom",  # no days
        "period=custom&start=2026-03-10&end=2026-03-01",  # the end before the start
        "period=custom&start=2000-01-01&end=2026-01-01",  # more than ten years
        "period=fortnight",
        "department=abc",
        "start=not-a-date&period=custom&end=2026-01-01",
    ],
)
def test_bad_choices_are_refused_beside_the_form(data, client_for, query):
    admin = client_for("admin")
    response = admin.get(f"/dashboard?{query}")
    assert response.status_code == 400
    assert 'class="error"' in response.get_data(as_text=True)
    assert admin.get(f"/dashboard/letters?figure=received&{query}").status_code == 404
    assert admin.get(f"/dashboard/export.csv?{query}").status_code == 400


def test_a_custom_period_and_grain(data, client_for):
    admin = client_for("admin")
    today = data.today
    start = today.replace(day=1).replace(month=1)
    page = admin.get(
        f"/dashboard?period=custom&start={start.isoformat()}&end={today.isoformat()}&grain=day"
    ).get_data(as_text=True)
    assert values(page)["received"] == "11"
    assert page.count('class="series-0"') >= (today - start).days + 1  # one column per day
    # A period before the letters: nothing, and a chart of zeros.
    page = admin.get("/dashboard?period=custom&start=2020-01-01&end=2020-12-31").get_data(
        as_text=True
    )
    assert values(page)["received"] == "0" and values(page)["median_days"] == "—"


@pytest.mark.postgres
def test_the_pages_on_postgresql(pg_app, monkeypatch):
    monkeypatch.setattr(pki, "_opened", {})
    data = build(pg_app, make_world(), signed_in(pg_app))
    admin = signed_in(pg_app)("admin")
    shown = values(admin.get("/dashboard").get_data(as_text=True))
    assert [shown[k] for k in ("received", "sent", "open", "overdue", "closed")] == [
        *["11", "2", "5", "1", "6"]
    ]
    assert (shown["median_days"], shown["in_time_share"]) == ("4.0", "75.0%")
    page = admin.get("/dashboard/letters?figure=received").get_data(as_text=True)
    assert 'data-total="11" data-hidden="1"' in page and len(listed(page)) == 10
    daj = data.departments["DAJ"]
    page = signed_in(pg_app)("head.daj").get(f"/dashboard/letters?figure=open&department={daj}")
    assert listed(page.get_data(as_text=True)) == [data.numbers["L7"]]
