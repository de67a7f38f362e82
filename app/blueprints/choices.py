"""Choices for select fields, in the user's language, scoped to the organisation."""

from __future__ import annotations

from flask_babel import get_locale
from sqlalchemy import select

from app.extensions import db
from app.models import Department, Role, User, UserRole


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
