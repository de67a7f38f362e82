"""The request types an administration publishes on the e-counter (administrators only)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import IDENTITY_FIELDS, EmailMode, LetterType, PortalRequestType
from app.permissions import can_manage_organisation
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError

CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # in the portal's URLs
FIELDS = (
    "code",
    "name_ar",
    "name_fr",
    "name_en",
    "letter_type_id",
    "required_fields",
    "email_mode",
    "reopen_days",
    "published",
    "position",
)


def request_types(session: Session, organisation_id: int) -> list[PortalRequestType]:
    return list(
        session.scalars(
            select(PortalRequestType)
            .where(PortalRequestType.organisation_id == organisation_id)
            .order_by(PortalRequestType.position, PortalRequestType.id)
        )
    )


def save_request_type(
    session: Session, actor: Actor, request_type: PortalRequestType | None, **values
) -> PortalRequestType:
    """Create (``request_type`` None) or change a request type; ``values`` are the FIELDS."""
    if actor.user is None or not can_manage_organisation(actor.user):
        raise NotAllowed(_l("Only administrators can change the e-counter."))
    values = _checked(session, actor, request_type, **values)
    with write_transaction(session):
        if request_type is None:
            request_type = PortalRequestType(organisation_id=actor.organisation_id)
            session.add(request_type)
            action = "portal_type.created"
        else:
            action = "portal_type.changed"
        for name, value in values.items():
            setattr(request_type, name, value)
        session.flush()
        audit.record(
            session,
            actor,
            action,
            organisation_id=actor.organisation_id,
            object_type="portal_request_type",
            object_id=request_type.id,
            data=values,
        )
    return request_type


def _checked(
    session: Session,
    actor: Actor,
    current: PortalRequestType | None,
    *,
    code: str,
    name_ar: str,
    name_fr: str,
    name_en: str = "",
    letter_type_id: int | None = None,
    required_fields: list[str] | tuple[str, ...] = (),
    email_mode: str = EmailMode.OPTIONAL,
    reopen_days: int | None = None,
    published: bool = True,
    position: int = 0,
) -> dict:
    code = code.strip().lower()
    if not CODE_PATTERN.match(code):
        raise ServiceError(_l("The code is 1 to 40 lower-case letters, digits or hyphens."), "code")
    same_code = session.scalar(
        select(PortalRequestType.id).where(
            PortalRequestType.organisation_id == actor.organisation_id,
            PortalRequestType.code == code,
        )
    )
    if same_code is not None and (current is None or same_code != current.id):
        raise ServiceError(_l("Another request type has this code."), "code")
    if not name_ar.strip() or not name_fr.strip():
        raise ServiceError(_l("The Arabic and French names are required."), "name_ar")
    if letter_type_id is not None:
        letter_type = session.get(LetterType, letter_type_id)
        if letter_type is None or letter_type.organisation_id != actor.organisation_id:
            raise ServiceError(_l("Unknown letter type."), "letter_type_id")
        if not letter_type.active and (current is None or current.letter_type_id != letter_type_id):
            raise ServiceError(_l("This letter type is no longer in use."), "letter_type_id")
    if not set(required_fields) <= set(IDENTITY_FIELDS):
        raise ServiceError(_l("Unknown identity field."), "required_fields")
    if email_mode not in set(EmailMode):
        raise ServiceError(_l("Unknown e-mail setting."), "email_mode")
    if "email" in required_fields:  # one way to say it: an e-mail required is confirmed
        email_mode = EmailMode.REQUIRED
    if reopen_days is not None and not 1 <= reopen_days <= 365:
        raise ServiceError(_l("Reopening is allowed for 1 to 365 days."), "reopen_days")
    return {
        "code": code,
        "name_ar": name_ar.strip(),
        "name_fr": name_fr.strip(),
        "name_en": name_en.strip(),
        "letter_type_id": letter_type_id,
        "required_fields": [
            f for f in IDENTITY_FIELDS if f in set(required_fields) and f != "email"
        ],
        "email_mode": email_mode,
        "reopen_days": reopen_days,
        "published": bool(published),
        "position": int(position),
    }
