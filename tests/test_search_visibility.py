# ruff: noqa: F811 - the departments fixture is imported and used as an argument
"""Search trims results to what each user may open: a letter's index keys and a user's search
keys say exactly what app.permissions.can_view_letter says, for every user and every letter of
a world with routing, copies, agents, returns, confidential letters, replies and delegations."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Assignment, LetterType, User
from app.permissions import can_view_letter
from app.services import delegations, routing
from app.services.actor import Actor
from app.services.search_visibility import letter_keys, may_find, user_keys
from tests.factories import register
from tests.test_routing import departments  # noqa: F401


def _user(username):
    return db.session.scalar(select(User).where(User.username == username))


def _action(letter) -> Assignment:
    return next(a for a in letter.assignments if a.kind == "action")


def test_index_keys_agree_with_permissions(app, world, departments):
    officer, other_officer = world.officer, world.other_officer
    letter_type = db.session.scalar(
        select(LetterType).where(LetterType.organisation_id == world.org.id)
    )
    letters = []
    with app.test_request_context():
        plain = register(officer, subject="Routed with a copy")
        confidential = register(officer, subject="Confidential", confidential=True)
        typed = register(officer, subject="Typed", letter_type_id=letter_type.id)
        returned = register(officer, subject="Returned")
        unrouted = register(world.officer2, subject="Not routed")
        foreign = register(other_officer, subject="Other organisation")
        letters += [plain, confidential, typed, returned, unrouted, foreign]
    head_drh, agent_drh = _user("head.drh"), _user("agent.drh")
    routing.route_letter(
        db.session, Actor(officer), plain, departments.drh.id, [departments.dsi.id]
    )
    routing.accept(db.session, Actor(head_drh), _action(plain))
    routing.pass_to_agent(db.session, Actor(head_drh), _action(plain), agent_drh.id)
    routing.route_letter(db.session, Actor(officer), confidential, departments.daj.id)
    routing.route_letter(db.session, Actor(officer), typed, departments.dsi.id)
    routing.route_letter(db.session, Actor(officer), returned, departments.daj.id)
    routing.return_to_registry(db.session, Actor(_user("head.daj")), _action(returned), "Not ours")
    with app.test_request_context():
        reply = register(officer, subject="Reply", register="outgoing", reply_to_id=confidential.id)
    letters.append(reply)
    # Delegations: DAJ's head stands in for DRH's head (every type); DRH's agent for DSI's head
    # for the letter type only; a revoked one gives nothing.
    today = date.today()
    delegations.create_delegation(
        db.session, Actor(head_drh), _user("head.daj").id, today, today + timedelta(days=3)
    )
    delegations.create_delegation(
        db.session,
        Actor(_user("head.dsi")),
        agent_drh.id,
        today,
        today + timedelta(days=3),
        letter_type.id,
    )
    db.session.expire_all()

    users = db.session.scalars(select(User)).all()
    checked = 0
    for letter in letters:
        for user in users:
            assert may_find(user, letter) == can_view_letter(user, letter), (
                user.username,
                letter.subject,
                sorted(letter_keys(letter)),
                sorted(user_keys(user)),
            )
            checked += 1
    assert checked == len(users) * len(letters) >= 7 * 10
    # The cases the world was built for are really there (the test would pass vacuously if not).
    assert may_find(agent_drh, plain) and not may_find(_user("agent.dsi"), confidential)
    assert may_find(_user("agent.dsi"), plain)  # a copy: every member of DSI
    assert may_find(_user("head.daj"), plain)  # standing in for DRH's head
    assert may_find(agent_drh, typed)  # standing in for DSI's head, for this type
    assert not may_find(world.admin, confidential) and may_find(world.admin, plain)
    assert not may_find(_user("head.daj"), returned) and may_find(_user("head.daj"), confidential)
    assert not may_find(other_officer, plain) and may_find(other_officer, foreign)


def test_a_delegation_in_force_only_on_its_days(app, world, departments):
    officer = world.officer
    with app.test_request_context():
        letter = register(officer, subject="Routed")
    routing.route_letter(db.session, Actor(officer), letter, departments.drh.id)
    substitute = _user("agent.dsi")
    start = date.today() + timedelta(days=10)
    delegations.create_delegation(
        db.session, Actor(_user("head.drh")), substitute.id, start, start + timedelta(days=2)
    )
    assert not may_find(substitute, letter)
    assert may_find(substitute, letter, today=start + timedelta(days=1))
