"""Choices for select fields, in the user's language, scoped to the organisation."""

from __future__ import annotations

from flask_babel import get_locale
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, Department, LetterType, Role, User, UserRole
from app.services.contacts import search_contacts


def _locale() -> str:
    return str(get_locale() or "ar")


def department_choices(organisation_id: int) -> list[tuple[int, str]]:
    departments = db.session.scalars(
        select(Department)
        .where(Department.organisation_id == organisation_id, Department.active.is_(True))
        .order_by(Department.code)
    )
    return [(d.id, f"{d.code} — {d.name(_locale())}") for d in departments]


def agent_choices(department_id: int) -> list[tuple[int, str]]:
    agents = db.session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            User.department_id == department_id, User.active.is_(True), UserRole.role == Role.AGENT
        )
        .order_by(User.full_name)
    )
    return [(u.id, u.full_name) for u in agents]


def letter_type_choices(organisation_id: int, empty_label: str = "—") -> list[tuple]:
    """The organisation's active letter types, after an empty choice with the given label."""
    types = db.session.scalars(
        select(LetterType)
        .where(LetterType.organisation_id == organisation_id, LetterType.active.is_(True))
        .order_by(LetterType.code)
    )
    return [(None, empty_label)] + [(t.id, t.name(_locale())) for t in types]


CONTACT_CHOICES_LIMIT = 200


def contact_label(contact: Contact) -> str:
    return f"{contact.name} — {contact.national_id}" if contact.national_id else contact.name


def contact_choices(organisation_id: int, selected: int | None, empty_label: str) -> list[tuple]:
    """The most recent contacts (the page's search refines them), plus the selected one."""
    contacts = search_contacts(db.session, organisation_id, "", limit=CONTACT_CHOICES_LIMIT)
    if selected and selected not in {c.id for c in contacts}:
        chosen = db.session.get(Contact, selected)
        if chosen is not None and chosen.organisation_id == organisation_id:
            contacts.append(chosen)
    return [(None, empty_label)] + [(c.id, contact_label(c)) for c in contacts]
