"""Who may find a letter in search, as keys the search index can filter on.

A letter carries the keys of everyone who may open it; a user searches with their own keys. A
result (and every facet count) must carry at least one of the searcher's keys. The keys say in
index terms exactly what `app.permissions.can_view_letter` says, and a test checks the two agree
for every user and letter of a world with routing, copies, confidential letters and delegations.

Letter keys change when the letter is routed, accepted, passed, returned or cancelled (the letter
is indexed again then); user keys change with roles and delegations and are computed per search.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.models import AssignmentKind, AssignmentState, Letter, User
from app.permissions import can_view_letter, can_view_register
from app.services.delegations import active_delegations

log = logging.getLogger(__name__)


def _assignment_keys(letter: Letter) -> set[str]:
    """What sees_assignment grants: copies to the department's members, the action to its
    head and to the agent it was passed to (a member of that department)."""
    keys = set()
    for assignment in letter.assignments:
        if assignment.state == AssignmentState.RETURNED:
            continue
        department = assignment.department_id
        if assignment.kind == AssignmentKind.COPY:
            keys.add(f"member:{department}")
        else:
            keys.add(f"head:{department}")
            if assignment.agent_id is not None:
                keys.add(f"agent:{department}:{assignment.agent_id}")
    return keys


def letter_keys(letter: Letter) -> set[str]:
    """The keys a letter is indexed with."""
    keys = {f"user:{letter.registered_by_id}"}
    if not letter.confidential:
        keys.add(f"register:{letter.organisation_id}")
    routed = _assignment_keys(letter)
    keys |= routed
    # A substitute holds an absent colleague's routing keys for every type or for one type.
    keys |= {f"{key}|type:{letter.letter_type_id}" for key in routed}
    if letter.reply_to is not None:  # a reply is seen by those who see what it answers
        keys |= letter_keys(letter.reply_to)
    return keys


def _routing_keys(person: User) -> set[str]:
    if person.department_id is None:
        return set()
    department = person.department_id
    keys = {f"member:{department}", f"agent:{department}:{person.id}"}
    if person.has_role("department_head"):
        keys.add(f"head:{department}")
    return keys


def user_keys(user: User, today: date | None = None) -> set[str]:
    """The keys a user searches with today (delegations in force included)."""
    keys = {f"user:{user.id}"} | _routing_keys(user)
    if can_view_register(user):
        keys.add(f"register:{user.organisation_id}")
    session = object_session(user)
    if session is None:
        return keys
    for delegation in active_delegations(session, user, today or date.today()):
        absent = _routing_keys(delegation.user)
        if delegation.letter_type_id is None:
            keys |= absent
        else:
            keys |= {f"{key}|type:{delegation.letter_type_id}" for key in absent}
    return keys


def may_find(user: User, letter: Letter, today: date | None = None) -> bool:
    """The index's rule, for tests and for checking a hit before showing it."""
    return letter.organisation_id == user.organisation_id and bool(
        letter_keys(letter) & user_keys(user, today)
    )


def checked_hits(session: Session, user: User, hits: list) -> list[tuple[Letter, object]]:
    """Each search hit with its letter, checked again against the permissions: the index can be
    behind them (a change not indexed yet), and then the hit is never shown."""
    letters = {
        str(letter.id): letter
        for letter in session.scalars(
            select(Letter).where(
                Letter.id.in_([int(hit.id) for hit in hits]),
                Letter.organisation_id == user.organisation_id,
            )
        )
    }
    kept = []
    for hit in hits:
        letter = letters.get(hit.id)
        if letter is None or not can_view_letter(user, letter):
            log.warning("search hit %s not visible to user %s", hit.id, user.id)
            continue
        kept.append((letter, hit))
    return kept
