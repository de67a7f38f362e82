"""RFC 3161 time-stamps over each organisation's audit chain, and their verification.

The hash chain (`audit.py`) shows that events were edited, removed or cut off the end, but not
that someone with write access to the database rewrote an event and recomputed every later hash
and the head. A periodic job therefore asks a time-stamp authority for a token over the head
event's hash: the authority's key is not in the database in the clear (the organisation's own
TSA key is sealed under a key derived from SECRET_KEY; an outside TSA's key is elsewhere), so a
rewrite at or before a stamped event no longer matches its token.

What is stamped: the token's message imprint is SHA-256 over the 64 ASCII characters of the
event's hash as stored in `audit_events.hash` (lowercase hex), i.e.
``printf %s <hash> | sha256sum``. The event's hash already covers its organisation and seq.

A token is trusted when its signer is the time-stamp authority of an organisation of this
installation (its certificate row, and a sealed key that opens with this installation's
SECRET_KEY and matches that certificate: a certificate row planted in the database does not
pass) or when its chain reaches one of the certificates in TSA_TRUST_ROOTS. A token over the
organisation's own authority ("organisation") must be signed by that organisation's TSA. The
`authority` column only says where the token came from; trust never rests on it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.general import SignedDataCerts
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.validation.generic_cms import (
    extract_certs_for_validation,
    validate_tst_signed_data,
)
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import AuditEvent, AuditHead, AuditTimestamp, Organisation
from app.models.signing import CertificatePurpose, SigningCertificate
from app.services import audit, signatures
from app.services.pki import PkiSettings
from signing import asyncio_bridge, keystore

log = logging.getLogger(__name__)

ORGANISATION_TSA = "organisation"  # `authority` of a token from the organisation's own TSA
IMPRINT_ALGORITHM = "sha256"


def imprint_of(event_hash: str) -> bytes:
    """The message imprint stamped for an event: SHA-256 over its stored hash's ASCII hex."""
    return hashlib.sha256(event_hash.encode("ascii")).digest()


# --- stamping -------------------------------------------------------------------------------------


def stamp_audit_heads(session: Session, settings: signatures.SignatureSettings) -> int:
    """The periodic job: a time-stamp token over the head of every organisation's audit chain
    that moved past its newest stamp. Returns how many tokens were stored.

    The token's imprint is SHA-256 over the 64 ASCII characters of the head event's hash (see
    `imprint_of`). Nothing is written to the audit chain (that would move the head and make
    every round stamp again), except the `pki.created` event when an organisation without a PKI
    gets its own TSA here, before its head is read. One transaction per organisation; a TSA
    that fails for one organisation is logged and the others are still stamped. Two workers
    running this at once store one token per head (unique organisation and seq, insert-or-ignore).
    """
    stored = 0
    for organisation_id in _due(session):
        try:
            stored += _stamp(session, organisation_id, settings)
        except Exception:  # a TSA down, a refusal, a malformed reply: the next round retries
            session.rollback()
            log.exception("audit chain of organisation %s: no time-stamp", organisation_id)
    return stored


def _due(session: Session) -> list[int]:
    newest = (
        select(AuditTimestamp.organisation_id, func.max(AuditTimestamp.seq).label("seq"))
        .group_by(AuditTimestamp.organisation_id)
        .subquery()
    )
    due = list(
        session.scalars(
            select(AuditHead.organisation_id)
            .outerjoin(newest, newest.c.organisation_id == AuditHead.organisation_id)
            .where(AuditHead.last_seq > func.coalesce(newest.c.seq, 0))
            .order_by(AuditHead.organisation_id)
        )
    )
    session.commit()  # end the read transaction
    return due


def _stamp(session: Session, organisation_id: int, settings: signatures.SignatureSettings) -> int:
    organisation = session.get(Organisation, organisation_id)
    # First, since a first use of the organisation's own TSA creates its PKI, which records an
    # event: the head read below then includes it.
    stamper = signatures.timestamper(session, organisation, settings)
    last_seq = session.scalar(
        select(AuditHead.last_seq).where(AuditHead.organisation_id == organisation_id)
    )
    newest = session.scalar(
        select(func.max(AuditTimestamp.seq)).where(
            AuditTimestamp.organisation_id == organisation_id
        )
    )
    event_hash = session.scalar(
        select(AuditEvent.hash).where(
            AuditEvent.organisation_id == organisation_id, AuditEvent.seq == last_seq
        )
    )
    session.commit()  # hold no snapshot (nor, on PostgreSQL, a transaction) while the TSA answers
    if event_hash is None:  # a chain cut short: `diwan verify-audit` reports it
        log.warning(
            "audit chain of organisation %s: its head names event %s, which is missing",
            organisation_id,
            last_seq,
        )
        return 0
    if newest is not None and newest >= last_seq:
        return 0  # another worker stamped it meanwhile
    imprint = imprint_of(event_hash)
    token = asyncio_bridge.run(lambda: stamper.async_timestamp(imprint, IMPRINT_ALGORITHM))
    stamped_at = _check_received(token, imprint)
    values = {
        "organisation_id": organisation_id,
        "seq": last_seq,
        "event_hash": event_hash,
        "token": token.dump(),
        "authority": settings.tsa_url or ORGANISATION_TSA,
        "stamped_at": stamped_at.astimezone(UTC).replace(tzinfo=None),
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }
    with write_transaction(session):
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        inserted = session.scalar(
            dialect.insert(AuditTimestamp)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(AuditTimestamp.id)
        )
    return 0 if inserted is None else 1


def _check_received(token: cms.ContentInfo, imprint: bytes) -> datetime:
    """The token's genTime, once it is known to cover `imprint` and its signature holds: a
    broken token stored would fail every later verification."""
    tst_info = _tst_info(token)
    if (
        tst_info["message_imprint"]["hash_algorithm"]["algorithm"].native != IMPRINT_ALGORITHM
        or tst_info["message_imprint"]["hashed_message"].native != imprint
    ):
        raise TimestampRequestError("the time-stamp token covers another imprint than requested")
    signed_data = token["content"]
    signer = extract_certs_for_validation(signed_data).signer_cert
    status = asyncio_bridge.run(
        lambda: _validate(signed_data, [signer], tst_info["gen_time"].native)
    )
    if not (status["intact"] and status["valid"]):
        raise TimestampRequestError("the time-stamp token's signature does not verify")
    return tst_info["gen_time"].native


def _tst_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    if token["content_type"].native != "signed_data":
        raise ValueError("not a CMS SignedData")
    content = token["content"]["encap_content_info"]
    if content["content_type"].native != "tst_info":
        raise ValueError("the SignedData does not hold a TSTInfo")
    tst_info = content["content"].parsed
    tst_info.native  # noqa: B018 - asn1crypto parses lazily: force every field now
    return tst_info


async def _validate(signed_data: cms.SignedData, roots: list, moment: datetime) -> dict:
    """pyHanko's checks of a token's signature and of its signer's chain up to `roots`, at the
    token's own time (no fetching, no operating-system trust list)."""
    context = ValidationContext(
        trust_roots=roots, moment=moment, allow_fetching=False, revocation_mode="soft-fail"
    )
    try:
        tst_info = signed_data["encap_content_info"]["content"].parsed
        own_imprint = tst_info["message_imprint"]["hashed_message"].native
        # The imprint is compared with the chain by the caller, who can then say which failed.
        return await validate_tst_signed_data(signed_data, context, lambda _algo: own_imprint)
    finally:
        await context.aclose()


# --- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StampTrust:
    """What a verification trusts besides the installation's own TSAs."""

    pki: PkiSettings  # the SECRET_KEY the own TSAs' keys are sealed under
    roots: tuple[x509.Certificate, ...] = ()  # TSA_TRUST_ROOTS: for an outside TSA

    @classmethod
    def from_config(cls, config) -> StampTrust:
        path = config.get("TSA_TRUST_ROOTS", "")
        roots = tuple(x509.load_pem_x509_certificates(Path(path).read_bytes())) if path else ()
        return cls(pki=PkiSettings.from_config(config), roots=roots)


@dataclass(frozen=True)
class StampCheck:
    seq: int
    authority: str
    stamped_at: datetime | None  # the token's genTime (UTC, naive), when it could be read
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        when = f" of {self.stamped_at:%Y-%m-%d %H:%M} UTC" if self.stamped_at else ""
        return f"time-stamp{when} on event {self.seq} ({self.authority})"


@dataclass(frozen=True)
class TimestampReport:
    """The chain (walked once) and each of its time-stamps."""

    chain: audit.ChainReport
    stamps: list[StampCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and all(check.ok for check in self.stamps)

    @property
    def problems(self) -> list[str]:
        return [f"{check.describe()}: {check.problem}" for check in self.stamps if not check.ok]

    @property
    def newest(self) -> StampCheck | None:
        good = [check for check in self.stamps if check.ok]
        return max(good, key=lambda check: check.seq) if good else None


def verify_timestamps(session: Session, organisation_id: int, trust: StampTrust) -> TimestampReport:
    """Walk the organisation's chain once and check every time-stamp over it: the token reads,
    its signature is valid and made by a trusted TSA, and its imprint is SHA-256 of the hash
    the recomputed chain gives the stamped event (so a rewrite followed by recomputing every
    later hash and the head, which the chain alone cannot see, fails here)."""
    rows = list(
        session.scalars(
            select(AuditTimestamp)
            .where(AuditTimestamp.organisation_id == organisation_id)
            .order_by(AuditTimestamp.seq)
        )
    )
    chain = audit.verify_chain(session, organisation_id, hashes_at={row.seq for row in rows})
    checker = _Checker(session, organisation_id, trust)
    return TimestampReport(chain, [checker.check(row, chain) for row in rows])


class _Checker:
    def __init__(self, session: Session, organisation_id: int, trust: StampTrust) -> None:
        self.session = session
        self.organisation_id = organisation_id
        self.trust = trust
        self._sealed: dict[bytes, bool] = {}  # certificate DER -> its sealed key opens

    def check(self, row: AuditTimestamp, chain: audit.ChainReport) -> StampCheck:
        try:
            token = cms.ContentInfo.load(row.token)
            tst_info = _tst_info(token)
            stamped_at = tst_info["gen_time"].native.astimezone(UTC).replace(tzinfo=None)
        except Exception:  # asn1crypto raises ValueError, TypeError, KeyError... on bad DER
            return StampCheck(row.seq, row.authority, None, "the token cannot be read")
        problem = self._problem(row, token, tst_info, chain)
        return StampCheck(row.seq, row.authority, stamped_at, problem)

    def _problem(self, row, token, tst_info, chain: audit.ChainReport) -> str | None:
        imprint = tst_info["message_imprint"]
        if imprint["hash_algorithm"]["algorithm"].native != IMPRINT_ALGORITHM:
            return "the token's imprint is not a SHA-256 digest"
        if row.seq not in chain.hashes:
            return f"event {row.seq} is missing"
        computed = chain.hashes[row.seq]
        if computed is None:
            return f"the chain is broken at or before event {row.seq}"
        if imprint["hashed_message"].native != imprint_of(computed):
            return (
                f"the token does not cover event {row.seq} as it is now: it or an event before "
                "it was rewritten after the time-stamp"
            )
        try:
            return self._signature_problem(row, token["content"], tst_info)
        except Exception as exc:  # pyHanko's and asn1crypto's errors on a malformed token
            return f"the token's signature cannot be checked ({type(exc).__name__})"

    def _signature_problem(self, row, signed_data, tst_info) -> str | None:
        certs: SignedDataCerts = extract_certs_for_validation(signed_data)
        signer = certs.signer_cert
        moment = tst_info["gen_time"].native
        own = self._installation_tsa(signer)
        if row.authority == ORGANISATION_TSA and (
            own is None or own.organisation_id != self.organisation_id
        ):
            return f"not signed by the organisation's time-stamp authority ({_name(signer)})"
        if own is not None:
            problem = _usable_at(own, moment)
            roots = [signer]
        else:
            problem = None
            roots = [_to_asn1(c) for c in self.trust.roots]
        status = asyncio_bridge.run(lambda: _validate(signed_data, roots, moment))
        if not (status["intact"] and status["valid"]):
            return "the token's signature is not valid"
        if problem:
            return problem
        if status["trust_problem_indic"] is not None:
            return (
                f"signed by {_name(signer)}, which is not a time-stamp authority of this "
                "installation and whose chain reaches none of TSA_TRUST_ROOTS"
            )
        return None

    def _installation_tsa(self, signer: asn1_x509.Certificate) -> SigningCertificate | None:
        """The TSA certificate row of this installation `signer` is, if its sealed key opens
        with this installation's secret and belongs to that certificate."""
        der = signer.dump()
        rows = self.session.scalars(
            select(SigningCertificate).where(
                SigningCertificate.purpose == CertificatePurpose.TIMESTAMPING,
                SigningCertificate.certificate_der == der,
            )
        ).all()
        for row in sorted(rows, key=lambda r: r.organisation_id != self.organisation_id):
            if self._key_matches(row):
                return row
        return None

    def _key_matches(self, row: SigningCertificate) -> bool:
        cache_key = hashlib.sha256(
            row.certificate_der + (row.encrypted_key or b"") + str(row.organisation_id).encode()
        ).digest()
        if cache_key not in self._sealed:
            self._sealed[cache_key] = _opens_and_matches(row, self.trust.pki)
        return self._sealed[cache_key]


def _opens_and_matches(row: SigningCertificate, settings: PkiSettings) -> bool:
    if not row.encrypted_key:
        return False
    try:
        key = keystore.open_key(
            row.encrypted_key, settings.server_secret(row.organisation_id, row.purpose)
        )
    except ValueError:  # WrongSecret included: not sealed by this installation
        return False
    certificate = x509.load_der_x509_certificate(row.certificate_der)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)


def _usable_at(row: SigningCertificate, moment: datetime) -> str | None:
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    if row.revoked_at is not None and naive >= row.revoked_at:
        return "signed after the time-stamp authority's certificate was revoked"
    if not row.not_before <= naive <= row.not_after:
        return "signed outside the validity of the time-stamp authority's certificate"
    return None


def _name(certificate: asn1_x509.Certificate) -> str:
    return certificate.subject.human_friendly


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
