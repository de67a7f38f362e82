"""Absence and delegation through HTTP: a substitute named for some days sees the absent
colleague's work in their inbox, acts on it, and the history says they acted for them; outside
the days, for another letter type or once revoked, nothing is visible."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Delegation, Department, LetterType, User
from app.services import audit, delegations
from app.services import organisations as orgs
from app.services.actor import Actor
from tests.conftest import csrf_token
from tests.factories import register
from tests.test_routing import (  # noqa: F401 (departments is a fixture)
    _action_assignment,
    _post,
    _route,
    departments,
)

# Heads and agents of DRH, DSI and DAJ (head.drh, agent.drh …), as in the routing tests.
pytestmark = pytest.mark.usefixtures("departments")

TODAY = date.today


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def _letter_type(org, code: str = "COURRIER") -> LetterType:
    return db.session.scalar(
        select(LetterType).where(LetterType.organisation_id == org.id, LetterType.code == code)
    )


def _delegate(client, substitute: User, starts_on: date, ends_on: date, letter_type=None):
    token = csrf_token(client, "/delegations")
    return client.post(
        "/delegations",
        data={
            "csrf_token": token,
            "substitute_id": str(substitute.id),
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
            "letter_type_id": str(letter_type.id) if letter_type else "",
        },
    )


def _revoke(client, delegation: Delegation):
    token = csrf_token(client, "/delegations")
    return client.post(f"/delegations/{delegation.id}/revoke", data={"csrf_token": token})


def _delegations_of(user: User) -> list[Delegation]:
    db.session.expire_all()
    return list(db.session.scalars(select(Delegation).where(Delegation.user_id == user.id)))


def _with_agent_drh(app, world, client_for, **fields):
    """A letter routed to DRH, accepted and passed by its head to agent.drh."""
    with app.test_request_context():
        letter = register(world.officer, **fields)
    _route(client_for("officer"), letter, _dept("DRH"))
    head = client_for("head.drh")
    assignment = _action_assignment(letter)
    _post(head, letter, f"assignments/{assignment.id}/pass", {"agent_id": _user("agent.drh").id})
    db.session.refresh(assignment)
    assert assignment.agent_id == _user("agent.drh").id
    return letter


def _dept(code: str) -> Department:
    return db.session.scalar(select(Department).where(Department.code == code))


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", "", page)


def test_substitute_sees_and_processes_the_absent_agents_work(app, world, client_for):
    absent, substitute = _user("agent.drh"), _user("agent.dsi")
    response = _delegate(client_for("agent.drh"), substitute, TODAY() - timedelta(days=1), TODAY())
    assert response.status_code == 302
    letter = _with_agent_drh(app, world, client_for, subject="Demande de mutation")

    dsi = client_for("agent.dsi")
    inbox = dsi.get("/inbox").get_data(as_text=True)
    assert f"for={absent.id}" in inbox and "For <bdi>Agent.Drh</bdi>" in inbox
    assert letter.number not in inbox  # "My work" is agent.dsi's own queue
    delegated = dsi.get(f"/inbox?for={absent.id}").get_data(as_text=True)
    assert letter.number in delegated
    assert re.search(r'tab-in_progress nonzero">[^<]*<span class="count">1<', delegated)
    assert dsi.get(f"/letters/{letter.id}").status_code == 200

    _post(dsi, letter, "notes", {"body": "Vu pendant l'absence.", "department_only": "y"})
    response = _post(dsi, letter, "close", {"outcome": "answered", "comment": "Traité"})
    assert response.status_code == 302
    db.session.refresh(letter)
    assert letter.is_closed

    history = audit.letter_history(db.session, letter.id)
    done_for = {e.action: e.data.get("for") for e in history}
    assert done_for["note.added"] == {"id": absent.id, "name": "Agent.Drh"}
    assert done_for["letter.closed"] == {"id": absent.id, "name": "Agent.Drh"}
    assert done_for["letter.passed"] is None and done_for["letter.routed"] is None
    page = _text(dsi.get(f"/letters/{letter.id}").get_data(as_text=True))
    assert "Agent.Dsi for Agent.Drh" in page
    # The department-only note the substitute wrote is still shown to them.
    assert "Vu pendant l" in page
    assert audit.verify_chain(db.session, world.org.id).ok

    # Another agent of DSI, with no delegation, sees nothing of it.
    orgs.create_user(
        db.session,
        None,
        world.org,
        username="agent2.dsi",
        full_name="Agent2.Dsi",
        password="correct horse battery staple",
        roles=["agent"],
        department=_dept("DSI"),
    )
    other = client_for("agent2.dsi")
    assert other.get(f"/letters/{letter.id}").status_code == 404
    assert other.get(f"/inbox?for={absent.id}").status_code == 404


def test_substitute_of_a_head_accepts_and_passes_for_them(app, world, client_for):
    absent = _user("head.drh")
    assert _delegate(client_for("head.drh"), _user("head.dsi"), TODAY(), TODAY()).status_code == 302
    with app.test_request_context():
        letter = register(world.officer)
    _route(client_for("officer"), letter, _dept("DRH"))
    dsi = client_for("head.dsi")
    assert letter.number in dsi.get(f"/inbox?for={absent.id}&tab=new").get_data(as_text=True)
    assert 'name="accept"' in dsi.get(f"/letters/{letter.id}").get_data(as_text=True)
    assignment = _action_assignment(letter)
    assert _post(dsi, letter, f"assignments/{assignment.id}/accept").status_code == 302
    _post(dsi, letter, f"assignments/{assignment.id}/pass", {"agent_id": _user("agent.drh").id})
    db.session.refresh(assignment)
    assert assignment.state == "accepted" and assignment.agent_id == _user("agent.drh").id
    events = {e.action: e for e in audit.letter_history(db.session, letter.id)}
    assert events["letter.accepted"].data["for"]["id"] == absent.id
    assert events["letter.passed"].data["for"]["id"] == absent.id
    assert events["letter.passed"].actor_id == _user("head.dsi").id


def test_nothing_is_visible_outside_the_days(app, world, client_for):
    absent = _user("agent.drh")
    tomorrow = TODAY() + timedelta(days=1)
    response = _delegate(client_for("agent.drh"), _user("agent.dsi"), tomorrow, tomorrow)
    assert response.status_code == 302
    letter = _with_agent_drh(app, world, client_for)
    dsi = client_for("agent.dsi")
    assert dsi.get(f"/letters/{letter.id}").status_code == 404
    assert dsi.get(f"/inbox?for={absent.id}").status_code == 404
    assert f"for={absent.id}" not in dsi.get("/inbox").get_data(as_text=True)
    assert delegations.active_delegators(db.session, _user("agent.dsi"), TODAY()) == []
    assert delegations.active_delegators(db.session, _user("agent.dsi"), tomorrow) == [absent]


def test_a_delegation_for_one_type_covers_only_that_type(app, world, client_for):
    complaint = orgs.create_letter_type(
        db.session, None, world.org, code="RECL", name_ar="شكاية", name_fr="Réclamation"
    )
    absent = _user("agent.drh")
    response = _delegate(client_for("agent.drh"), _user("agent.dsi"), TODAY(), TODAY(), complaint)
    assert response.status_code == 302
    general = _with_agent_drh(
        app, world, client_for, subject="Courrier", letter_type_id=_letter_type(world.org).id
    )
    claim = _with_agent_drh(
        app, world, client_for, subject="Réclamation", letter_type_id=complaint.id
    )
    untyped = _with_agent_drh(app, world, client_for, subject="Sans type")
    dsi = client_for("agent.dsi")
    assert dsi.get(f"/letters/{claim.id}").status_code == 200
    assert dsi.get(f"/letters/{general.id}").status_code == 404
    assert dsi.get(f"/letters/{untyped.id}").status_code == 404
    page = dsi.get(f"/inbox?for={absent.id}&tab=in_progress").get_data(as_text=True)
    assert claim.number in page
    assert general.number not in page and untyped.number not in page
    assert re.search(r'tab-in_progress nonzero">[^<]*<span class="count">1<', page)
    refused = _post(dsi, general, "close", {"outcome": "filed"})
    assert refused.status_code == 404
    who = delegations.active_delegators(db.session, _user("agent.dsi"), TODAY(), complaint.id)
    assert who == [absent]
    other_type = _letter_type(world.org).id
    assert delegations.active_delegators(db.session, _user("agent.dsi"), TODAY(), other_type) == []


def test_revoking_stops_access_and_only_the_giver_revokes(app, world, client_for):
    absent = _user("agent.drh")
    giver = client_for("agent.drh")
    _delegate(giver, _user("agent.dsi"), TODAY(), TODAY() + timedelta(days=3))
    (delegation,) = _delegations_of(absent)
    letter = _with_agent_drh(app, world, client_for)
    dsi = client_for("agent.dsi")
    assert dsi.get(f"/letters/{letter.id}").status_code == 200

    # The substitute, a colleague and another organisation cannot revoke it.
    assert _revoke(dsi, delegation).status_code == 403
    assert _revoke(client_for("head.drh"), delegation).status_code == 403
    assert _revoke(client_for("other.officer"), delegation).status_code == 404
    assert _delegations_of(absent)[0].revoked_at is None

    assert _revoke(giver, delegation).status_code == 302
    assert _delegations_of(absent)[0].revoked_at is not None  # kept, not deleted
    assert dsi.get(f"/letters/{letter.id}").status_code == 404
    assert dsi.get(f"/inbox?for={absent.id}").status_code == 404
    assert "Revoked" in giver.get("/delegations").get_data(as_text=True)
    actions = list(
        db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "delegation", AuditEvent.object_id == delegation.id
            )
        )
    )
    assert actions == ["delegation.created", "delegation.revoked"]


def test_bad_delegations_are_refused(app, world, client_for):
    absent = _user("agent.drh")
    client = client_for("agent.drh")
    today = TODAY()
    cases = [
        (world.other_officer, today, today, "Choose a colleague of your organisation."),
        (_user("agent.dsi"), today, today - timedelta(days=1), "cannot come before the first"),
        (absent, today, today, "You cannot be your own substitute."),
        (_user("agent.dsi"), today, today + timedelta(days=366), "at most 366 days"),
        (_user("agent.dsi"), today - timedelta(days=9), today - timedelta(days=2), "already over"),
    ]
    for substitute, starts_on, ends_on, message in cases:
        response = _delegate(client, substitute, starts_on, ends_on)
        assert response.status_code == 422, message
        assert message in response.get_data(as_text=True), message
    assert _delegations_of(absent) == []

    # One substitute per day and letter type: a delegation for every type overlaps any other.
    complaint = orgs.create_letter_type(
        db.session, None, world.org, code="RECL", name_ar="شكاية", name_fr="Réclamation"
    )
    week = today + timedelta(days=7)
    assert _delegate(client, _user("agent.dsi"), today, week).status_code == 302
    for letter_type in (None, complaint):
        overlapping = _delegate(client, _user("head.dsi"), week, week, letter_type)
        assert overlapping.status_code == 422
        assert "already named a substitute" in overlapping.get_data(as_text=True)
    later = week + timedelta(days=1)
    assert _delegate(client, _user("head.dsi"), later, later, complaint).status_code == 302
    assert len(_delegations_of(absent)) == 2
    # ... and once revoked, the days are free again.
    _revoke(client, next(d for d in _delegations_of(absent) if d.letter_type_id is None))
    assert _delegate(client, _user("head.dsi"), today, week).status_code == 302


def test_delegations_page_lists_given_and_received(app, world, client_for):
    _delegate(client_for("agent.drh"), _user("agent.dsi"), TODAY(), TODAY())
    given = client_for("agent.drh").get("/delegations").get_data(as_text=True)
    assert "Agent.Dsi" in given and 'name="revoke"' in given
    received = client_for("agent.dsi").get("/delegations").get_data(as_text=True)
    assert "Agent.Drh" in received and f"/inbox?for={_user('agent.drh').id}" in received
    assert 'name="revoke"' not in received
    assert "Absence and delegation" in received  # the link beside the account's
    # The substitute choice lists only the organisation's colleagues, not oneself.
    form = client_for("agent.drh").get("/delegations").get_data(as_text=True)
    assert "Other.Officer" not in form
    assert f'<option value="{_user("agent.drh").id}"' not in form


def test_a_substitutes_substitute_gains_nothing(app, world, client_for):
    _delegate(client_for("agent.drh"), _user("agent.dsi"), TODAY(), TODAY())
    _delegate(client_for("agent.dsi"), _user("agent.daj"), TODAY(), TODAY())
    letter = _with_agent_drh(app, world, client_for)
    assert client_for("agent.dsi").get(f"/letters/{letter.id}").status_code == 200
    daj = client_for("agent.daj")
    assert daj.get(f"/letters/{letter.id}").status_code == 404
    assert daj.get(f"/inbox?for={_user('agent.drh').id}").status_code == 404


def test_an_actor_may_name_whom_they_act_for(app, world):
    event = audit.record(
        db.session,
        Actor(world.officer, on_behalf_of=world.officer2),
        "test.event",
        organisation_id=world.org.id,
        object_type="test",
    )
    db.session.commit()
    assert event.data["for"] == {"id": world.officer2.id, "name": world.officer2.full_name}
    assert audit.verify_chain(db.session, world.org.id).ok
