"""Security keys and platform authenticators (WebAuthn) that confirm a signature.

A user registers keys on their account page; when they sign, the browser asks one of their
active keys to sign a challenge derived from the document's digest, and the verified assertion
is kept as evidence. Options and verification are py_webauthn's; this module decides whose keys
count, keeps the counters and writes the audit events. The web layer supplies the relying party
(its id and the origin) and keeps challenges between the two halves of a ceremony.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.database import write_transaction
from app.models import SecurityKey, User
from app.models.base import utcnow
from app.models.security_key import MAX_CREDENTIAL_ID_BYTES
from app.services import audit
from app.services.actor import Actor
from app.services.errors import ServiceError

RP_NAME = "Diwan"
MAX_ACTIVE_KEYS = 10  # plenty for spares; more would only lengthen every signing prompt
MAX_NAME_LENGTH = 100
SIGNING_CONTEXT = b"diwan-sign-v1\0"
MIN_NONCE_BYTES = 16
# A browser's JSON answer is a few kilobytes; refuse anything far larger before parsing it.
MAX_RESPONSE_CHARS = 64_000
# What a failed verification may raise: py_webauthn's own errors, and base64 or structure errors
# from data it decodes before checking.
_BAD_RESPONSE = (WebAuthnException, ValueError, TypeError, KeyError)


Credential = TypeVar("Credential", RegistrationCredential, AuthenticationCredential)


class SecurityKeyError(ServiceError):
    """A key, or its answer, was refused; nothing was changed."""


# --- the user's keys ---------------------------------------------------------------------------


def keys_of(session: Session, user: User) -> list[SecurityKey]:
    """Every key the user registered, active ones first, newest first."""
    stmt = (
        select(SecurityKey)
        .where(SecurityKey.user_id == user.id)
        .order_by(SecurityKey.disabled_at.is_not(None), SecurityKey.id.desc())
    )
    return list(session.scalars(stmt))


def active_keys(session: Session, user: User) -> list[SecurityKey]:
    stmt = (
        select(SecurityKey)
        .where(SecurityKey.user_id == user.id, SecurityKey.disabled_at.is_(None))
        .order_by(SecurityKey.id)
    )
    return list(session.scalars(stmt))


def has_active_key(session: Session, user: User) -> bool:
    stmt = select(SecurityKey.id).where(
        SecurityKey.user_id == user.id, SecurityKey.disabled_at.is_(None)
    )
    return session.scalar(stmt.limit(1)) is not None


def key_of_user(session: Session, user: User, key_id: int) -> SecurityKey | None:
    """The key if it is this user's own; None for anyone else's, so its existence is not told."""
    key = session.get(SecurityKey, key_id)
    return key if key is not None and key.user_id == user.id else None


def _descriptors(keys: list[SecurityKey]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=key.credential_id, transports=_transports(key))
        for key in keys
    ]


def _transports(key: SecurityKey) -> list[AuthenticatorTransport] | None:
    """The stored hints py_webauthn knows (a newer browser may have sent others)."""
    known = {transport.value: transport for transport in AuthenticatorTransport}
    return [known[name] for name in key.transports or [] if name in known] or None


# --- registration ------------------------------------------------------------------------------


def registration_options(session: Session, user: User, *, challenge: bytes, rp_id: str) -> str:
    """JSON options for navigator.credentials.create. The user's active keys are excluded, so
    an authenticator already registered says so instead of making a second credential."""
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_name=user.username,
        user_display_name=user.full_name,
        challenge=challenge,
        exclude_credentials=_descriptors(active_keys(session, user)),
        authenticator_selection=AuthenticatorSelectionCriteria(
            # Signing always names the allowed keys, so nothing needs to live on the key.
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return options_to_json(options)


def register_key(
    session: Session,
    actor: Actor,
    *,
    name: str,
    challenge: bytes,
    response_json: str,
    rp_id: str,
    origin: str,
) -> SecurityKey:
    """Verify the browser's answer to registration_options and keep the new key."""
    user = actor.user
    name = (name or "").strip()
    if not name:
        raise SecurityKeyError(_l("Give the key a name you will recognise."), "name")
    if len(name) > MAX_NAME_LENGTH:
        raise SecurityKeyError(
            _l("The name is too long (%(max)s characters at most).", max=MAX_NAME_LENGTH), "name"
        )
    credential = _parse(response_json, parse_registration_credential_json)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except _BAD_RESPONSE as error:
        raise SecurityKeyError(_l("The security key's answer could not be verified.")) from error
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise SecurityKeyError(_l("The security key's answer could not be verified."))
    transports = sorted({str(t.value) for t in credential.response.transports or []})
    with write_transaction(session):
        # Checked inside the write transaction, so two registrations cannot both pass.
        if session.scalar(
            select(SecurityKey.id).where(SecurityKey.credential_id == verified.credential_id)
        ):
            raise SecurityKeyError(_l("This security key is already registered."))
        if len(active_keys(session, user)) >= MAX_ACTIVE_KEYS:
            raise SecurityKeyError(
                _l(
                    "You have %(count)s active keys already. Disable one before adding another.",
                    count=MAX_ACTIVE_KEYS,
                )
            )
        key = SecurityKey(
            organisation_id=user.organisation_id,
            user_id=user.id,
            name=name,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=transports,
        )
        session.add(key)
        session.flush()
        audit.record(
            session,
            actor,
            "security_key.registered",
            organisation_id=user.organisation_id,
            object_type="security_key",
            object_id=key.id,
            data={
                "name": name,
                "credential_id": bytes_to_base64url(key.credential_id),
                "transports": transports,
                "user_verified": verified.user_verified,
            },
        )
    return key


def disable_key(session: Session, actor: Actor, key: SecurityKey) -> None:
    """Only its owner disables a key; it then confirms nothing, and the row stays."""
    if key.user_id != actor.user.id:
        raise SecurityKeyError(_l("Only the owner of a security key can disable it."))
    if key.disabled_at is not None:
        raise SecurityKeyError(_l("This security key was already disabled."))
    with write_transaction(session):
        key.disabled_at = utcnow()
        audit.record(
            session,
            actor,
            "security_key.disabled",
            organisation_id=key.organisation_id,
            object_type="security_key",
            object_id=key.id,
            data={"name": key.name, "credential_id": bytes_to_base64url(key.credential_id)},
        )


# --- confirming a signature --------------------------------------------------------------------


def signing_challenge(document_sha256: str, nonce: bytes) -> bytes:
    """The challenge a key signs to confirm a document: it binds the assertion to the document's
    digest, and the nonce (kept server-side between options and verification) makes each one
    fresh."""
    digest = bytes.fromhex(document_sha256)
    if len(digest) != hashlib.sha256().digest_size:
        raise ValueError("document_sha256 must be a SHA-256 digest in hexadecimal")
    if len(nonce) < MIN_NONCE_BYTES:
        raise ValueError(f"the nonce must have at least {MIN_NONCE_BYTES} bytes")
    return hashlib.sha256(SIGNING_CONTEXT + digest + nonce).digest()


def assertion_options(session: Session, user: User, *, challenge: bytes, rp_id: str) -> str:
    """JSON options for navigator.credentials.get, allowing only the user's active keys."""
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        allow_credentials=_descriptors(active_keys(session, user)),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options)


def verify_assertion(
    session: Session,
    user: User,
    *,
    challenge: bytes,
    response_json: str,
    rp_id: str,
    origin: str,
) -> dict:
    """Verify the browser's answer to assertion_options with one of the user's active keys.

    Commits, in its own write transaction, the key's new counter and last use with a
    "security_key.used" audit event: call it before (not inside) the signing transaction. Returns
    the evidence to keep with the signature, ready for JSON."""
    credential = _parse(response_json, parse_authentication_credential_json)
    key = session.scalar(select(SecurityKey).where(SecurityKey.credential_id == credential.raw_id))
    if key is None or key.user_id != user.id:
        raise SecurityKeyError(_l("This security key is not registered to you."))
    if key.disabled_at is not None:
        raise SecurityKeyError(_l("This security key was disabled."))
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=key.public_key,
            credential_current_sign_count=key.sign_count,
        )
    except _BAD_RESPONSE as error:
        raise SecurityKeyError(_l("The security key's answer could not be verified.")) from error
    with write_transaction(session):
        session.refresh(key)
        # Again under the write lock: the same answer sent twice at once passes only once.
        if key.disabled_at is not None:
            raise SecurityKeyError(_l("This security key was disabled."))
        new_count, known_count = verified.new_sign_count, key.sign_count
        if (new_count > 0 or known_count > 0) and new_count <= known_count:
            raise SecurityKeyError(_l("The security key's answer could not be verified."))
        key.sign_count = verified.new_sign_count
        key.last_used_at = utcnow()
        audit.record(
            session,
            Actor(user=user),
            "security_key.used",
            organisation_id=key.organisation_id,
            object_type="security_key",
            object_id=key.id,
            data={
                "name": key.name,
                "credential_id": bytes_to_base64url(key.credential_id),
                "challenge": bytes_to_base64url(challenge),
                "sign_count": verified.new_sign_count,
                "user_verified": verified.user_verified,
            },
        )
    response = credential.response
    return {
        "credential_id": bytes_to_base64url(key.credential_id),
        "key_name": key.name,
        "authenticator_data": bytes_to_base64url(response.authenticator_data),
        "client_data_json": bytes_to_base64url(response.client_data_json),
        "signature": bytes_to_base64url(response.signature),
        "challenge": bytes_to_base64url(challenge),
        "sign_count": verified.new_sign_count,
    }


def _parse(response_json: str, parse: Callable[[dict], Credential]) -> Credential:
    """The browser's JSON answer as py_webauthn's structure, or a SecurityKeyError."""
    if not isinstance(response_json, str) or not response_json.strip():
        raise SecurityKeyError(_l("The browser sent no answer from a security key."))
    if len(response_json) > MAX_RESPONSE_CHARS:
        raise SecurityKeyError(_l("The security key's answer could not be read."))
    try:
        return parse(json.loads(response_json))
    except (*_BAD_RESPONSE, RecursionError) as error:
        raise SecurityKeyError(_l("The security key's answer could not be read.")) from error
