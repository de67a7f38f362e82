"""API tokens: personal tokens a user makes for their own scripts, and an organisation's service
tokens, which act as a service account (an inactive user who cannot sign in, with the roles and
department an administrator gave it) for system-to-system exchange.

A token is shown once; only its SHA-256 and its first characters are kept. Scopes narrow what a
token may do; they never add a right: every call still goes through app.permissions as the
token's user.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import Department, Organisation, Role, User, UserRole
from app.models.api import ApiToken, TokenKind
from app.models.base import utcnow
from app.permissions import can_manage_organisation
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError

TOKEN_PREFIX = "dwn_"  # noqa: S105 - marks Diwan tokens (for secret scanners), not a secret
PREFIX_SHOWN = 12  # "dwn_" and 8 characters: enough to tell tokens apart in a list
SERVICE_USERNAME = "api.{code}.{suffix}"
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most once a minute per token

# What a token may be used for (an operation needs its scope AND the user's right).
SCOPES = {
    "letters:read": _l("Read letters, their history, documents and notes; the inboxes"),
    "letters:write": _l("Register, route and annotate letters"),
    "search": _l("Search letters"),
    "portal": _l("Submit requests to the e-counter (service tokens)"),
    "validate": _l("Check signed PDF files"),
    "dashboards:read": _l("Read dashboard figures"),
}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 bits


def _check_scopes(scopes: list[str]) -> list[str]:
    chosen = sorted(set(scopes))
    if not chosen or any(scope not in SCOPES for scope in chosen):
        raise ServiceError(_l("Choose at least one scope."), "scopes")
    return chosen


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise ServiceError(_l("Give the token a name (at most 120 characters)."), "name")
    return name


def create_token(
    session: Session,
    actor: Actor,
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``user`` (the actor themself, or a service account of the actor's
    organisation when the actor administers it). Returns the row and the token, shown once."""
    kind = TokenKind.PERSONAL if user.id == actor.user.id else TokenKind.SERVICE
    if kind == TokenKind.PERSONAL and not user.active:
        raise NotAllowed(_l("You cannot create API tokens."))
    if kind == TokenKind.SERVICE and not (
        can_manage_organisation(actor.user)
        and is_service_account(user)
        and user.organisation_id == actor.organisation_id
    ):
        raise NotAllowed(_l("Only administrators manage service tokens."))
    name, scopes = _check_name(name), _check_scopes(scopes)
    if expires_at is not None and expires_at <= utcnow():
        raise ServiceError(_l("The expiry date must be in the future."), "expires_on")
    secret = _new_secret()
    with write_transaction(session):
        token = ApiToken(
            organisation_id=user.organisation_id,
            kind=kind,
            user_id=user.id,
            name=name,
            prefix=secret[:PREFIX_SHOWN],
            token_hash=digest(secret),
            scopes=scopes,
            created_by_id=actor.user.id,
            expires_at=expires_at,
        )
        session.add(token)
        session.flush()
        _record(session, actor, token, "api_token.created", {"scopes": scopes})
    return token, secret


def revoke_token(session: Session, actor: Actor, token: ApiToken) -> None:
    """A user revokes their own tokens; an administrator any token of the organisation."""
    own = token.user_id == actor.user.id
    manages = can_manage_organisation(actor.user) and token.organisation_id == actor.organisation_id
    if not (own or manages):
        raise NotAllowed(_l("You cannot revoke this token."))
    if token.revoked_at is not None:
        return
    with write_transaction(session):
        token.revoked_at = utcnow()
        token.revoked_by_id = actor.user.id
        _record(session, actor, token, "api_token.revoked", {})


def _record(session: Session, actor: Actor, token: ApiToken, action: str, data: dict) -> None:
    audit.record(
        session,
        actor,
        action,
        organisation_id=token.organisation_id,
        object_type="api_token",
        object_id=token.id,
        data={"name": token.name, "prefix": token.prefix, "kind": token.kind, **data},
    )


def authenticate(session: Session, secret: str) -> ApiToken | None:
    """The token's row if it is known, not revoked, not expired, and its user may act: a
    personal token stops working when its person's account is closed."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.kind == TokenKind.PERSONAL and not token.user.active:
        return None
    return token


def touch(session: Session, token: ApiToken) -> None:
    """Remember when the token was last used, cheaply: one conditional UPDATE a minute."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return
    with write_transaction(session):
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token.id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_EVERY),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


# -- service accounts ------------------------------------------------------------------------------


def is_service_account(user: User) -> bool:
    return not user.active and user.username.startswith("api.")


def service_accounts(session: Session, organisation_id: int) -> list[User]:
    users = session.scalars(
        select(User)
        .where(
            User.organisation_id == organisation_id,
            User.active.is_(False),
            User.username.like("api.%"),
        )
        .order_by(User.id)
    )
    return [u for u in users if is_service_account(u)]


def create_service_account(
    session: Session,
    actor: Actor,
    *,
    name: str,
    roles: list[str],
    department_id: int | None,
) -> User:
    """An inactive user (no password matches, it cannot sign in) that service tokens act as."""
    if not can_manage_organisation(actor.user):
        raise NotAllowed(_l("Only administrators manage service tokens."))
    name = _check_name(name)
    if not roles or any(role not in set(Role) for role in roles):
        raise ServiceError(_l("Choose at least one role."), "roles")
    department = session.get(Department, department_id) if department_id else None
    if department_id and (
        department is None or department.organisation_id != actor.organisation_id
    ):
        raise ServiceError(_l("Unknown department."), "department_id")
    organisation = session.get(Organisation, actor.organisation_id)
    with write_transaction(session):
        user = User(
            organisation_id=organisation.id,
            department_id=department.id if department else None,
            username=SERVICE_USERNAME.format(code=organisation.code, suffix=secrets.token_hex(4)),
            full_name=name,
            password_hash="!",  # noqa: S106 - no password matches this hash
            active=False,
        )
        session.add(user)
        session.flush()
        for role in sorted(set(roles)):
            session.add(UserRole(user_id=user.id, role=role))
        audit.record(
            session,
            actor,
            "api_client.created",
            organisation_id=organisation.id,
            object_type="user",
            object_id=user.id,
            data={"name": name, "roles": sorted(set(roles)), "department": department_id},
        )
    return user
