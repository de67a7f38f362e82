"""Routing and processing through HTTP: the registry routes, the head passes, the agent closes;
copies read, other departments see nothing; a confidential letter stays where it is routed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Assignment, AuditEvent, Department, Role, User
from app.services import audit
from app.services import organisations as orgs
from tests.conftest import PASSWORD, csrf_token
from tests.factories import register


@dataclass
class Departments:
    drh: Department
    dsi: Department
    daj: Department


def _user(org, username, role, department):
    return orgs.create_user(
        db.session,
        None,
        org,
        username=username,
        full_name=username.title(),
        password=PASSWORD,
        roles=[role],
        department=department,
    )


@pytest.fixture
def departments(app, world) -> Departments:
    made = {}
    for code in ("DRH", "DSI", "DAJ"):
        made[code] = orgs.create_department(
            db.session,
            None,
            world.org,
            code=code,
            name_ar=f"مديرية {code}",
            name_fr=f"Direction {code}",
        )
        lower = code.lower()
        _user(world.org, f"head.{lower}", Role.DEPARTMENT_HEAD, made[code])
        _user(world.org, f"agent.{lower}", Role.AGENT, made[code])
    return Departments(made["DRH"], made["DSI"], made["DAJ"])


def _post(client, letter, path, data=None):
    token = csrf_token(client, f"/letters/{letter.id}")
    return client.post(f"/letters/{letter.id}/{path}", data={"csrf_token": token, **(data or {})})


def _route(client, letter, action, copies=()):
    return _post(
        client,
        letter,
        "route",
        {
            "action_department_id": str(action.id),
            "copy_department_ids": [str(c.id) for c in copies],
        },
    )


def _action_assignment(letter) -> Assignment:
    return db.session.scalar(
        select(Assignment)
        .where(Assignment.letter_id == letter.id, Assignment.kind == "action")
        .order_by(Assignment.id.desc())
    )


def test_route_accept_pass_note_and_close(app, world, departments, client_for):
    with app.test_request_context():
        letter = register(world.officer, subject="Demande de mutation")
    officer = client_for("officer")
    assert _route(officer, letter, departments.drh, [departments.dsi]).status_code == 302

    head = client_for("head.drh")
    inbox = head.get("/inbox").get_data(as_text=True)
    assert letter.number in inbox
    assignment = _action_assignment(letter)
    assert _post(head, letter, f"assignments/{assignment.id}/accept").status_code == 302
    agent = db.session.scalar(select(User).where(User.username == "agent.drh"))
    response = _post(head, letter, f"assignments/{assignment.id}/pass", {"agent_id": str(agent.id)})
    assert response.status_code == 302
    db.session.refresh(assignment)
    assert assignment.agent_id == agent.id and assignment.state == "accepted"

    agent_client = client_for("agent.drh")
    assert letter.number in agent_client.get("/inbox?tab=in_progress").get_data(as_text=True)
    _post(
        agent_client,
        letter,
        "notes",
        {"body": "Dossier complet, réponse favorable.", "department_only": "y"},
    )
    _post(agent_client, letter, "close", {"outcome": "answered", "comment": "Réponse envoyée"})
    db.session.refresh(letter)
    assert letter.is_closed and letter.outcome == "answered"

    # The copy department reads the letter but cannot act on it.
    copy_head = client_for("head.dsi")
    page = copy_head.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "Demande de mutation" in page
    assert "Dossier complet" not in page  # a department-only note of DRH
    assert _post(copy_head, letter, "notes", {"body": "copie"}).status_code == 302
    assert (
        "copie"
        not in copy_head.get(f"/letters/{letter.id}").get_data(as_text=True).split("Notes")[1]
    )

    # Another department sees nothing.
    other = client_for("head.daj")
    assert other.get(f"/letters/{letter.id}").status_code == 404
    assert letter.number not in other.get("/inbox?tab=new").get_data(as_text=True)

    actions = [e.action for e in audit.letter_history(db.session, letter.id)]
    assert actions == [
        "letter.registered",
        "letter.routed",
        "letter.accepted",
        "letter.passed",
        "note.added",
        "letter.closed",
    ]
    assert audit.verify_chain(db.session, world.org.id).ok


def test_copy_department_inbox_lists_the_copy(app, world, departments, client_for):
    with app.test_request_context():
        letter = register(world.officer)
    _route(client_for("officer"), letter, departments.drh, [departments.dsi])
    for username in ("head.dsi", "agent.dsi"):
        page = client_for(username).get("/inbox?tab=copies").get_data(as_text=True)
        assert letter.number in page, username


def test_head_returns_to_registry_which_reroutes(app, world, departments, client_for):
    with app.test_request_context():
        letter = register(world.officer, subject="Erreur d'aiguillage")
    officer = client_for("officer")
    _route(officer, letter, departments.drh)
    head = client_for("head.drh")
    assignment = _action_assignment(letter)
    refused = _post(head, letter, f"assignments/{assignment.id}/return", {"reason": "no"})
    assert refused.status_code == 302
    db.session.refresh(assignment)
    assert assignment.state == "pending"  # too short a reason changes nothing
    _post(head, letter, f"assignments/{assignment.id}/return", {"reason": "Relève de la DSI"})
    db.session.refresh(assignment)
    assert assignment.state == "returned" and assignment.return_reason == "Relève de la DSI"
    assert head.get(f"/letters/{letter.id}").status_code == 404  # it left the department
    assert "Relève de la DSI" in officer.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert _route(officer, letter, departments.dsi).status_code == 302
    assert letter.number in client_for("head.dsi").get("/inbox").get_data(as_text=True)


def test_only_the_registry_routes_and_only_the_head_passes(app, world, departments, client_for):
    with app.test_request_context():
        letter = register(world.officer)
    officer = client_for("officer")
    _route(officer, letter, departments.drh)
    assignment = _action_assignment(letter)
    agent = client_for("agent.drh")
    # the agent has not been given the letter: it is not theirs to see yet
    assert agent.get(f"/letters/{letter.id}").status_code == 404
    head = client_for("head.drh")
    _route(head, letter, departments.dsi)  # a head is not the registry
    assert (
        db.session.scalar(select(Assignment).where(Assignment.department_id == departments.dsi.id))
        is None
    )
    # the registry officer cannot accept for the department
    _post(officer, letter, f"assignments/{assignment.id}/accept")
    db.session.refresh(assignment)
    assert assignment.state == "pending"
    # another organisation's officer gets 404 on every action
    stranger = client_for("other.officer")
    assert stranger.post(f"/letters/{letter.id}/route", data={}).status_code in (400, 404)
    assert stranger.get(f"/letters/{letter.id}").status_code == 404


def test_confidential_letter_is_seen_only_where_it_is_routed(app, world, departments, client_for):
    with app.test_request_context():
        secret = register(world.officer, subject="Enquête administrative", confidential=True)
    _route(client_for("officer"), secret, departments.drh)
    document = secret.documents[0]
    urls = [
        f"/letters/{secret.id}",
        f"/letters/{secret.id}/documents/{document.id}/v1/original",
        f"/letters/{secret.id}/documents/{document.id}/v1/pages/1.png",
    ]
    head = client_for("head.drh")
    for url in urls:
        assert head.get(url).status_code == 200, url
    assert "Enquête administrative" in head.get(f"/letters/{secret.id}").get_data(as_text=True)
    for username in ("officer.two", "head.dsi", "agent.dsi", "admin"):
        client = client_for(username)
        for url in urls:
            assert client.get(url).status_code == 404, (username, url)
        assert "Enquête administrative" not in client.get("/registry/incoming").get_data(
            as_text=True
        )
    # and the history events of the letter are only on its page
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.letter_id == secret.id)) is not None
    )


def test_deadline_of_an_access_to_information_request(app, world, departments, client_for):
    from app.deadlines import ACCESS_TO_INFORMATION
    from app.services.deadlines import rule_columns

    access = orgs.create_letter_type(
        db.session,
        None,
        world.org,
        code="ACCES",
        name_ar="طلب",
        name_fr="Accès",
        deadline_rule=rule_columns(ACCESS_TO_INFORMATION),
    )
    with app.test_request_context():
        letter = register(world.officer, letter_type_id=access.id, received_on=date(2026, 11, 2))
    # 20 working days after Monday 2 November 2026 in Morocco: weekends and the 6 and
    # 18 November holidays (Green March, Independence Day) do not count.
    assert letter.due_on == date(2026, 12, 2)
    officer = client_for("officer")
    _route(officer, letter, departments.drh)
    head = client_for("head.drh")
    assignment = _action_assignment(letter)
    _post(head, letter, f"assignments/{assignment.id}/accept")
    _post(head, letter, "extend", {"reason": "Documents à réunir auprès de trois services"})
    db.session.refresh(letter)
    assert letter.extensions == 1 and letter.due_on > date(2026, 12, 2)
    second = _post(head, letter, "extend", {"reason": "Encore une fois"})
    page = head.get(second.headers["Location"]).get_data(as_text=True)
    assert "The procedure allows no further extension." in page
    db.session.refresh(letter)
    assert letter.extensions == 1


def test_copy_department_cannot_annotate_or_close_an_open_letter(
    app, world, departments, client_for
):
    with app.test_request_context():
        letter = register(world.officer, subject="Pour information")
    _route(client_for("officer"), letter, departments.drh, [departments.dsi])
    copy_head = client_for("head.dsi")
    page = copy_head.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert (
        "Pour information" in page and 'name="add_note"' not in page and 'name="close"' not in page
    )
    _post(copy_head, letter, "notes", {"body": "remarque de la DSI"})
    _post(copy_head, letter, "close", {"outcome": "filed"})
    db.session.refresh(letter)
    assert letter.is_open
    assert "remarque de la DSI" not in client_for("head.drh").get(f"/letters/{letter.id}").get_data(
        as_text=True
    )


def test_work_starts_once_the_department_has_accepted(app, world, departments, client_for):
    with app.test_request_context():
        letter = register(world.officer)
    _route(client_for("officer"), letter, departments.drh)
    head = client_for("head.drh")
    assert 'name="close"' not in head.get(f"/letters/{letter.id}").get_data(as_text=True)
    _post(head, letter, "close", {"outcome": "filed"})
    db.session.refresh(letter)
    assert letter.is_open
    _post(head, letter, f"assignments/{_action_assignment(letter).id}/accept")
    assert 'name="close"' in head.get(f"/letters/{letter.id}").get_data(as_text=True)


def test_cancelled_letter_leaves_the_inboxes(app, world, departments, client_for):
    with app.test_request_context():
        letter = register(world.officer, subject="Doublon")
    officer = client_for("officer")
    _route(officer, letter, departments.drh, [departments.dsi])
    _post(officer, letter, "cancel", {"reason": "Enregistré deux fois"})
    for username, tab in (("head.drh", "new"), ("head.dsi", "copies")):
        page = client_for(username).get(f"/inbox?tab={tab}").get_data(as_text=True)
        assert letter.number not in page, username


def test_agent_lands_on_what_was_passed_to_them(app, world, departments, client_for):
    with app.test_request_context():
        letter = register(world.officer, subject="Pour l'agent")
    _route(client_for("officer"), letter, departments.drh)
    head = client_for("head.drh")
    assignment = _action_assignment(letter)
    agent = db.session.scalar(select(User).where(User.username == "agent.drh"))
    _post(head, letter, f"assignments/{assignment.id}/pass", {"agent_id": str(agent.id)})
    page = client_for("agent.drh").get("/inbox").get_data(as_text=True)
    assert letter.number in page
    assert re.search(r'href="/inbox\?tab=in_progress" aria-current="page"', page)
