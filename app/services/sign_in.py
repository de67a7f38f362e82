"""Signing in: the password, the lock-out after wrong attempts, the second factor, and how long a
signed-in session lasts.

After LOGIN_LOCKOUT_AFTER wrong passwords or codes in a row an account is locked for
LOGIN_LOCKOUT_MINUTES, twice as long at each further lock (after as many new failures), at
most a day; a complete sign-in resets the count. An unknown or disabled username gets the same
answers with the same timing: a password hash is checked all the same, and its failures are
counted (and locked) in the throttle table under the name typed. A session ends after
SESSION_IDLE_MINUTES without a request, SESSION_MAX_HOURS after signing in, or when the
password changes after it was opened; its timestamps live in the signed session cookie.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from app.database import write_transaction
from app.models import PortalThrottle, User
from app.models.base import utcnow
from app.services import audit, totp
from app.services.actor import Actor
from app.services.errors import ServiceError

MAX_LOCK_MINUTES = 24 * 60
SECOND_STEP_MINUTES = 5  # the code must follow the password within this time


def now() -> datetime:
    """The sign-in clock (naive UTC); tests move it instead of sleeping."""
    return utcnow()


def epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()


def _roles(value: str) -> frozenset[str]:
    return frozenset(role.strip() for role in value.split(",") if role.strip())


@dataclass(frozen=True)
class SignInSettings:
    secret_key: str
    lockout_after: int = 5
    lockout_minutes: int = 15
    idle_minutes: int = 30
    max_hours: int = 12
    totp_roles: frozenset[str] = frozenset({"administrator", "signatory"})
    required_roles: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, config) -> SignInSettings:
        required = _roles(config["TOTP_REQUIRED_ROLES"])
        return cls(
            secret_key=config["SECRET_KEY"],
            lockout_after=max(1, int(config["LOGIN_LOCKOUT_AFTER"])),
            lockout_minutes=max(1, int(config["LOGIN_LOCKOUT_MINUTES"])),
            idle_minutes=int(config["SESSION_IDLE_MINUTES"]),
            max_hours=int(config["SESSION_MAX_HOURS"]),
            totp_roles=_roles(config["TOTP_ROLES"]) | required,
            required_roles=required,
        )

    def may_use_totp(self, user: User) -> bool:
        return bool(user.roles & self.totp_roles) or user.totp_enabled

    def must_enrol(self, user: User) -> bool:
        return bool(user.roles & self.required_roles) and not user.totp_enabled


class Outcome(enum.StrEnum):
    SIGNED_IN = "signed_in"
    SECOND_FACTOR = "second_factor"  # the password was right; a code must follow
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    user: User | None = None
    locked_until: datetime | None = None


# --- Password and code ------------------------------------------------------------------------


# A hash of a forgotten random password, made as werkzeug's generate_password_hash makes users'
# (scrypt, n=32768): checking a password against it costs what checking a user's does.
DUMMY_HASH = (
    "scrypt:32768:8:1$s5xSW0xic9xYXcCH$3d5afd385edb916b706509e0cd63e3892d812cb296efd0730ff2cbe52"
    "2875b269334d0e7bf8d4a39689092afbd9991590bb7ff4c65848edd62645eb99157ef62"
)


def check_password(
    session: Session, settings: SignInSettings, username: str, password: str, remote_addr=""
) -> Attempt:
    moment = now()
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        check_password_hash(DUMMY_HASH, password)  # the same time as a known name
        return _unknown_name_failure(session, settings, username, moment)
    if user.locked_until is not None and user.locked_until > moment:
        check_password_hash(DUMMY_HASH, password)
        return Attempt(Outcome.LOCKED, locked_until=user.locked_until)
    if not user.check_password(password):
        return _count_failure(session, settings, user, moment, remote_addr)
    if user.totp_enabled:  # the count is reset only once the code is right too
        return Attempt(Outcome.SECOND_FACTOR, user)
    _reset(session, user)
    return Attempt(Outcome.SIGNED_IN, user)


def check_code(
    session: Session, settings: SignInSettings, user_id: int, code: str, remote_addr=""
) -> Attempt:
    """The second step: a code from the user's application, or one of their recovery codes."""
    moment = now()
    user = session.get(User, user_id)
    if user is None or not user.active or not user.totp_enabled:
        return Attempt(Outcome.WRONG)
    if user.locked_until is not None and user.locked_until > moment:
        return Attempt(Outcome.LOCKED, locked_until=user.locked_until)
    with write_transaction(session):
        session.refresh(user, with_for_update=True)  # two requests with one code: one wins
        accepted = totp.accept_code(session, user, settings.secret_key, code)
        if accepted:
            user.failed_logins = 0
            user.locked_until = None
    if accepted:
        return Attempt(Outcome.SIGNED_IN, user)
    return _count_failure(session, settings, user, moment, remote_addr)


def lock_minutes(settings: SignInSettings, failures: int) -> int | None:
    """How long the account is locked after this many failures in a row (None: not locked)."""
    if failures < settings.lockout_after or failures % settings.lockout_after:
        return None
    doublings = failures // settings.lockout_after - 1
    return min(settings.lockout_minutes * 2 ** min(doublings, 16), MAX_LOCK_MINUTES)


def _count_failure(session, settings, user: User, moment: datetime, remote_addr) -> Attempt:
    with write_transaction(session):
        session.refresh(user, with_for_update=True)
        user.failed_logins = (user.failed_logins or 0) + 1
        minutes = lock_minutes(settings, user.failed_logins)
        if minutes is not None:
            user.locked_until = moment + timedelta(minutes=minutes)
            audit.record(
                session,
                None,
                "user.locked",
                organisation_id=user.organisation_id,
                object_type="user",
                object_id=user.id,
                data={
                    "username": user.username,
                    "failures": user.failed_logins,
                    "until": user.locked_until.isoformat(timespec="seconds"),
                    "remote_addr": remote_addr,
                },
            )
    if minutes is not None:
        return Attempt(Outcome.LOCKED, locked_until=user.locked_until)
    return Attempt(Outcome.WRONG)


def _reset(session: Session, user: User) -> None:
    if user.failed_logins or user.locked_until is not None:
        with write_transaction(session):
            user.failed_logins = 0
            user.locked_until = None


def _unknown_name_failure(session, settings, username: str, moment: datetime) -> Attempt:
    """Count and lock an unknown name exactly as an account, so neither answer tells it apart."""
    key = f"sign-in:{username.lower()}"[:120]
    row = session.get(PortalThrottle, key)
    if row is not None and row.blocked_until is not None and row.blocked_until > moment:
        return Attempt(Outcome.LOCKED, locked_until=row.blocked_until)
    try:
        until = _count_unknown(session, settings, key, moment)
    except IntegrityError:  # PostgreSQL: a concurrent first failure inserted the same key
        until = _count_unknown(session, settings, key, moment)
    if until is not None:
        return Attempt(Outcome.LOCKED, locked_until=until)
    return Attempt(Outcome.WRONG)


def _count_unknown(session, settings, key: str, moment: datetime) -> datetime | None:
    with write_transaction(session):
        row = session.get(PortalThrottle, key, with_for_update=True)
        if row is None:
            row = PortalThrottle(key=key, failures=0)
            session.add(row)
        row.failures += 1
        row.updated_at = moment
        minutes = lock_minutes(settings, row.failures)
        row.blocked_until = moment + timedelta(minutes=minutes) if minutes else None
        return row.blocked_until


# --- Administration ---------------------------------------------------------------------------


def unlock(session: Session, actor: Actor | None, user: User) -> None:
    """Lift a lock (and forget the failures that led to it)."""
    if user.locked_until is None and not user.failed_logins:
        raise ServiceError(_l("This account is not locked."))
    with write_transaction(session):
        was_locked = user.locked_until
        user.failed_logins = 0
        user.locked_until = None
        audit.record(
            session,
            actor,
            "user.unlocked",
            organisation_id=user.organisation_id,
            object_type="user",
            object_id=user.id,
            data={
                "username": user.username,
                "locked_until": was_locked.isoformat(timespec="seconds") if was_locked else None,
            },
        )


# --- Sessions ---------------------------------------------------------------------------------


class Expiry(enum.StrEnum):
    IDLE = "idle"
    LIFETIME = "lifetime"
    PASSWORD = "password"  # noqa: S105 - changed after the session was opened
    UNKNOWN = "unknown"  # a session without timestamps (opened before they were kept)


def expiry(
    settings: SignInSettings,
    password_changed_at: datetime | None,
    signed_in_at: float | None,
    seen_at: float | None,
    moment: datetime,
) -> Expiry | None:
    """Why this session is over, or None while it is still valid (staff and citizens alike)."""
    if signed_in_at is None or seen_at is None:
        return Expiry.UNKNOWN
    current = epoch(moment)
    if current - signed_in_at > settings.max_hours * 3600:
        return Expiry.LIFETIME
    if current - seen_at > settings.idle_minutes * 60:
        return Expiry.IDLE
    if password_changed_at is not None and epoch(password_changed_at) > signed_in_at:
        return Expiry.PASSWORD
    return None
