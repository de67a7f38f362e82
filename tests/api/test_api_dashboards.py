"""GET /api/v1/dashboards/summary and /volumes: who may read which figures, and bad periods."""

from __future__ import annotations

from datetime import date, timedelta

from app.extensions import db
from app.models import Role
from app.services import organisations as orgs
from app.worker import run_once
from tests.api.conftest import assert_problem, bearer
from tests.conftest import _user
from tests.factories import register


def test_figures_for_administrators_and_their_own_department_for_heads(app, world, token_for):
    department = orgs.create_department(
        db.session, None, world.org, code="RH", name_ar="م", name_fr="RH"
    )
    other = orgs.create_department(
        db.session, None, world.org, code="FIN", name_ar="م", name_fr="Fin"
    )
    head = _user(world.org, "head.rh", [Role.DEPARTMENT_HEAD])
    head.department_id = department.id
    db.session.commit()
    register(world.officer)
    register(world.officer, register="outgoing")
    run_once(app, check_deadlines=False)  # the worker refreshes the dashboard facts
    db.session.commit()
    client = app.test_client()
    admin = token_for(world.admin, scopes=["dashboards:read"])
    summary = client.get("/api/v1/dashboards/summary", headers=bearer(admin))
    assert summary.status_code == 200, summary.get_data(as_text=True)
    figures = summary.get_json()
    assert figures["received"] == 1 and figures["sent"] == 1 and figures["department_id"] is None
    today = date.today()
    start = (today - timedelta(days=6)).isoformat()
    volumes = client.get(
        f"/api/v1/dashboards/volumes?start={start}&end={today.isoformat()}&grain=day",
        headers=bearer(admin),
    ).get_json()
    assert len(volumes["points"]) >= 7 and sum(p["received"] for p in volumes["points"]) == 1

    head_token = token_for(head, scopes=["dashboards:read"])
    own = client.get(
        f"/api/v1/dashboards/summary?department_id={department.id}", headers=bearer(head_token)
    )
    assert own.status_code == 200
    assert_problem(
        client.get("/api/v1/dashboards/summary", headers=bearer(head_token)), 403, "forbidden"
    )
    assert_problem(
        client.get(
            f"/api/v1/dashboards/summary?department_id={other.id}", headers=bearer(head_token)
        ),
        403,
        "forbidden",
    )
    agent = token_for(world.agent, scopes=["dashboards:read"])
    assert_problem(
        client.get("/api/v1/dashboards/volumes", headers=bearer(agent)), 403, "forbidden"
    )
    no_scope = token_for(world.admin, scopes=["letters:read"])
    assert_problem(
        client.get("/api/v1/dashboards/summary", headers=bearer(no_scope)), 403, "scope_missing"
    )


def test_bad_periods_and_another_organisation_s_department(app, world, token_for):
    theirs = orgs.create_department(
        db.session, None, world.other_org, code="X", name_ar="م", name_fr="X"
    )
    client = app.test_client()
    admin = token_for(world.admin, scopes=["dashboards:read"])
    backwards = client.get(
        "/api/v1/dashboards/summary?start=2026-02-01&end=2026-01-01", headers=bearer(admin)
    )
    assert_problem(backwards, 422, "validation_failed")
    too_long = client.get(
        "/api/v1/dashboards/volumes?start=1990-01-01&end=2026-01-01", headers=bearer(admin)
    )
    assert_problem(too_long, 422, "validation_failed")
    assert_problem(
        client.get("/api/v1/dashboards/volumes?grain=hour", headers=bearer(admin)),
        422,
        "validation_failed",
    )
    assert_problem(
        client.get(f"/api/v1/dashboards/summary?department_id={theirs.id}", headers=bearer(admin)),
        404,
        "not_found",
    )
