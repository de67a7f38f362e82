"""The organisation's settings an administrator edits: a letter type's deadline rule and the
closure days of its working calendar. Administrator only, objects of the actor's organisation
only, one transaction with its audit event each.
"""

from __future__ import annotations

import re
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import Closure, LetterType, Organisation, ReplyTemplate
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from app.services.routing_rules import _require_admin

MAX_REASON_LENGTH = 200
MAX_DAYS = 3650  # ten years: anything longer is a typing mistake
DEADLINE_UNITS = ("working", "calendar")

DEADLINE_FIELDS = (
    "deadline_days",
    "deadline_unit",
    "extension_days",
    "max_extensions",
    "pausable",
    "urgent_days",
    "urgent_extension_days",
    "acknowledge_days",
)


# --- A letter type's deadline rule -------------------------------------------------------------


def update_deadline_rule(
    session: Session,
    actor: Actor,
    letter_type: LetterType,
    *,
    deadline_days: int | None,
    deadline_unit: str = "working",
    extension_days: int = 0,
    max_extensions: int = 0,
    pausable: bool = False,
    urgent_days: int | None = None,
    urgent_extension_days: int | None = None,
    acknowledge_days: int | None = None,
) -> dict:
    """Set the rule letters of this type get their due date from at registration.

    Letters already registered keep their due date. No days means no legal deadline. Returns the
    changes as {column: [old, new]}."""
    _require_admin(actor)
    if letter_type.organisation_id != actor.organisation_id:
        raise NotAllowed(_l("This letter type belongs to another organisation."))
    if deadline_days is not None and not 0 < deadline_days <= MAX_DAYS:
        raise ServiceError(
            _l("The deadline is a number of days above zero, or empty for no deadline."),
            "deadline_days",
        )
    if deadline_unit not in DEADLINE_UNITS:
        raise ServiceError(_l("Choose working or calendar days."), "deadline_unit")
    for field, value in (("extension_days", extension_days), ("max_extensions", max_extensions)):
        if not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
            raise ServiceError(_l("Enter a whole number, zero or more."), field)
    optional = {
        "urgent_days": urgent_days,
        "urgent_extension_days": urgent_extension_days,
        "acknowledge_days": acknowledge_days,
    }
    for field, value in optional.items():
        if value is not None and (not isinstance(value, int) or not 0 <= value <= MAX_DAYS):
            raise ServiceError(_l("Enter a whole number, zero or more, or leave it empty."), field)
    if urgent_days == 0:
        raise ServiceError(
            _l("The urgent deadline is a number of days above zero, or empty for none."),
            "urgent_days",
        )
    values = {
        "deadline_days": deadline_days,
        "deadline_unit": deadline_unit,
        "extension_days": extension_days,
        "max_extensions": max_extensions,
        "pausable": bool(pausable),
        **optional,
    }
    changes = {
        key: [getattr(letter_type, key), value]
        for key, value in values.items()
        if getattr(letter_type, key) != value
    }
    if not changes:
        return {}
    with write_transaction(session):
        for key, (_old, new) in changes.items():
            setattr(letter_type, key, new)
        audit.record(
            session,
            actor,
            "letter_type.deadline_changed",
            organisation_id=letter_type.organisation_id,
            object_type="letter_type",
            object_id=letter_type.id,
            data={"code": letter_type.code, "changes": changes},
        )
    return changes


# --- Closure days ------------------------------------------------------------------------------


def add_closure(session: Session, actor: Actor, day: date, reason: str = "") -> Closure:
    """A day the organisation is closed: working-day deadlines computed from now skip it."""
    _require_admin(actor)
    if not isinstance(day, date):
        raise ServiceError(_l("Enter the day."), "day")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ServiceError(_l("The reason is too long."), "reason")
    exists = session.scalar(
        select(Closure.id).where(
            Closure.organisation_id == actor.organisation_id, Closure.day == day
        )
    )
    if exists is not None:
        raise ServiceError(_l("This day is already a closure day."), "day")
    with write_transaction(session):
        closure = Closure(organisation_id=actor.organisation_id, day=day, reason=reason)
        session.add(closure)
        session.flush()
        _record_closure(session, actor, closure, "closure.added")
    return closure


def remove_closure(session: Session, actor: Actor, closure: Closure) -> None:
    """Configuration, not the registry: the row goes, the audit event keeps what it was."""
    _require_admin(actor)
    if closure.organisation_id != actor.organisation_id:
        raise NotAllowed(_l("This closure day belongs to another organisation."))
    with write_transaction(session):
        _record_closure(session, actor, closure, "closure.removed")
        session.delete(closure)


def _record_closure(session: Session, actor: Actor, closure: Closure, action: str) -> None:
    audit.record(
        session,
        actor,
        action,
        organisation_id=closure.organisation_id,
        object_type="closure",
        object_id=closure.id,
        data={"day": closure.day, "reason": closure.reason},
    )


# --- Reply templates -----------------------------------------------------------------------

TEMPLATE_LANGUAGES = ("ar", "fr", "en")
MAX_TEMPLATE_LENGTH = 20_000


def save_reply_template(
    session: Session,
    actor: Actor,
    template: ReplyTemplate | None,
    *,
    name: str,
    language: str,
    body: str,
) -> ReplyTemplate:
    """Create (template None) or change a reply template. Templates are never deleted."""
    _require_admin(actor)
    if template is not None and template.organisation_id != actor.organisation_id:
        raise NotAllowed(_l("This template belongs to another organisation."))
    name, body = name.strip(), body.strip()
    if not name:
        raise ServiceError(_l("Give the template a name."), "name")
    if language not in TEMPLATE_LANGUAGES:
        raise ServiceError(_l("Choose the template's language."), "language")
    if not body or len(body) > MAX_TEMPLATE_LENGTH:
        raise ServiceError(_l("Write the template's text (at most 20,000 characters)."), "body")
    with write_transaction(session):
        if template is None:
            template = ReplyTemplate(organisation_id=actor.organisation_id)
            session.add(template)
            action = "reply_template.created"
        else:
            action = "reply_template.changed"
        template.name, template.language, template.body = name, language, body
        session.flush()
        audit.record(
            session,
            actor,
            action,
            organisation_id=actor.organisation_id,
            object_type="reply_template",
            object_id=template.id,
            data={"name": name, "language": language},
        )
    return template


def set_reply_template_active(
    session: Session, actor: Actor, template: ReplyTemplate, active: bool
) -> None:
    _require_admin(actor)
    if template.organisation_id != actor.organisation_id:
        raise NotAllowed(_l("This template belongs to another organisation."))
    with write_transaction(session):
        template.active = active
        audit.record(
            session,
            actor,
            "reply_template.activated" if active else "reply_template.deactivated",
            organisation_id=actor.organisation_id,
            object_type="reply_template",
            object_id=template.id,
            data={"name": template.name},
        )


# --- Letter types ----------------------------------------------------------------------------

LETTER_TYPE_CODE = re.compile(r"^[A-Z0-9_]{1,40}$")


def add_letter_type(
    session: Session, actor: Actor, *, code: str, name_ar: str, name_fr: str, name_en: str = ""
) -> LetterType:
    """A new letter type (its deadline rule is set afterwards, on its own page)."""
    from app.services.organisations import create_letter_type

    _require_admin(actor)
    code = code.strip().upper()
    if not LETTER_TYPE_CODE.match(code):
        raise ServiceError(_l("The code is made of capital letters, digits and _."), "code")
    if not name_ar.strip() or not name_fr.strip():
        raise ServiceError(_l("Give the Arabic and the French name."), "name_ar")
    exists = session.scalar(
        select(LetterType.id).where(
            LetterType.organisation_id == actor.organisation_id, LetterType.code == code
        )
    )
    if exists is not None:
        raise ServiceError(_l("A letter type with this code exists already."), "code")
    organisation = session.get(Organisation, actor.organisation_id)
    return create_letter_type(
        session,
        actor,
        organisation,
        code=code,
        name_ar=name_ar.strip(),
        name_fr=name_fr.strip(),
        name_en=name_en.strip(),
    )
