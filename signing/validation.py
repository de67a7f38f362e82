"""Strict validation of any signed PDF: one verdict a mail room can act on, and the reasons.

Verdicts, from the worst down (the document gets the worst verdict of its signatures):

* INVALID: a signature is not intact or not valid, does not cover its whole revision, the
  document was changed afterwards in a way no rule explains (or the certification signature's
  permissions forbid), the signer is revoked, or the certificate was not valid when it signed.
* INDETERMINATE: cannot be decided. The chain does not reach a trusted root, revocation status
  is unavailable where it is required, the certificate has expired since and nothing proves when
  it signed, a signature of a kind we cannot check, an unreadable file, or any exception raised
  by the libraries. When the analysis of one signature raised, a *modification* finding on
  another one (which rests on the same structural analysis of the file) makes the document
  INDETERMINATE rather than INVALID; cryptographic and certificate failures stay INVALID.
* REVIEW: as VALID, except that a permitted change follows a signature (form fields filled,
  annotations added): a person must look at it.
* VALID: every signature and document time-stamp is intact, valid, covers its revision, nothing
  unexplained follows it and its chain reaches a trusted root.
* UNSIGNED: no signature field carries a signature.

Modifications are judged by pyHanko's difference analysis with two additions (_APPROVAL_POLICY):
a new signature field created and signed after a signature is a later signature, not form
filling (every signature is checked on its own, so it only passes if it is valid itself), and
markup annotations (comments, highlights, stamps...) appended to pages, with fresh objects only,
are a permitted change at the ANNOTATIONS level (REVIEW) instead of an unexplained one. Filling a
signature field that already existed when an earlier signature was made stays form filling
(REVIEW): its appearance was part of what the earlier signer saw. Bytes after the last %%EOF that
no signature covers are a modification (pyHanko tolerates a kilobyte of them).

Trust and revocation: chains are checked at `now` (default: the current time) against
`trust_roots` only, never the operating system's list. A signer whose issuer published a CRL we
were given (or any signer when `allow_fetching`) is checked in "hard-fail" mode: its status must
be established, or the verdict is INDETERMINATE "revocation-unknown". Other signers are checked
in "soft-fail" mode: a revocation is still caught if a CRL we hold lists it, otherwise the report
says "not-checked". A revoked signer is INVALID whatever the revocation date. There is no
long-term (LTV) validation at the time of an earlier time-stamp: a certificate that has expired
since signing gives INDETERMINATE "expired-since-signing". The signing time the signer claims is
only used against it: a certificate not valid at that time (or at a trusted time-stamp's time)
is INVALID "expired". Signing certificates must assert nonRepudiation or digitalSignature.

`validate` never raises: exceptions become INDETERMINATE "library-error" (exception class in
"detail"), memory exhaustion INDETERMINATE "resources". It does not limit time or memory itself:
run untrusted files through signing.isolation.validate_isolated.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, RawPdfPath
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    CatalogModificationRule,
    DiffResult,
    FormUpdatingRule,
    ModificationLevel,
    QualifiedWhitelistRule,
    ReferenceUpdate,
    StandardDiffPolicy,
)
from pyhanko.sign.diff_analysis.commons import compare_dicts
from pyhanko.sign.diff_analysis.rules_api import Context, RelativeContext
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    KeyUsageConstraints,
    SignatureCoverageLevel,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko_certvalidator import ValidationContext

from signing.asyncio_bridge import run as run_coroutine

VERDICTS = ("VALID", "REVIEW", "INVALID", "INDETERMINATE", "UNSIGNED")

# Every reason code, with the verdict it leads to. The app translates the codes: keep them stable.
REASONS = {
    # INVALID
    "not-intact": "INVALID",  # the signed bytes were changed
    "bad-signature": "INVALID",  # the cryptographic signature does not verify
    "coverage": "INVALID",  # the byte range does not cover the signature's whole revision
    "modified-after-signing": "INVALID",  # a later change no rule explains
    "docmdp-violation": "INVALID",  # a change the certification signature does not permit
    "revoked": "INVALID",  # the signer's (or a CA's) certificate is revoked
    "expired": "INVALID",  # the certificate was not valid at the signing time
    "bad-timestamp": "INVALID",  # the signature's time-stamp token is broken
    "seed-value-violation": "INVALID",  # the field's seed-value constraints are not met
    # INDETERMINATE
    "untrusted": "INDETERMINATE",  # no path to a trusted root
    "untrusted-timestamp": "INDETERMINATE",  # the time-stamping authority is not trusted
    "expired-since-signing": "INDETERMINATE",  # expired now, nothing proves when it signed
    "revocation-unknown": "INDETERMINATE",  # revocation status required but unavailable
    "chain-invalid": "INDETERMINATE",  # the chain fails a constraint (key usage, policy...)
    "weak-algorithm": "INDETERMINATE",  # an algorithm the policy no longer accepts
    "unsupported-signature": "INDETERMINATE",  # a signature of a kind we cannot check
    "unreadable": "INDETERMINATE",  # not a PDF we can parse
    "library-error": "INDETERMINATE",  # a library raised
    "timeout": "INDETERMINATE",  # isolation: the time limit was reached
    "resources": "INDETERMINATE",  # isolation: memory exhausted or the child crashed
    # REVIEW
    "form-filled": "REVIEW",
    "annotations-added": "REVIEW",
}
_SEVERITY = {"VALID": 0, "REVIEW": 1, "INDETERMINATE": 2, "INVALID": 3}
# INVALID findings drawn from the structural analysis of the file (see the module docstring).
_STRUCTURAL_REASONS = frozenset({"modified-after-signing", "docmdp-violation"})

# ETSI EN 319 412-2 signing certificates assert nonRepudiation; many also (or only) assert
# digitalSignature. Either is accepted (pyHanko's default demands nonRepudiation).
_KEY_USAGE = KeyUsageConstraints(
    key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False
)
_SIGNATURE_SUBFILTERS = frozenset(
    {
        SigSeedSubFilter.ADOBE_PKCS7_DETACHED.value,
        SigSeedSubFilter.PADES.value,
        SigSeedSubFilter.PBAD_PADES.value,
    }
)
_TIMESTAMP_SUBFILTER = SigSeedSubFilter.ETSI_RFC3161.value


def validate(
    pdf: bytes,
    *,
    trust_roots: Sequence[x509.Certificate] = (),
    other_certs: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    allow_fetching: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The JSON-ready report on `pdf`: {"verdict", "reasons", "signatures", "document_timestamps",
    "sha256", "pages"} (and "detail" after an exception). Never raises."""
    report: dict[str, Any] = {
        "verdict": "INDETERMINATE",
        "reasons": [],
        "signatures": [],
        "document_timestamps": [],
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "pages": None,
    }
    try:
        material = _Material(trust_roots, other_certs, crls, allow_fetching, now)
        reader = _read(pdf)
        if reader is None:
            report["reasons"] = ["unreadable"]
            return report
        report["pages"] = _page_count(reader)
        # pyHanko is asynchronous; the bridge also works under a running event loop.
        entries = run_coroutine(lambda: _check_all(reader, material))
        _flag_trailing_data(pdf, entries)
    except MemoryError:
        report["reasons"] = ["resources"]
        return report
    except Exception as exc:  # any library failure is a verdict, never a crash
        report["reasons"] = ["library-error"]
        report["detail"] = type(exc).__name__
        return report
    report["signatures"] = [e for e in entries if e["kind"] == "signature"]
    report["document_timestamps"] = [e for e in entries if e["kind"] == "document-timestamp"]
    report["verdict"], report["reasons"] = _document_verdict(entries)
    return report


def verdict_of(reasons: Iterable[str]) -> str:
    """The verdict reason codes lead to: the worst of theirs, VALID for none (a document with no
    signature is UNSIGNED, which no reason expresses). After a "library-error", the structural
    findings (modifications) count as INDETERMINATE: the analysis they rest on failed elsewhere
    in the same file. KeyError for a code not in REASONS."""
    reasons = list(reasons)
    library_failed = "library-error" in reasons
    verdict = "VALID"
    for reason in reasons:
        outcome = REASONS[reason]
        if library_failed and reason in _STRUCTURAL_REASONS:
            outcome = "INDETERMINATE"
        if _SEVERITY[outcome] > _SEVERITY[verdict]:
            verdict = outcome
    return verdict


def _document_verdict(entries: list[dict[str, Any]]) -> tuple[str, list[str]]:
    if not entries:
        return "UNSIGNED", []
    reasons = _unique(r for entry in entries for r in entry["reasons"])
    return verdict_of(reasons), reasons


def _entry_verdict(reasons: list[str]) -> str:
    return max((REASONS[r] for r in reasons), key=_SEVERITY.__getitem__, default="VALID")


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- reading the file -----------------------------------------------------------------------------


def _read(pdf: bytes) -> PdfFileReader | None:
    """pyHanko's reader in lenient mode (real-world PDFs are broken); None if it cannot parse."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        reader.root  # noqa: B018 - the catalog is where broken files fail
    except MemoryError:
        raise
    except Exception:
        return None
    if reader.security_handler is not None:
        return None  # an encrypted file: signatures in it cannot be checked without the key
    return reader


def _page_count(reader: PdfFileReader) -> int | None:
    try:
        count = reader.root["/Pages"]["/Count"]
    except (KeyError, TypeError, misc.PdfError):
        return None
    return int(count) if isinstance(count, int) and count >= 0 else None


class _Material:
    """Trust roots, certificates and CRLs in pyHanko's form, and the validation contexts."""

    def __init__(self, trust_roots, other_certs, crls, allow_fetching: bool, now):
        if now is not None and now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self.trust_roots = [_to_asn1(c) for c in trust_roots]
        self.other_certs = [_to_asn1(c) for c in other_certs]
        self.crls = [
            asn1_crl.CertificateList.load(c.public_bytes(serialization.Encoding.DER)) for c in crls
        ]
        self.crl_issuers = {c["tbs_cert_list"]["issuer"].dump() for c in self.crls}
        self.allow_fetching = allow_fetching
        self.now = now
        self._contexts: dict[str, ValidationContext] = {}

    def mode_for(self, cert: asn1_x509.Certificate) -> str:
        """hard-fail where we can establish the status (a CRL of its issuer, or fetching)."""
        if self.allow_fetching or cert.issuer.dump() in self.crl_issuers:
            return "hard-fail"
        return "soft-fail"

    def context(self, mode: str) -> ValidationContext:
        # One context per mode and per document: it caches paths and revocation results, and
        # pyHanko registers each signature's embedded certificates in it.
        if mode not in self._contexts:
            self._contexts[mode] = ValidationContext(
                trust_roots=list(self.trust_roots),
                other_certs=list(self.other_certs),
                crls=list(self.crls),
                allow_fetching=self.allow_fetching,
                revocation_mode=mode,
                moment=self.now,
            )
        return self._contexts[mode]

    async def aclose(self) -> None:
        for context in self._contexts.values():
            await context.aclose()


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


# --- the signatures -------------------------------------------------------------------------------


async def _check_all(reader: PdfFileReader, material: _Material) -> list[dict[str, Any]]:
    found = _embedded_signatures(reader)
    timestamps = [
        e.signed_revision
        for _name, e in found
        if isinstance(e, EmbeddedPdfSignature) and e.sig_object_type == "/DocTimeStamp"
    ]
    entries = []
    try:
        for name, embedded in found:
            if not isinstance(embedded, EmbeddedPdfSignature):
                entries.append(_failed_entry(name, embedded))
            elif embedded.sig_object_type == "/DocTimeStamp":
                entries.append(await _check_timestamp(embedded, material))
            else:
                entries.append(await _check_signature(reader, embedded, material, timestamps))
    finally:
        await material.aclose()
    return entries


def _embedded_signatures(reader: PdfFileReader) -> list[tuple[str, Any]]:
    """Every filled signature field, parsed, or the reason it could not be (a reason code or an
    exception). Unlike pyHanko's listing, one broken signature does not hide the others, and a
    signature pyHanko would skip (unknown /SubFilter) is reported instead of ignored."""
    found: list[tuple[str, Any]] = []
    for name, value, field_ref in enumerate_sig_fields(reader, filled_status=True):
        try:
            sig_object = value.get_object()
            subfilter = sig_object.get("/SubFilter") if isinstance(sig_object, dict) else None
            if subfilter not in _SIGNATURE_SUBFILTERS and subfilter != _TIMESTAMP_SUBFILTER:
                found.append((name, "unsupported-signature"))
                continue
            found.append((name, EmbeddedPdfSignature(reader, field_ref, name)))
        except MemoryError:
            raise
        except Exception as exc:
            found.append((name, exc))
    # In the order they were made; those that could not be read last, in field order (stable).
    return sorted(
        found,
        key=lambda item: (
            item[1].signed_revision if isinstance(item[1], EmbeddedPdfSignature) else math.inf
        ),
    )


# PDF white-space (ISO 32000-1, 7.2.2): what may follow the last %%EOF.
_WHITESPACE = b"\x00\t\n\x0c\r "


def _flag_trailing_data(pdf: bytes, entries: list[dict[str, Any]]) -> None:
    """Bytes after the last %%EOF that no signature covers are a change no rule explains.

    pyHanko tolerates up to a kilobyte of them (it looks for %%EOF near the end of the file) and
    then finds the last signature complete; a lenient reader may still read them."""
    if pdf.rstrip(_WHITESPACE).endswith(b"%%EOF"):
        return
    if any(entry["coverage"] == "entire-file" for entry in entries):
        return  # a signature covers them
    for entry in entries:
        if entry["coverage"] == "entire-revision":
            entry["modifications"] = "other"
            entry["docmdp_ok"] = False
            entry["reasons"] = _unique([*entry["reasons"], "modified-after-signing"])
            entry["verdict"] = _entry_verdict(entry["reasons"])


def _failed_entry(name: str, failure: Any) -> dict[str, Any]:
    entry = _blank_entry("signature", name)
    if isinstance(failure, str):
        entry["reasons"] = [failure]
    else:
        entry["reasons"] = ["library-error"]
        entry["detail"] = type(failure).__name__
    entry["verdict"] = _entry_verdict(entry["reasons"])
    return entry


def _blank_entry(kind: str, name: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "field": name,
        "signer": None,
        "signing_time": None,
        "timestamp_time": None,
        "level": None,
        "intact": None,
        "valid": None,
        "trusted": None,
        "coverage": None,
        "modifications": None,
        "docmdp_ok": None,
        "chain": [],
        "revocation": "not-checked",
        "verdict": "INDETERMINATE",
        "reasons": [],
    }


async def _check_signature(
    reader: PdfFileReader,
    embedded: EmbeddedPdfSignature,
    material: _Material,
    timestamp_revisions: list[int],
) -> dict[str, Any]:
    entry = _blank_entry("signature", embedded.field_name)
    try:
        await _examine_signature(entry, reader, embedded, material, timestamp_revisions)
    except MemoryError:
        raise
    except Exception as exc:  # what was found before stays in the entry
        _library_failure(entry, exc)
    entry["verdict"] = _entry_verdict(entry["reasons"])
    return entry


async def _examine_signature(
    entry: dict[str, Any],
    reader: PdfFileReader,
    embedded: EmbeddedPdfSignature,
    material: _Material,
    timestamp_revisions: list[int],
) -> None:
    mode = material.mode_for(embedded.signer_cert)
    context = material.context(mode)
    # The difference analysis runs separately (below), so that a library failure there still
    # leaves the cryptographic findings in the report.
    status = await async_validate_pdf_signature(
        embedded,
        signer_validation_context=context,
        ts_validation_context=context,
        key_usage_settings=_KEY_USAGE,
        skip_diff=True,
    )
    reasons = entry["reasons"]
    entry.update(
        signer=_describe(status.signing_cert),
        signing_time=_iso(status.signer_reported_dt),
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        coverage=_coverage_name(status.coverage),
    )
    reasons += _integrity_reasons(status)
    reasons += _timestamp_token_reasons(status)
    if status.intact and status.valid:
        reasons += _signing_time_reasons(status)
        trust_reasons, entry["revocation"] = _trust_reasons(status, mode)
        reasons += trust_reasons
    if status.seed_value_constraint_error is not None:
        reasons.append("seed-value-violation")
    reasons += _modification_reasons(entry, embedded, status.coverage)
    entry["reasons"] = _unique(reasons)
    tst = status.timestamp_validity
    entry["timestamp_time"] = _iso(tst.timestamp) if tst is not None else None
    entry["chain"] = _chain(status)
    entry["level"] = _level(reader, embedded, status, timestamp_revisions)


async def _check_timestamp(embedded: EmbeddedPdfSignature, material: _Material) -> dict[str, Any]:
    entry = _blank_entry("document-timestamp", embedded.field_name)
    try:
        await _examine_timestamp(entry, embedded, material)
    except MemoryError:
        raise
    except Exception as exc:
        _library_failure(entry, exc)
    entry["verdict"] = _entry_verdict(entry["reasons"])
    return entry


async def _examine_timestamp(
    entry: dict[str, Any], embedded: EmbeddedPdfSignature, material: _Material
) -> None:
    mode = material.mode_for(embedded.signer_cert)
    status = await async_validate_pdf_timestamp(
        embedded, validation_context=material.context(mode), skip_diff=True
    )
    reasons = entry["reasons"]
    entry.update(
        signer=_describe(status.signing_cert),
        timestamp_time=_iso(status.timestamp),
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        coverage=_coverage_name(status.coverage),
    )
    reasons += _integrity_reasons(status)
    if status.intact and status.valid:
        trust_reasons, entry["revocation"] = _trust_reasons(status, mode)
        reasons += ["untrusted-timestamp" if r == "untrusted" else r for r in trust_reasons]
    reasons += _modification_reasons(entry, embedded, status.coverage)
    entry["reasons"] = _unique(reasons)
    entry["chain"] = _chain(status)


def _library_failure(entry: dict[str, Any], exc: Exception) -> None:
    entry["reasons"] = _unique([*entry["reasons"], "library-error"])
    entry["detail"] = type(exc).__name__


def _integrity_reasons(status) -> list[str]:
    reasons = []
    if not status.intact:
        reasons.append("not-intact")
    if not status.valid:
        reasons.append("bad-signature")
    if status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        reasons.append("coverage")
    return reasons


def _timestamp_token_reasons(status) -> list[str]:
    reasons = []
    for token in (status.timestamp_validity, status.content_timestamp_validity):
        if token is None:
            continue
        if not (token.intact and token.valid):
            reasons.append("bad-timestamp")
        elif not token.trusted:
            reasons.append("untrusted-timestamp")
    return reasons


def _signing_time_reasons(status) -> list[str]:
    """The certificate must have been valid when it signed: at the time-stamp if a trusted one
    proves that time, otherwise at the time the signer claims."""
    tst = status.timestamp_validity
    if tst is not None and tst.intact and tst.valid and tst.trusted:
        moment = tst.timestamp
    else:
        moment = status.signer_reported_dt
    if moment is None:
        return []
    if moment.utcoffset() is None:  # a PDF date without a time zone: read it as UTC
        moment = moment.replace(tzinfo=UTC)
    validity = status.signing_cert["tbs_certificate"]["validity"]
    if validity["not_before"].native <= moment <= validity["not_after"].native:
        return []
    return ["expired"]


_EXPIRED = frozenset(
    {
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
        AdESIndeterminate.EXPIRED,
        AdESIndeterminate.NOT_YET_VALID,
        AdESFailure.NOT_YET_VALID,
    }
)
_REVOCATION_UNKNOWN = frozenset(
    {
        AdESIndeterminate.TRY_LATER,
        AdESIndeterminate.NO_POE,
        AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE,
    }
)
_WEAK_ALGORITHM = frozenset(
    {
        AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE,
        AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE,
    }
)
_REVOKED = frozenset(
    {AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE, AdESFailure.REVOKED}
)


def _trust_reasons(status, mode: str) -> tuple[list[str], str]:
    """The trust findings and the revocation status for the report."""
    problem = status.trust_problem_indic
    if status.revocation_details is not None or problem in _REVOKED:
        return ["revoked"], "revoked"
    if problem is None and status.validation_path is not None:
        checked = mode == "hard-fail" and _declares_revocation_info(status.signing_cert)
        return [], "good" if checked else "not-checked"
    if problem == AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND or _self_signed(status):
        # pyHanko reports a self-signed signer that is not a trust root as a chain constraint
        # failure; for the reader it is simply not trusted.
        return ["untrusted"], "not-checked"
    if problem in _REVOCATION_UNKNOWN:
        return ["revocation-unknown"], "unknown"
    if problem in _EXPIRED:
        return ["expired-since-signing"], "not-checked"
    if problem in _WEAK_ALGORITHM:
        return ["weak-algorithm"], "not-checked"
    return ["chain-invalid"], "not-checked"


def _self_signed(status) -> bool:
    return status.signing_cert.self_signed in ("yes", "maybe")


def _declares_revocation_info(cert: asn1_x509.Certificate) -> bool:
    return bool(cert.crl_distribution_points or cert.ocsp_urls)


def _modification_reasons(
    entry: dict[str, Any], embedded: EmbeddedPdfSignature, coverage
) -> list[str]:
    """What changed after the signature, by the difference analysis (only meaningful when the
    signature covers its whole revision; otherwise "coverage" already says why)."""
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        level = ModificationLevel.NONE
    elif coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        # A certification signature keeps pyHanko's own policy, whose levels its DocMDP
        # permissions are defined against.
        certifying = embedded.docmdp_level is not None
        policy = _CERTIFICATION_POLICY if certifying else _APPROVAL_POLICY
        try:
            result = embedded.evaluate_modifications(policy)
        except MemoryError:
            raise
        except Exception as exc:
            entry["detail"] = type(exc).__name__
            return ["library-error"]
        level = (
            result.modification_level if isinstance(result, DiffResult) else ModificationLevel.OTHER
        )
    else:
        return []
    entry["modifications"] = level.name.lower().replace("_", "-")
    docmdp = embedded.docmdp_level
    entry["docmdp_ok"] = level != ModificationLevel.OTHER and (
        docmdp is None or level.value <= docmdp.value
    )
    if level == ModificationLevel.OTHER:
        return ["modified-after-signing"]
    if not entry["docmdp_ok"]:
        return ["docmdp-violation"]
    if level == ModificationLevel.ANNOTATIONS:
        return ["annotations-added"]
    if level == ModificationLevel.FORM_FILLING:
        return ["form-filled"]
    return []


# --- describing what was found --------------------------------------------------------------------


def _describe(cert: asn1_x509.Certificate) -> dict[str, str | None]:
    return {"common_name": _common_name(cert), "subject": _subject(cert)}


def _common_name(cert: asn1_x509.Certificate) -> str | None:
    value = cert.subject.native.get("common_name")
    if isinstance(value, list):  # a repeated attribute
        value = value[0] if value else None
    return value


def _subject(cert: asn1_x509.Certificate) -> str:
    try:
        return x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
    except ValueError:  # a certificate `cryptography` refuses; asn1crypto's rendering will do
        return cert.subject.human_friendly


def _chain(status) -> list[str]:
    """Subjects from the signer up to the trust anchor (only the signer when there is no path)."""
    path = status.validation_path
    if path is None:
        return [_subject(status.signing_cert)]
    return [_subject(c) for c in reversed(list(path.iter_certs(include_root=True)))]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _coverage_name(coverage) -> str | None:
    return coverage.name.lower().replace("_", "-") if coverage is not None else None


def _level(
    reader: PdfFileReader,
    embedded: EmbeddedPdfSignature,
    status,
    timestamp_revisions: list[int],
) -> str | None:
    """The PAdES baseline level the signature reaches (None: not a PAdES signature).

    B-T: a signature time-stamp or a later document time-stamp; B-LT: and validation data in a
    document security store; B-LTA: and a document time-stamp over a revision holding it."""
    if embedded.sig_object.get("/SubFilter") != SigSeedSubFilter.PADES.value:
        return None
    later = [r for r in timestamp_revisions if r > embedded.signed_revision]
    if status.timestamp_validity is None and not later:
        return "B-B"
    if "/DSS" not in reader.root:
        return "B-T"
    if any("/DSS" in reader.get_historical_resolver(r).root for r in later):
        return "B-LTA"
    return "B-LT"


# --- modification policy: pyHanko's, plus later signatures and added annotations ------------------

# Annotations that only mark the page up. Anything else (links, widgets, file attachments, media,
# 3D...) or any annotation carrying an action stays an unexplained modification.
_MARKUP_ANNOTATIONS = frozenset(
    {
        "/Text",
        "/FreeText",
        "/Line",
        "/Square",
        "/Circle",
        "/Polygon",
        "/PolyLine",
        "/Highlight",
        "/Underline",
        "/Squiggly",
        "/StrikeOut",
        "/Stamp",
        "/Caret",
        "/Ink",
        "/Popup",
    }
)
_ACTIVE_ANNOTATION_KEYS = frozenset({"/A", "/AA", "/FS"})
# Errors reading a malformed object while looking for something to approve: approve nothing.
_READ_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, misc.PdfError)
_MAX_PAGE_TREE_DEPTH = 64


def _is_plain_dict(obj) -> bool:
    return isinstance(obj, generic.DictionaryObject) and not isinstance(obj, generic.StreamObject)


def _fresh(old: HistoricalResolver, ref: generic.Reference) -> bool:
    """The object did not exist in the old revision (so it cannot clobber anything)."""
    return old.is_ref_unassignable(ref)


class _AnnotationAdditionRule(QualifiedWhitelistRule):
    """Markup annotations appended to a page's /Annots, made only of new objects, at level
    ANNOTATIONS. The page dictionary must be otherwise unchanged and no annotation removed.
    This rule only approves; whatever it does not recognise stays unexplained."""

    def apply_qualified(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterator[tuple[ModificationLevel, ReferenceUpdate]]:
        try:
            pages = _same_page_tree(old, new)
        except _READ_ERRORS:
            return
        for page_ref in pages:
            try:
                updates = _annotation_updates(old, new, page_ref)
            except _READ_ERRORS:
                continue
            for update in updates:
                yield ModificationLevel.ANNOTATIONS, update


def _same_page_tree(old: HistoricalResolver, new: HistoricalResolver) -> list[generic.Reference]:
    """The leaf pages, if the page tree has the same shape in both revisions (else none)."""
    leaves: list[generic.Reference] = []
    root = new.root.raw_get("/Pages")
    if not isinstance(root, generic.IndirectObject) or old.root.raw_get("/Pages") != root:
        return leaves
    stack = [(root.reference, 0)]
    seen: set[generic.Reference] = set()
    while stack:
        ref, depth = stack.pop()
        if ref in seen or depth > _MAX_PAGE_TREE_DEPTH:
            return []
        seen.add(ref)
        old_node, new_node = old(ref), new(ref)
        if not (_is_plain_dict(old_node) and _is_plain_dict(new_node)):
            return []
        if old_node.get("/Type") == "/Page":
            leaves.append(ref)
            continue
        old_kids, new_kids = old_node.raw_get("/Kids"), new_node.raw_get("/Kids")
        if old_kids != new_kids:
            return []
        kids = old_kids.get_object()
        if not all(isinstance(kid, generic.IndirectObject) for kid in kids):
            return []
        stack.extend((kid.reference, depth + 1) for kid in reversed(kids))
    return leaves


def _annots(page: generic.DictionaryObject):
    """(annotation refs, reference of the /Annots array if indirect), or None if malformed."""
    if "/Annots" not in page:
        return [], None
    raw = page.raw_get("/Annots")
    array = raw.get_object()
    if not isinstance(array, generic.ArrayObject):
        return None
    if not all(isinstance(a, generic.IndirectObject) for a in array):
        return None
    refs = [a.reference for a in array]
    return refs, raw.reference if isinstance(raw, generic.IndirectObject) else None


def _annotation_updates(
    old: HistoricalResolver, new: HistoricalResolver, page_ref: generic.Reference
) -> list[ReferenceUpdate]:
    old_page, new_page = old(page_ref), new(page_ref)
    if not (_is_plain_dict(old_page) and _is_plain_dict(new_page)):
        return []
    before, after = _annots(old_page), _annots(new_page)
    if before is None or after is None:
        return []
    (old_refs, old_array), (new_refs, new_array) = before, after
    if old_refs == new_refs or len(set(new_refs)) != len(new_refs):
        return []
    if not set(old_refs) <= set(new_refs):
        return []  # an annotation was removed
    if not compare_dicts(old_page, new_page, frozenset({"/Annots"}), raise_exc=False):
        return []
    if new_array is not None and new_array != old_array and not _fresh(old, new_array):
        return []  # /Annots now points to another existing object
    updates = [ReferenceUpdate(page_ref)]  # as pyHanko does for new widgets: blanket approval
    if new_array is not None:
        context = RelativeContext(page_ref, RawPdfPath("/Annots"))
        updates.append(ReferenceUpdate(new_array, context_checked=context))
    known = set(old_refs)
    for ref in new_refs:
        if ref in known:
            continue
        objects = _markup_annotation_objects(old, new, ref)
        if objects is None:
            return []
        updates += [ReferenceUpdate(r) for r in objects]
    return updates


def _markup_annotation_objects(
    old: HistoricalResolver, new: HistoricalResolver, ref: generic.Reference
) -> list[generic.Reference] | None:
    """The new objects of a new markup annotation (itself, its appearance streams, its popup...),
    or None if it is not one or reaches into an object that existed before."""
    if not _fresh(old, ref):
        return None
    annotation = new(ref)
    if not _is_plain_dict(annotation):
        return None
    if annotation.get("/Subtype") not in _MARKUP_ANNOTATIONS:
        return None
    if any(key in annotation for key in _ACTIVE_ANNOTATION_KEYS):
        return None
    dependencies = new.collect_dependencies(annotation, since_revision=old.revision + 1)
    if not all(_fresh(old, d) for d in dependencies):
        return None
    return [ref, *dependencies]


class _CatalogRule(CatalogModificationRule):
    """pyHanko's catalog rule, except that an annotation appearance name tree (/Names /AP) may
    be added, as annotation tools do for their icons; the catalog is then approved at level
    ANNOTATIONS. Any other change to /Names is left to pyHanko's rule (which refuses it)."""

    def apply_qualified(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterator[tuple[ModificationLevel, ReferenceUpdate]]:
        old_names = old.root.raw_get("/Names") if "/Names" in old.root else None
        new_names = new.root.raw_get("/Names") if "/Names" in new.root else None
        names_updates = None
        if old_names != new_names and new_names is not None:
            try:
                names_updates = _appearance_names_updates(old, new, old_names, new_names)
            except _READ_ERRORS:
                names_updates = None
        if names_updates is None:
            yield from super().apply_qualified(old, new)
            return
        relaxed = CatalogModificationRule(ignored_keys=self.ignored_keys | {"/Names"})
        for level, update in relaxed.apply_qualified(old, new):
            yield max(level, ModificationLevel.ANNOTATIONS), update
        for update in names_updates:
            yield ModificationLevel.ANNOTATIONS, update


def _appearance_names_updates(
    old: HistoricalResolver, new: HistoricalResolver, old_raw, new_raw
) -> list[ReferenceUpdate] | None:
    """Approvals for a /Names dictionary whose only change is its /AP tree (None: not that)."""
    old_names = old_raw.get_object() if old_raw is not None else generic.DictionaryObject()
    new_names = new_raw.get_object()
    if not (_is_plain_dict(old_names) and _is_plain_dict(new_names)) or "/AP" not in new_names:
        return None
    if not compare_dicts(old_names, new_names, frozenset({"/AP"}), raise_exc=False):
        return None
    updates = []
    if isinstance(new_raw, generic.IndirectObject):
        ref = new_raw.reference
        same = isinstance(old_raw, generic.IndirectObject) and old_raw.reference == ref
        if not (same or _fresh(old, ref)):
            return None
        path = Context.from_absolute(old, RawPdfPath("/Root", "/Names"))
        updates.append(ReferenceUpdate(ref, context_checked=path))
    # The tree's new objects only: one that existed before and was rewritten stays unexplained.
    tree = new_names.raw_get("/AP")
    fresh = new.collect_dependencies(tree, since_revision=old.revision + 1)
    updates += [ReferenceUpdate(r) for r in fresh if _fresh(old, r)]
    return updates


class _SignatureAwareFormRule(FormUpdatingRule):
    """pyHanko's form rule, except that a signature field created *and signed* after the
    signature under review is a later signature, cleared at level LTA_UPDATES like an invisible
    one, instead of form filling. Filling a field that already existed stays form filling."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver):
        created = _signed_fields_created(old, new)
        for level, update in super().apply(old, new):
            if level == ModificationLevel.FORM_FILLING and update.field_name in created:
                level = ModificationLevel.LTA_UPDATES
            yield level, update


def _signed_fields_created(old: HistoricalResolver, new: HistoricalResolver) -> frozenset[str]:
    existing = {name for name, _value, _ref in enumerate_sig_fields(old)}
    return frozenset(
        name
        for name, _value, _ref in enumerate_sig_fields(new, filled_status=True)
        if name not in existing
    )


def _policy(form_rule: FormUpdatingRule) -> StandardDiffPolicy:
    global_rules = [
        _CatalogRule() if isinstance(rule, CatalogModificationRule) else rule
        for rule in DEFAULT_DIFF_POLICY.global_rules
    ]
    return StandardDiffPolicy(
        global_rules=[*global_rules, _AnnotationAdditionRule()], form_rule=form_rule
    )


_FIELD_RULES = DEFAULT_DIFF_POLICY.form_rule.field_rules
_APPROVAL_POLICY = _policy(_SignatureAwareFormRule(field_rules=_FIELD_RULES))
_CERTIFICATION_POLICY = _policy(FormUpdatingRule(field_rules=_FIELD_RULES))
