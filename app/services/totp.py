"""The optional second factor: TOTP codes (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) from
an authenticator application, and single-use recovery codes.

The secret is kept encrypted under a key derived from SECRET_KEY (services/sealing.py); a code
is accepted for the step before, the current one and the one after (clocks drift), and only for
a step later than the last one used, so a code seen over a shoulder cannot be replayed. Recovery
codes are shown once, at enrolment, and kept as SHA-256 digests (they are random, 50 bits).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import segno
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import User
from app.models.base import utcnow
from app.services import audit, sealing
from app.services.actor import Actor
from app.services.errors import ServiceError

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODES = 8
PURPOSE = "totp-secrets"
_CODE = re.compile(r"^\d{6}$")


# --- RFC 6238 --------------------------------------------------------------------------------


def new_secret() -> str:
    """160 random bits, in base32 as authenticator applications expect."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def step_at(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp()) // STEP_S


def code_at(secret: str, step: int) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def matching_step(secret: str, code: str, moment: datetime, after: int | None) -> int | None:
    """The step this code belongs to (within the drift), if it is later than ``after``."""
    code = normalise(code)
    if not _CODE.match(code):
        return None
    now = step_at(moment)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def looks_like_totp(code: str) -> bool:
    return bool(_CODE.match(normalise(code)))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    label = quote(f"{issuer}:{account}")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": 6})
    return f"otpauth://totp/{label}?{query}&period={STEP_S}"


def qr_data_uri(uri: str) -> str:
    """The QR code as an SVG data: URI for an <img> (the CSP allows data: images, no inline
    SVG whose attributes it would have to trust)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4)


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an application by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- Stored secrets and recovery codes --------------------------------------------------------


def seal_secret(secret_key: str, secret: str) -> str:
    return sealing.seal(secret_key, PURPOSE, secret)


def open_secret(secret_key: str, sealed: str) -> str:
    return sealing.unseal(secret_key, PURPOSE, sealed)


def _digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def _new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(7)).decode()[:10].lower()
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    """Strike the code off the user's list if it is on it (the caller's transaction)."""
    digest = _digest(code)
    remaining = list(user.totp_recovery_codes or [])
    matches = [stored for stored in remaining if hmac.compare_digest(stored, digest)]
    if not matches:
        return False
    remaining.remove(matches[0])
    user.totp_recovery_codes = remaining  # a new list: the JSON column sees the change
    return True


# --- Enrolment, disabling, reset --------------------------------------------------------------


def enable(session: Session, actor: Actor, *, secret_key: str, secret: str, code: str) -> list:
    """Turn the second factor on once a code from the new secret proves the application has it.
    Returns the recovery codes, to be shown once."""
    user = actor.user
    if user.totp_enabled:
        raise ServiceError(_l("The two-step sign-in is already on."))
    step = matching_step(secret, code, _now(), None)
    if step is None:
        raise ServiceError(
            _l("This code is not the right one. Check your phone's clock and type the new code."),
            field="code",
        )
    codes = _new_recovery_codes()
    with write_transaction(session):
        user.totp_secret_encrypted = seal_secret(secret_key, secret)
        user.totp_enabled_at = utcnow()
        user.totp_last_step = step
        user.totp_recovery_codes = [_digest(code) for code in codes]
        _record(session, actor, user, "user.totp_enabled")
    return codes


def disable(session: Session, actor: Actor, *, secret_key: str, password: str, code: str) -> None:
    """The user turns it off: their password and a current code (or a recovery code)."""
    user = actor.user
    if not user.totp_enabled:
        raise ServiceError(_l("The two-step sign-in is not on."))
    if not user.check_password(password):
        raise ServiceError(_l("The current password is wrong."), field="password")
    with write_transaction(session):
        if not _accept(user, secret_key, code):
            raise ServiceError(_l("This code is not the right one."), field="code")
        _clear(user)
        _record(session, actor, user, "user.totp_disabled")


def reset(session: Session, actor: Actor | None, user: User) -> None:
    """An administrator turns it off for a user who lost their phone and recovery codes."""
    if not user.totp_enabled:
        raise ServiceError(_l("The two-step sign-in is not on."))
    with write_transaction(session):
        _clear(user)
        _record(session, actor, user, "user.totp_reset")


def accept_code(session: Session, user: User, secret_key: str, code: str) -> bool:
    """At sign-in, in the caller's transaction: a fresh TOTP code or an unused recovery code,
    each accepted once."""
    return _accept(user, secret_key, code, session)


def _accept(user: User, secret_key: str, code: str, session: Session | None = None) -> bool:
    if looks_like_totp(code):
        try:
            secret = open_secret(secret_key, user.totp_secret_encrypted)
        except sealing.InvalidToken:  # SECRET_KEY changed: only a recovery code or a reset helps
            return False
        step = matching_step(secret, code, _now(), user.totp_last_step)
        if step is None:
            return False
        user.totp_last_step = step
        return True
    if not use_recovery_code(user, code):
        return False
    if session is not None:
        left = len(user.totp_recovery_codes or [])
        _record(session, None, user, "user.recovery_code_used", {"left": left})
    return True


def _now() -> datetime:
    from app.services import sign_in  # one clock for the whole sign-in (tests move it)

    return sign_in.now()


def _clear(user: User) -> None:
    user.totp_secret_encrypted = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.totp_recovery_codes = None


def _record(session, actor, user: User, action: str, data: dict | None = None) -> None:
    audit.record(
        session,
        actor,
        action,
        organisation_id=user.organisation_id,
        object_type="user",
        object_id=user.id,
        data={"username": user.username, **(data or {})},
    )
