"""Who may do what. Views, the API and services all ask here, so the rules live in one place.

A letter is visible only inside its organisation. Registry officers and administrators see the
register; a confidential letter is shown only to the officer who registered it (routing, a later
feature, adds the people it is routed to).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_

from app.models import Letter, Role, User

REGISTER_READERS = (Role.REGISTRY_OFFICER, Role.ADMINISTRATOR)


def can_register(user: User) -> bool:
    return user.has_role(Role.REGISTRY_OFFICER)


def can_view_register(user: User) -> bool:
    return user.has_role(*REGISTER_READERS)


def can_view_letter(user: User, letter: Letter) -> bool:
    if letter.organisation_id != user.organisation_id or not can_view_register(user):
        return False
    return not letter.confidential or letter.registered_by_id == user.id


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
