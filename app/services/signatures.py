"""Turning a step into a PAdES signature: the signer's key, the organisation's time-stamp
authority and revocation data, the stamp. Also the organisation seal on what Diwan produces
itself, and the archive time-stamps that keep signed documents verifiable (B-LTA).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import metrics
from app.database import write_transaction
from app.files.store import FileStore
from app.models import Organisation, User
from app.models.signing import (
    CertificatePurpose,
    Circuit,
    CircuitStatus,
    RevocationList,
    SigningCertificate,
)
from app.services import circuits
from app.services.errors import ServiceError
from app.services.pki import (
    PkiSettings,
    current_crl,
    ensure_organisation_pki,
    open_signatory_identity,
    signatory_certificate,
    validation_material,
)
from signing import keystore, pades
from signing.signer import KeySigner
from signing.stamp import StampSpec
from signing.timestamps import LocalTimeStamper, http_timestamper


@dataclass(frozen=True)
class SignatureSettings:
    pki: PkiSettings
    level: str  # B-B, B-T, B-LT or B-LTA for people's signatures
    tsa_url: str  # empty: the organisation's own time-stamp authority
    archive_timestamps: bool  # a document time-stamp when a circuit completes (B-LTA)
    renew_before_days: int

    @classmethod
    def from_config(cls, config) -> SignatureSettings:
        level = config["SIGNATURE_LEVEL"]
        if level not in pades.LEVELS:
            raise ValueError(f"SIGNATURE_LEVEL must be one of {', '.join(pades.LEVELS)}")
        return cls(
            pki=PkiSettings.from_config(config),
            level=level,
            tsa_url=config["TSA_URL"],
            archive_timestamps=bool(config["ARCHIVE_TIMESTAMPS"]),
            renew_before_days=int(config["TIMESTAMP_RENEW_BEFORE_DAYS"]),
        )


def timestamper(session: Session, organisation: Organisation, settings: SignatureSettings):
    if settings.tsa_url:
        return http_timestamper(settings.tsa_url)
    tsa = ensure_organisation_pki(session, organisation, settings.pki).timestamping
    return LocalTimeStamper(tsa.certificate, tsa.key, tsa.chain)


class SigningSession:
    """The signer's key, opened once with the signing secret, for one signing or one batch."""

    def __init__(self, session: Session, user: User, secret: str, settings: SignatureSettings):
        row = signatory_certificate(session, user)
        if row is None:
            raise ServiceError(
                _l(
                    "You have no valid signing certificate (none, expired or revoked). Create "
                    "one on your account page."
                )
            )
        try:
            identity = open_signatory_identity(row, secret)
        except keystore.WrongSecret:
            raise ServiceError(_l("Wrong signing secret."), "secret") from None
        organisation = session.get(Organisation, user.organisation_id)
        self.certificate_row = row
        self._signer = KeySigner(identity.key, identity.certificate, identity.chain)
        self._level = settings.level
        needs_time = settings.level != "B-B"
        self._timestamper = timestamper(session, organisation, settings) if needs_time else None
        needs_material = settings.level in ("B-LT", "B-LTA")
        self._material = (
            validation_material(session, organisation, settings.pki) if needs_material else None
        )

    def sign(self, pdf: bytes, job: circuits.SignatureJob) -> bytes:
        stamp = None
        if job.placement is not None:
            stamp = StampSpec(
                page=job.placement.page - 1,
                box=job.placement.box,
                lines=job.stamp_lines,
                qr_url=job.qr_url,
            )
        try:
            return pades.sign_pdf(
                pdf,
                self._signer,
                level=self._level,
                stamp=stamp,
                timestamper=self._timestamper,
                validation=self._material,
                reason=str(_l("Signed in Diwan")),
            )
        except pades.UnreadablePdf:
            raise ServiceError(
                _l("This PDF cannot be read by the signing library; nothing was signed.")
            ) from None
        except pades.SigningError as error:
            raise ServiceError(
                _l("The document could not be signed (%(why)s); nothing was signed.", why=error)
            ) from None
        except ValueError as error:  # a stamp that does not fit the page
            raise ServiceError(
                _l("The stamp cannot be placed there: %(why)s", why=str(error))
            ) from None


def seal(
    session: Session, organisation: Organisation, pdf: bytes, settings: SignatureSettings
) -> bytes:
    """The organisation's seal on a document Diwan produced (a register, a receipt): an
    invisible signature with a time-stamp, no person involved."""
    org = ensure_organisation_pki(session, organisation, settings.pki)
    signer = KeySigner(org.seal.key, org.seal.certificate, org.seal.chain)
    sealed = pades.sign_pdf(
        pdf,
        signer,
        level="B-T",
        timestamper=timestamper(session, organisation, settings),
        reason="Diwan",
    )
    metrics.count_signature("seal")
    return sealed


def archive(
    session: Session,
    circuit: Circuit,
    *,
    store: FileStore,
    settings: SignatureSettings,
) -> None:
    """Add a document time-stamp (with fresh revocation data) to the circuit's document."""
    organisation = session.get(Organisation, circuit.organisation_id)
    pdf = store.open_verified(circuit.current_version.sha256)
    stamped = pades.add_document_timestamp(
        pdf,
        timestamper(session, organisation, settings),
        validation_material(session, organisation, settings.pki),
    )
    metrics.count_signature("archive_timestamp")
    circuits.add_version(session, circuit, pdf=stamped, reason="timestamped", store=store)
    expiry = pades.last_timestamp_expiry(stamped)
    with write_transaction(session):
        circuit.archive_expires_at = expiry.astimezone(UTC).replace(tzinfo=None) if expiry else None


def renew_archive_timestamps(
    session: Session, *, store: FileStore, settings: SignatureSettings, now: datetime | None = None
) -> int:
    """The periodic B-LTA job: completed documents whose last time-stamp's certificate
    expires soon get a new document time-stamp. Returns how many were renewed."""
    moment = now or datetime.now(UTC)
    horizon = (moment + timedelta(days=settings.renew_before_days)).replace(tzinfo=None)
    due = session.scalars(
        select(Circuit)
        .where(
            Circuit.status == CircuitStatus.COMPLETED,
            Circuit.archive_expires_at.is_not(None),
            Circuit.archive_expires_at <= horizon,
        )
        .order_by(Circuit.id)
    ).all()
    for circuit in due:
        archive(session, circuit, store=store, settings=settings)
    return len(due)


def refresh_revocation_lists(session: Session, settings: SignatureSettings) -> int:
    """Issue a new CRL for each organisation whose newest is close to its next update (so the
    one served at the CRL address never goes stale). Returns how many were issued."""
    issued = 0
    with_pki = session.scalars(
        select(SigningCertificate.organisation_id).where(
            SigningCertificate.purpose == CertificatePurpose.AUTHORITY
        )
    ).all()
    for organisation_id in sorted(set(with_pki)):
        before = session.scalar(
            select(RevocationList.number)
            .where(RevocationList.organisation_id == organisation_id)
            .order_by(RevocationList.number.desc())
        )
        crl = current_crl(session, session.get(Organisation, organisation_id), settings.pki)
        issued += crl.number != before
    return issued
