"""Who may do what. Views, the API and services all ask here, so the rules live in one place.

A letter is visible only inside its organisation. Registry officers and administrators see the
register, except confidential letters, which only the officer who registered them sees there.
Departments see what is routed to them: the head sees the department's letters, an agent those
passed to them, everyone in a department its copies. A letter sent back to the registry leaves
the department's view.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_

from app.models import Assignment, AssignmentKind, AssignmentState, Letter, Role, User

REGISTER_READERS = (Role.REGISTRY_OFFICER, Role.ADMINISTRATOR)


def can_register(user: User) -> bool:
    return user.has_role(Role.REGISTRY_OFFICER)


def can_view_register(user: User) -> bool:
    return user.has_role(*REGISTER_READERS)


def is_head_of(user: User, department_id: int) -> bool:
    return user.has_role(Role.DEPARTMENT_HEAD) and user.department_id == department_id


def sees_assignment(user: User, assignment: Assignment) -> bool:
    if (
        assignment.state == AssignmentState.RETURNED
        or user.department_id != assignment.department_id
    ):
        return False
    return (
        assignment.kind == AssignmentKind.COPY
        or assignment.agent_id == user.id
        or is_head_of(user, assignment.department_id)
    )


def can_view_letter(user: User, letter: Letter) -> bool:
    if letter.organisation_id != user.organisation_id:
        return False
    if letter.registered_by_id == user.id:
        return True
    if can_view_register(user) and not letter.confidential:
        return True
    if any(sees_assignment(user, assignment) for assignment in letter.assignments):
        return True
    # A reply is seen by those who see what it answers.
    return letter.reply_to is not None and can_view_letter(user, letter.reply_to)


def can_route(user: User, letter: Letter) -> bool:
    return can_register(user) and can_view_letter(user, letter) and letter.is_open


def processing_assignment(user: User, letter: Letter) -> Assignment | None:
    """The open action assignment this user may work on (as its head or its agent), if any."""
    if not letter.is_open:
        return None
    for assignment in letter.assignments:
        # Work starts once the department has accepted the letter.
        if (
            assignment.kind == AssignmentKind.ACTION
            and assignment.state == AssignmentState.ACCEPTED
            and (is_head_of(user, assignment.department_id) or assignment.agent_id == user.id)
        ):
            return assignment
    return None


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


def can_annotate(user: User, letter: Letter) -> bool:
    """Notes come from the registry and from whoever processes the letter; copies only read."""
    return letter.is_open and (
        can_route(user, letter) or processing_assignment(user, letter) is not None
    )


def note_visible(user: User, note) -> bool:
    return note.department_id is None or note.department_id == user.department_id


def can_see_assignment(user: User, assignment: Assignment) -> bool:
    """The registry sees the whole routing; a department sees its own part of it."""
    return can_view_register(user) or user.department_id == assignment.department_id
