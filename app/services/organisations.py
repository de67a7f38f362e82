"""Creating organisations, departments and users (CLI, demo data, later the admin pages)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import Department, LetterType, Organisation, ReplyTemplate, Role, User, UserRole
from app.models.base import utcnow
from app.services import audit, numbering, passwords
from app.services.actor import Actor
from app.services.errors import ServiceError
from app.timezones import UnknownTimezone, zone


def create_organisation(
    session: Session,
    actor: Actor | None,
    *,
    code: str,
    name_ar: str,
    name_fr: str,
    name_en: str = "",
    timezone: str = "Africa/Casablanca",
    number_format: str = "",
) -> Organisation:
    if session.scalar(select(Organisation.id).where(Organisation.code == code)):
        raise ServiceError(f"an organisation with the code {code!r} exists already")
    try:
        zone(timezone)
    except UnknownTimezone as error:
        raise ServiceError(f"unknown time zone {timezone!r}") from error
    if number_format:
        try:
            numbering.validate_format(number_format)
        except (ValueError, KeyError, IndexError) as error:
            raise ServiceError(str(error)) from error
    with write_transaction(session):
        organisation = Organisation(
            code=code,
            name_ar=name_ar,
            name_fr=name_fr,
            name_en=name_en,
            timezone=timezone,
            number_format=number_format,
        )
        session.add(organisation)
        session.flush()
        audit.record(
            session,
            actor,
            "organisation.created",
            organisation_id=organisation.id,
            object_type="organisation",
            object_id=organisation.id,
            data={"code": code, "name_ar": name_ar, "name_fr": name_fr},
        )
    return organisation


def create_department(
    session: Session,
    actor: Actor | None,
    organisation: Organisation,
    *,
    code: str,
    name_ar: str,
    name_fr: str,
    parent: Department | None = None,
) -> Department:
    if parent is not None and parent.organisation_id != organisation.id:
        raise ServiceError("the parent department belongs to another organisation")
    with write_transaction(session):
        department = Department(
            organisation_id=organisation.id,
            code=code,
            name_ar=name_ar,
            name_fr=name_fr,
            parent_id=parent.id if parent else None,
        )
        session.add(department)
        session.flush()
        audit.record(
            session,
            actor,
            "department.created",
            organisation_id=organisation.id,
            object_type="department",
            object_id=department.id,
            data={"code": code, "parent": parent.code if parent else None},
        )
    return department


def create_user(
    session: Session,
    actor: Actor | None,
    organisation: Organisation,
    *,
    username: str,
    full_name: str,
    password: str,
    roles: list[Role],
    department: Department | None = None,
    email: str = "",
    locale: str = "",
) -> User:
    passwords.check(password, username=username, full_name=full_name)
    if session.scalar(select(User.id).where(User.username == username)):
        raise ServiceError(f"the username {username!r} is taken")
    if department is not None and department.organisation_id != organisation.id:
        raise ServiceError("the department belongs to another organisation")
    with write_transaction(session):
        user = User(
            organisation_id=organisation.id,
            department_id=department.id if department else None,
            username=username,
            full_name=full_name,
            email=email,
            locale=locale,
        )
        user.set_password(password)
        user.password_changed_at = utcnow()
        user.role_rows = [UserRole(role=str(role)) for role in roles]
        session.add(user)
        session.flush()
        audit.record(
            session,
            actor,
            "user.created",
            organisation_id=organisation.id,
            object_type="user",
            object_id=user.id,
            data={"username": username, "roles": sorted(str(r) for r in roles)},
        )
    return user


def create_letter_type(
    session: Session,
    actor: Actor | None,
    organisation: Organisation,
    *,
    code: str,
    name_ar: str,
    name_fr: str,
    name_en: str = "",
    deadline_rule: dict | None = None,
) -> LetterType:
    """``deadline_rule``: LetterType rule columns, e.g. ``deadlines.rule_columns(procedure)``."""
    with write_transaction(session):
        letter_type = LetterType(
            organisation_id=organisation.id,
            code=code,
            name_ar=name_ar,
            name_fr=name_fr,
            name_en=name_en,
            **(deadline_rule or {}),
        )
        session.add(letter_type)
        session.flush()
        audit.record(
            session,
            actor,
            "letter_type.created",
            organisation_id=organisation.id,
            object_type="letter_type",
            object_id=letter_type.id,
            data={"code": code},
        )
    return letter_type


def create_reply_template(
    session: Session,
    actor: Actor | None,
    organisation: Organisation,
    *,
    name: str,
    language: str,
    body: str,
) -> ReplyTemplate:
    if not body.strip():
        raise ServiceError("a reply template needs a text")
    with write_transaction(session):
        template = ReplyTemplate(
            organisation_id=organisation.id, name=name, language=language, body=body
        )
        session.add(template)
        session.flush()
        audit.record(
            session,
            actor,
            "reply_template.created",
            organisation_id=organisation.id,
            object_type="reply_template",
            object_id=template.id,
            data={"name": name, "language": language},
        )
    return template
