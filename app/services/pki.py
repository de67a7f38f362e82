"""The organisation's keys and certificates (embedded default): its CA, seal and time-stamp
authority, the signatories' certificates, revocation and the CRL.

The CA, seal and time-stamp keys are encrypted under a key derived from the installation's
SECRET_KEY. A signatory's key is encrypted under the signing secret the signatory chose, which
is never stored: it is opened for one signing (or one batch) and dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import Organisation, User
from app.models.base import utcnow
from app.models.signing import (
    CertificatePurpose,
    KeyStorage,
    RevocationList,
    SigningCertificate,
)
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from signing import keystore, pki
from signing.pades import ValidationMaterial

CRL_VALIDITY = timedelta(days=7)
CRL_RENEW_BEFORE = timedelta(days=2)
SIGNATORY_VALIDITY = timedelta(days=3 * 365)


@dataclass(frozen=True)
class PkiSettings:
    secret_key: str  # the installation's SECRET_KEY
    base_url: str  # where the CRL is served

    @classmethod
    def from_config(cls, config) -> PkiSettings:
        return cls(secret_key=config["SECRET_KEY"], base_url=config["BASE_URL"].rstrip("/"))

    def crl_url(self, organisation: Organisation) -> str:
        return f"{self.base_url}/pki/{organisation.code}/crl"

    def server_secret(self, organisation_id: int, purpose: str) -> str:
        """The secret a server-held key is encrypted under: never stored, derived again."""
        message = f"diwan-pki-v1:{organisation_id}:{purpose}".encode()
        return hmac.new(self.secret_key.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class OrganisationPki:
    authority: pki.Authority
    seal: pki.Identity
    timestamping: pki.Identity


# Server-held identities, opened once per process (each opening costs a scrypt derivation).
_opened: dict[str, pki.Identity] = {}


def now_utc() -> datetime:
    return datetime.now(UTC)


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _names(organisation: Organisation) -> tuple[str, str | None]:
    """The organisation's name for certificates: one script per attribute, at most 64
    characters (French, else English, else Arabic; else its code)."""
    for name in (organisation.name_fr, organisation.name_en, organisation.name_ar):
        try:
            pki.check_script(name)
        except ValueError:
            continue
        if len(name) <= 64:  # X.520's upper bound for organisation names
            return name, organisation.country or None
    return organisation.code, organisation.country or None


def certificate_name(full_name: str) -> str:
    """The name for a certificate: one script. A bilingual name ("Ahmed Chraibi · أحمد
    الشرايبي") gives its first part that is in one script; the stamp shows the whole name."""
    for part in [full_name, *re.split(r"\s*[·|/]\s*", full_name)]:
        try:
            pki.check_script(part.strip())
        except ValueError:
            continue
        return part.strip()
    return full_name  # refused with its reason by Subject.to_name()


def _is_arabic(text: str) -> bool:
    return any("\u0600" <= char <= "\u06ff" for char in text)


def _row(
    organisation_id: int,
    certificate: x509.Certificate,
    purpose: str,
    storage: str,
    *,
    user_id: int | None = None,
    encrypted_key: bytes | None = None,
    chain: tuple[x509.Certificate, ...] = (),
) -> SigningCertificate:
    return SigningCertificate(
        organisation_id=organisation_id,
        user_id=user_id,
        purpose=purpose,
        serial=format(certificate.serial_number, "x"),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=naive(certificate.not_valid_before_utc),
        not_after=naive(certificate.not_valid_after_utc),
        certificate_der=certificate.public_bytes(serialization.Encoding.DER),
        chain_der=[
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain
        ],
        key_storage=storage,
        encrypted_key=encrypted_key,
    )


def _server_row(session: Session, organisation_id: int, purpose: str) -> SigningCertificate | None:
    return session.scalar(
        select(SigningCertificate)
        .where(
            SigningCertificate.organisation_id == organisation_id,
            SigningCertificate.purpose == purpose,
            SigningCertificate.revoked_at.is_(None),
        )
        .order_by(SigningCertificate.id.desc())
    )


def _open_server(row: SigningCertificate, settings: PkiSettings, chain=()) -> pki.Identity:
    # Keyed by the certificate itself: row ids repeat across databases (tests, restores).
    cache_key = hashlib.sha256(row.certificate_der).hexdigest()
    identity = _opened.get(cache_key)
    if identity is None:
        secret = settings.server_secret(row.organisation_id, row.purpose)
        key = keystore.open_key(row.encrypted_key, secret)
        certificate = x509.load_der_x509_certificate(row.certificate_der)
        identity = _opened[cache_key] = pki.Identity(key, certificate, tuple(chain))
    return identity


def has_pki(session: Session, organisation: Organisation) -> bool:
    return _server_row(session, organisation.id, CertificatePurpose.AUTHORITY) is not None


def ensure_organisation_pki(
    session: Session, organisation: Organisation, settings: PkiSettings
) -> OrganisationPki:
    """The organisation's CA, seal and time-stamp authority, created on first use."""
    if _server_row(session, organisation.id, CertificatePurpose.AUTHORITY) is None:
        with write_transaction(session):
            # PostgreSQL: concurrent first uses (two portal receipts sealed at once) wait here
            # for one another, then the second sees the first's rows (SQLite's BEGIN IMMEDIATE
            # already serialises them).
            session.execute(
                select(Organisation.id).where(Organisation.id == organisation.id).with_for_update()
            )
            if _server_row(session, organisation.id, CertificatePurpose.AUTHORITY) is None:
                _create_organisation_pki(session, organisation, settings)
    rows = {
        purpose: _server_row(session, organisation.id, purpose)
        for purpose in (
            CertificatePurpose.AUTHORITY,
            CertificatePurpose.SEAL,
            CertificatePurpose.TIMESTAMPING,
        )
    }
    ca = _open_server(rows[CertificatePurpose.AUTHORITY], settings)
    chain = (ca.certificate,)
    return OrganisationPki(
        authority=pki.Authority(ca.certificate, ca.key),
        seal=_open_server(rows[CertificatePurpose.SEAL], settings, chain),
        timestamping=_open_server(rows[CertificatePurpose.TIMESTAMPING], settings, chain),
    )


def _create_organisation_pki(
    session: Session, organisation: Organisation, settings: PkiSettings
) -> None:
    name, country = _names(organisation)
    authority = pki.create_authority(
        pki.Subject(common_name=name, organisation=name, country=country)
    )
    session.add(
        _row(
            organisation.id,
            authority.certificate,
            CertificatePurpose.AUTHORITY,
            KeyStorage.SERVER,
            encrypted_key=keystore.seal_key(
                authority.key,
                settings.server_secret(organisation.id, CertificatePurpose.AUTHORITY),
            ),
        )
    )
    arabic = _is_arabic(name)
    for purpose, label in (
        (CertificatePurpose.SEAL, "ختم المؤسسة" if arabic else "Seal"),
        (CertificatePurpose.TIMESTAMPING, "خدمة الختم الزمني" if arabic else "Time-stamping"),
    ):
        key = pki.generate_key()
        certificate = pki.issue_certificate(
            authority,
            # The unit carries the role so the common name stays in one script.
            pki.Subject(
                common_name=name, organisational_unit=label, organisation=name, country=country
            ),
            key.public_key(),
            purpose=str(purpose),
            crl_url=settings.crl_url(organisation),
            valid_for=timedelta(days=5 * 365),
        )
        encrypted = keystore.seal_key(key, settings.server_secret(organisation.id, purpose))
        session.add(
            _row(organisation.id, certificate, purpose, KeyStorage.SERVER, encrypted_key=encrypted)
        )
    session.flush()
    _issue_crl(session, organisation.id, authority)
    audit.record(
        session,
        None,
        "pki.created",
        organisation_id=organisation.id,
        object_type="organisation",
        object_id=organisation.id,
        data={"authority": authority.certificate.subject.rfc4514_string()},
    )


def signatory_certificate(session: Session, user: User) -> SigningCertificate | None:
    """The user's newest certificate that is neither revoked nor expired."""
    rows = session.scalars(
        select(SigningCertificate)
        .where(
            SigningCertificate.user_id == user.id,
            SigningCertificate.purpose == CertificatePurpose.SIGNATORY,
            SigningCertificate.revoked_at.is_(None),
        )
        .order_by(SigningCertificate.id.desc())
    )
    moment = utcnow()
    return next((row for row in rows if row.usable_on(moment)), None)


def certificates_of(session: Session, user: User) -> list[SigningCertificate]:
    return list(
        session.scalars(
            select(SigningCertificate)
            .where(SigningCertificate.user_id == user.id)
            .order_by(SigningCertificate.id.desc())
        )
    )


def _check_secret(secret: str, confirmation: str) -> None:
    if secret != confirmation:
        raise ServiceError(_l("The two signing secrets differ."), "confirmation")
    if len(secret) < 8:
        raise ServiceError(_l("A signing secret has at least 8 characters."), "secret")


def enrol_signatory(
    session: Session,
    actor: Actor,
    *,
    secret: str,
    confirmation: str,
    settings: PkiSettings,
    key_kind: str = "ec-p256",
) -> SigningCertificate:
    """Give the user a key pair and a certificate from the organisation's CA; the key is
    kept only encrypted under the signing secret the user just chose."""
    user = actor.user
    _check_secret(secret, confirmation)
    organisation = session.get(Organisation, user.organisation_id)
    org_name, country = _names(organisation)
    try:
        subject = pki.Subject(
            common_name=certificate_name(user.full_name),
            organisation=org_name,
            title=user.title or None,
            country=country,
        )
        subject.to_name()
    except ValueError as error:
        # The name must suit certificate validators (one script, Arabic values that begin and
        # end with a letter, at most 64 characters): an administrator corrects the user's name.
        reason = error.reason if isinstance(error, pki.MixedScriptName) else str(error)
        raise ServiceError(
            _l(
                "Your name or title cannot go into a certificate as written (%(reason)s). Ask an "
                "administrator to correct it.",
                reason=reason,
            )
        ) from None
    org = ensure_organisation_pki(session, organisation, settings)
    key = pki.generate_key(key_kind)
    certificate = pki.issue_certificate(
        org.authority,
        subject,
        key.public_key(),
        purpose=str(CertificatePurpose.SIGNATORY),
        crl_url=settings.crl_url(organisation),
        valid_for=SIGNATORY_VALIDITY,
    )
    with write_transaction(session):
        row = _row(
            organisation.id,
            certificate,
            CertificatePurpose.SIGNATORY,
            KeyStorage.SECRET,
            user_id=user.id,
            encrypted_key=keystore.seal_key(key, secret),
            chain=(org.authority.certificate,),
        )
        session.add(row)
        session.flush()
        _record(session, actor, row, "certificate.issued")
    return row


def import_pkcs12(
    session: Session,
    actor: Actor,
    *,
    data: bytes,
    password: str,
    secret: str,
    confirmation: str,
) -> SigningCertificate:
    """A certificate from an outside CA: its key is re-encrypted under the signing secret."""
    _check_secret(secret, confirmation)
    try:
        identity = pki.import_pkcs12(data, password)
    except pki.BadPkcs12:
        raise ServiceError(
            _l("This file is not a PKCS#12 file this password opens."), "file"
        ) from None
    except pki.UnsuitableCertificate as error:
        raise ServiceError(
            _l("This certificate cannot sign documents: %(reason)s", reason=str(error)), "file"
        ) from None
    with write_transaction(session):
        row = _row(
            actor.user.organisation_id,
            identity.certificate,
            CertificatePurpose.SIGNATORY,
            KeyStorage.SECRET,
            user_id=actor.user.id,
            encrypted_key=keystore.seal_key(identity.key, secret),
            chain=identity.chain,
        )
        session.add(row)
        session.flush()
        _record(session, actor, row, "certificate.imported")
    return row


def open_signatory_identity(row: SigningCertificate, secret: str) -> pki.Identity:
    """Decrypt the key for one signing. Raises keystore.WrongSecret."""
    key = keystore.open_key(row.encrypted_key, secret)
    certificate = x509.load_der_x509_certificate(row.certificate_der)
    chain = tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in row.chain_der)
    return pki.Identity(key, certificate, chain)


def can_revoke(user: User, row: SigningCertificate) -> bool:
    from app.permissions import can_manage_organisation

    if row.organisation_id != user.organisation_id:
        return False
    return row.user_id == user.id or can_manage_organisation(user)


def revoke(
    session: Session,
    actor: Actor,
    row: SigningCertificate,
    *,
    reason: str,
    settings: PkiSettings,
) -> None:
    """Revoke a certificate; a certificate of the organisation's CA also goes on a new CRL."""
    if not can_revoke(actor.user, row):
        raise NotAllowed(_l("You cannot revoke this certificate."))
    if row.revoked_at is not None:
        raise ServiceError(_l("This certificate is already revoked."))
    if not reason.strip():
        raise ServiceError(_l("Give the reason for the revocation."), "reason")
    organisation = session.get(Organisation, row.organisation_id)
    org = ensure_organisation_pki(session, organisation, settings)
    with write_transaction(session):
        row.revoked_at = utcnow()
        row.revocation_reason = reason.strip()[:500]
        _issue_crl(session, organisation.id, org.authority)
        _record(session, actor, row, "certificate.revoked", {"reason": row.revocation_reason})


def _record(session, actor, row, action, extra=None) -> None:
    audit.record(
        session,
        actor,
        action,
        organisation_id=row.organisation_id,
        object_type="certificate",
        object_id=row.id,
        data={"serial": row.serial, "subject": row.subject, **(extra or {})},
    )


def _issue_crl(session: Session, organisation_id: int, authority: pki.Authority) -> RevocationList:
    """A new CRL listing every revoked certificate the organisation's CA issued."""
    ca_subject = authority.certificate.subject.rfc4514_string()
    revoked = session.scalars(
        select(SigningCertificate).where(
            SigningCertificate.organisation_id == organisation_id,
            SigningCertificate.issuer == ca_subject,
            SigningCertificate.revoked_at.is_not(None),
        )
    )
    last = session.scalar(
        select(RevocationList.number)
        .where(RevocationList.organisation_id == organisation_id)
        .order_by(RevocationList.number.desc())
    )
    number = (last or 0) + 1
    this_update = now_utc()
    crl = pki.build_crl(
        authority,
        [
            pki.RevokedEntry(int(row.serial, 16), row.revoked_at.replace(tzinfo=UTC))
            for row in revoked
        ],
        number=number,
        this_update=this_update,
        next_update=CRL_VALIDITY,
    )
    entry = RevocationList(
        organisation_id=organisation_id,
        number=number,
        this_update=naive(this_update),
        next_update=naive(this_update + CRL_VALIDITY),
        crl_der=crl.public_bytes(serialization.Encoding.DER),
    )
    session.add(entry)
    session.flush()
    return entry


def current_crl(
    session: Session, organisation: Organisation, settings: PkiSettings
) -> RevocationList:
    """The newest CRL, issued again when it is close to its next update."""
    org = ensure_organisation_pki(session, organisation, settings)
    newest = session.scalar(
        select(RevocationList)
        .where(RevocationList.organisation_id == organisation.id)
        .order_by(RevocationList.number.desc())
    )
    if newest is None or newest.next_update - CRL_RENEW_BEFORE <= utcnow():
        with write_transaction(session):
            newest = _issue_crl(session, organisation.id, org.authority)
    return newest


def validation_material(
    session: Session, organisation: Organisation, settings: PkiSettings
) -> ValidationMaterial:
    """What a signature of this organisation embeds (B-LT) and is validated against."""
    org = ensure_organisation_pki(session, organisation, settings)
    crl = x509.load_der_x509_crl(current_crl(session, organisation, settings).crl_der)
    return ValidationMaterial(trust_roots=(org.authority.certificate,), crls=(crl,))


def installation_trust(session: Session) -> tuple[list[x509.Certificate], list]:
    """Every organisation CA of this installation and its newest CRL: what the public
    verification page trusts."""
    roots = [
        x509.load_der_x509_certificate(der)
        for der in session.scalars(
            select(SigningCertificate.certificate_der).where(
                SigningCertificate.purpose == CertificatePurpose.AUTHORITY
            )
        )
    ]
    crls = []
    for organisation_id in session.scalars(select(Organisation.id)):
        der = session.scalar(
            select(RevocationList.crl_der)
            .where(RevocationList.organisation_id == organisation_id)
            .order_by(RevocationList.number.desc())
        )
        if der is not None:
            crls.append(x509.load_der_x509_crl(der))
    return roots, crls
