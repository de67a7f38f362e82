"""Who may do what. Views, the API and services all ask here, so the rules live in one place.

A letter is visible only inside its organisation. Registry officers and administrators see the
register, except confidential letters, which only the officer who registered them sees there.
Departments see what is routed to them: the head sees the department's letters, an agent those
passed to them, everyone in a department its copies. A letter sent back to the registry leaves
the department's view.

During an absence, a delegation in force lets the substitute see and do the absent user's
department work (for letters of its type when it names one): what is routed to the absent user
or, for a head, to their department. It hands over no registry role, and is not passed on: a
substitute's substitute gains nothing. The audit trail records such steps as done for the absent
user (acting_for).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import object_session

from app.models import Assignment, AssignmentKind, AssignmentState, Letter, Note, Role, User
from app.services.delegations import active_delegations

REGISTER_READERS = (Role.REGISTRY_OFFICER, Role.ADMINISTRATOR)


def can_register(user: User) -> bool:
    return user.has_role(Role.REGISTRY_OFFICER)


def can_view_register(user: User) -> bool:
    return user.has_role(*REGISTER_READERS)


def delegators(user: User, letter_type_id: int | None) -> list[User]:
    """The absent colleagues whose work on letters of this type the user does today."""
    session = object_session(user)
    if session is None:
        return []
    found: dict[int, User] = {}
    for delegation in active_delegations(session, user, date.today()):
        if delegation.covers(letter_type_id):
            found.setdefault(delegation.user_id, delegation.user)
    return list(found.values())


def _acting_as(user: User, letter_type_id: int | None) -> Iterator[User]:
    """The user, then those they substitute today (looked up only if the user's own rights
    were not enough)."""
    yield user
    yield from delegators(user, letter_type_id)


def _heads(user: User, department_id: int) -> bool:
    return user.has_role(Role.DEPARTMENT_HEAD) and user.department_id == department_id


def is_head_of(user: User, department_id: int, letter: Letter | None = None) -> bool:
    """Heads the department, or stands in for its absent head today: for letters of the
    delegation's type, so without a letter only a delegation for every type counts."""
    letter_type_id = letter.letter_type_id if letter is not None else None
    return any(_heads(person, department_id) for person in _acting_as(user, letter_type_id))


def sees_assignment(user: User, assignment: Assignment) -> bool:
    """In the user's own right (can_view_letter adds the delegations)."""
    if (
        assignment.state == AssignmentState.RETURNED
        or user.department_id != assignment.department_id
    ):
        return False
    return (
        assignment.kind == AssignmentKind.COPY
        or assignment.agent_id == user.id
        or _heads(user, assignment.department_id)
    )


def can_view_letter(user: User, letter: Letter) -> bool:
    if letter.organisation_id != user.organisation_id:
        return False
    if letter.registered_by_id == user.id:
        return True
    if can_view_register(user) and not letter.confidential:
        return True
    if letter.assignments and any(
        sees_assignment(person, assignment)
        for person in _acting_as(user, letter.letter_type_id)
        for assignment in letter.assignments
    ):
        return True
    # A reply is seen by those who see what it answers.
    return letter.reply_to is not None and can_view_letter(user, letter.reply_to)


def can_route(user: User, letter: Letter) -> bool:
    return can_register(user) and can_view_letter(user, letter) and letter.is_open


def processing_assignment(user: User, letter: Letter) -> Assignment | None:
    """The open action assignment this user may work on (as its head or its agent, or for the
    absent one they substitute), if any."""
    if not letter.is_open:
        return None
    # Work starts once the department has accepted the letter.
    accepted = [
        a
        for a in letter.assignments
        if a.kind == AssignmentKind.ACTION and a.state == AssignmentState.ACCEPTED
    ]
    if not accepted:
        return None
    for person in _acting_as(user, letter.letter_type_id):
        for assignment in accepted:
            if _heads(person, assignment.department_id) or assignment.agent_id == person.id:
                return assignment
    return None


def acting_for(user: User, letter: Letter, assignment: Assignment | None = None) -> User | None:
    """Whose rights the user used on this letter: None when their own, otherwise the absent
    colleague they substitute today.

    The audit trail asks after the step is done, when the letter may already be closed or the
    assignment returned, so this looks at standing rather than at the current state: for a
    head's step on an assignment (accept, pass, return), heading its department; for any other
    step, the registry (the user's own role only) or heading, or being the agent of, an action
    assignment not sent back. Someone who stands in their own right acts in their own right.
    """

    def stands(person: User) -> bool:
        if assignment is not None:
            return _heads(person, assignment.department_id)
        return any(
            a.kind == AssignmentKind.ACTION
            and a.state != AssignmentState.RETURNED
            and (_heads(person, a.department_id) or a.agent_id == person.id)
            for a in letter.assignments
        )

    if can_register(user) or stands(user):
        return None
    return next((p for p in delegators(user, letter.letter_type_id) if stands(p)), None)


def can_correct(user: User, letter: Letter) -> bool:
    return can_register(user) and can_view_letter(user, letter) and not letter.is_cancelled


can_cancel = can_correct


def can_manage_organisation(user: User) -> bool:
    return user.has_role(Role.ADMINISTRATOR)


def visible_letters(user: User) -> ColumnElement[bool]:
    """The SQL form of can_view_letter, for lists and exports."""
    if not can_view_register(user):
        return false()
    return and_(
        Letter.organisation_id == user.organisation_id,
        or_(Letter.confidential.is_(False), Letter.registered_by_id == user.id),
    )


def headed_department_letters(user: User) -> ColumnElement[bool]:
    """The SQL form of what a head sees in their own right (sees_assignment): letters routed to
    their department, not sent back. Delegations are not in it: check the rest one by one."""
    if not user.has_role(Role.DEPARTMENT_HEAD) or user.department_id is None:
        return false()
    return Letter.id.in_(
        select(Assignment.letter_id).where(
            Assignment.department_id == user.department_id,
            Assignment.state != AssignmentState.RETURNED,
        )
    )


def can_annotate(user: User, letter: Letter) -> bool:
    """Notes come from the registry and from whoever processes the letter; copies only read."""
    return letter.is_open and (
        can_route(user, letter) or processing_assignment(user, letter) is not None
    )


def note_visible(user: User, note: Note) -> bool:
    """A department-only note is for that department (and whoever substitutes one of its
    members for the letter)."""
    if note.department_id is None or note.department_id == user.department_id:
        return True
    letter = object_session(note).get(Letter, note.letter_id)
    return any(
        d.department_id == note.department_id for d in delegators(user, letter.letter_type_id)
    )


def can_see_assignment(user: User, assignment: Assignment) -> bool:
    """The registry sees the whole routing; a department (and its members' substitutes) its own
    part of it."""
    return can_view_register(user) or any(
        person.department_id == assignment.department_id
        for person in _acting_as(user, assignment.letter.letter_type_id)
    )


def can_view_dashboard(user: User, department_id: int | None) -> bool:
    """Administrators see the figures of the whole administration and of any department; a
    department head those of their own department only (not a substitute: figures are not a
    letter's work)."""
    if user.has_role(Role.ADMINISTRATOR):
        return True
    return department_id is not None and _heads(user, department_id)
