"""The dashboard's CSV export and the public transparency page, checked against the figures
counted by hand on the data set of tests/dashboards/ui_dataset.py (see test_dashboard_pages.py
for the counts), in Arabic and in French."""

# The fixtures imported from ui_fixtures come back as test parameters:
# ruff: noqa: F811

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from app.services import organisations as orgs
from tests.conftest import csrf_token
from tests.dashboards.ui_dataset import CITIZEN, SUBJECTS
from tests.dashboards.ui_fixtures import (  # noqa: F401  (fixtures)
    NBSP,
    app,
    built,
    data,
    speaking,
    values,
    world,
)


def _tables(body: bytes) -> list[list[list[str]]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the Arabic right
    tables, current = [], []
    for line in csv.reader(io.StringIO(body.decode("utf-8-sig"))):
        if not line:
            tables.append(current)
            current = []
        else:
            current.append(line)
    return [*tables, current]


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_csv_export_holds_the_same_figures(data, world, client_for, language):
    admin = speaking(client_for("admin"), language)
    response = admin.get("/dashboard/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    scope, summary, volumes, departments, types = _tables(response.data)
    assert scope[2][:2] == [data.today.replace(day=1).isoformat(), data.today.isoformat()]
    # In figure order: received sent open due_soon overdue closed in_time late extended
    # returned reopened, then median, 90th percentile, mean, % in time, % returned,
    # satisfaction, ratings. Plain numbers whatever the language.
    assert [r[1] for r in summary[2:]] == [
        *["11", "2", "5", "1", "1", "6", "3", "1", "1", "1", "1"],
        *["4.0", "20.0", "7.2", "75.0", "9.1", "4.50", "2"],
    ]
    assert sum(int(r[1]) for r in volumes[2:]) == 11 and sum(int(r[2]) for r in volumes[2:]) == 2
    by_name = {r[0]: r[1:] for r in departments[2:]}
    drh = data.department_names["DRH"][language]
    assert by_name[drh] == ["5", "4", "1", "0", "4.0", "20.0", "66.7", "5.00"]
    dem = "Demande administrative" if language == "fr" else "طلب إداري"
    assert {r[0]: r[1:] for r in types[2:]}[dem] == [
        *["8", "4", "4", "1", "4.0", "20.0", "75.0", "4.00"]
    ]


def test_the_csv_export_neutralises_formulas(data, world, client_for):
    # An administrator named a department like a spreadsheet formula.
    evil = orgs.create_department(
        db.session,
        None,
        world.org,
        code="EVIL",
        name_ar='=HYPERLINK("http://evil.example","x")',
        name_fr='=HYPERLINK("http://evil.example","x")',
    )
    text = client_for("admin").get(f"/dashboard/export.csv?department={evil.id}").data
    text = text.decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert not re.search(r'(^|,)"?=HYPERLINK', text, re.M)


def publish(client, value: bool):
    token = csrf_token(client, "/admin/transparency")
    form = {"csrf_token": token, **({"publish": "y"} if value else {})}
    return client.post("/admin/transparency", data=form)


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_transparency_page_once_published(app, data, world, client_for, language):
    public = app.test_client()
    url = f"/transparency/{world.org.code}"
    assert public.get(url).status_code == 404  # not published yet
    assert public.get("/transparency/nowhere").status_code == 404
    portal_page = f"/portal/{world.org.code}/"
    assert url not in public.get(portal_page).get_data(as_text=True)
    agent = client_for("agent.drh")
    assert publish(agent, True).status_code == 403
    admin = client_for("admin")
    assert publish(admin, True).status_code == 302
    events = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("transparency.%"))
    ).all()
    assert events == ["transparency.published"]
    assert url in public.get(portal_page).get_data(as_text=True)

    token = csrf_token(public, url)
    public.post("/locale", data={"locale": language, "csrf_token": token, "next": url})
    page = public.get(url).get_data(as_text=True)
    shown = values(page)
    # The year so far: received 11, answered 4 (L1 L2 L3 L10), mean 43/6 = 7.2 days, median 4,
    # 3 of 4 in time, 2 ratings averaging 4.5.
    fr = language == "fr"
    assert shown["received"] == "11" and shown["answered"] == "4"
    assert shown["mean_days"] == ("7,2" if fr else "7.2")
    assert shown["in_time_share"] == (f"75,0{NBSP}%" if fr else "75.0%")
    assert shown["satisfaction"] == ("4,5" if fr else "4.5")
    assert ("4,0" if fr else "4.0") in shown["median_days"]
    # DRH and DSI have 5 letters each: listed. DAJ (1) and COURRIER (3) are withheld.
    for department, listed_ in (("DRH", True), ("DSI", True), ("DAJ", False)):
        key = f'<tr data-key="{data.departments[department]}">'
        assert (key in page.split('id="public-departments"')[1].split("</table>")[0]) is listed_
    types = page.split('id="public-types"')[1].split("</table>")[0]
    assert f'data-key="{data.types["DEM"]}"' in types
    assert f'data-key="{data.types["COURRIER"]}"' not in types
    # Aggregates only: no subject, name or number of any letter.
    for text in (*SUBJECTS.values(), CITIZEN, "Head Drh", "Officer"):
        assert text not in page
    assert not any(number in page for number in data.numbers.values())
    assert public.get(f"{url}?year=1999").status_code == 404
    assert publish(admin, False).status_code == 302
    assert public.get(url).status_code == 404
