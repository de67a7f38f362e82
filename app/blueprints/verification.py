"""The public verification page: anyone checks a signed PDF against this installation's
organisations, or the document a stamp's QR code names. No sign-in; nothing uploaded is kept."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, render_template
from flask_babel import format_datetime, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from app.extensions import db, limiter
from app.files.sniff import PDF, SNIFF_BYTES, sniff_media_type
from app.files.store import CorruptFile, MissingFile
from app.models import Organisation
from app.services import circuits, pki
from app.timezones import zone
from app.uploads import file_store
from signing.isolation import validate_isolated

bp = Blueprint("verification", __name__, url_prefix="/verify")


class VerifyForm(FlaskForm):
    document = FileField(
        _l("The PDF file to check"),
        validators=[FileRequired(_l("Choose the PDF file to check."))],
    )


def _verify_limit() -> str:
    return current_app.config.get("VERIFY_RATE_LIMIT", "20 per minute")


# -- what the report says, in words -------------------------------------------------------------

VERDICT_SENTENCES = {
    "VALID": _l("All signatures are valid and the document was not changed after signing."),
    "REVIEW": _l(
        "The signatures are intact, but the document was changed after signing in a way a "
        "signature may allow (a form filled in, a comment added): read the details before "
        "relying on it."
    ),
    "INVALID": _l(
        "At least one signature is invalid, or the document was changed after it was signed: "
        "do not rely on this document."
    ),
    "INDETERMINATE": _l(
        "The signatures could not be fully checked (for example, the certificate is not from an "
        "authority this installation knows): the document is not proven valid."
    ),
    "UNSIGNED": _l("This document carries no electronic signature."),
}

VERDICT_LABELS = {
    "VALID": _l("Valid"),
    "REVIEW": _l("To review"),
    "INVALID": _l("Invalid"),
    "INDETERMINATE": _l("Indeterminate"),
    "UNSIGNED": _l("Unsigned"),
}

# Every code signing.validation.REASONS lists (a test keeps them in step); unknown ones show raw.
REASON_MESSAGES = {
    "not-intact": _l("The signed bytes were changed: the signature no longer matches them."),
    "bad-signature": _l("The cryptographic signature does not verify."),
    "coverage": _l("The signature does not cover the whole document as it was signed."),
    "modified-after-signing": _l("The document was changed after this signature."),
    "docmdp-violation": _l("The document was changed in a way its certifying signature forbids."),
    "revoked": _l("The certificate was revoked."),
    "expired": _l("The certificate was not valid at the time of signing."),
    "bad-timestamp": _l("The signature's time-stamp is damaged or does not verify."),
    "seed-value-violation": _l("The signature does not meet the constraints of its field."),
    "untrusted": _l(
        "The certificate does not come from an authority this installation trusts "
        "(one of its organisations)."
    ),
    "untrusted-timestamp": _l(
        "The time-stamp comes from an authority this installation does not trust."
    ),
    "expired-since-signing": _l(
        "The certificate has expired since, and nothing proves it was valid when it signed."
    ),
    "revocation-unknown": _l("Whether the certificate was revoked could not be established."),
    "chain-invalid": _l("The certificate chain does not meet the rules for signing."),
    "weak-algorithm": _l("An algorithm that is no longer considered secure was used."),
    "unsupported-signature": _l("This kind of signature cannot be checked here."),
    "unreadable": _l("The file cannot be read as a PDF (damaged or encrypted)."),
    "library-error": _l("The checking software could not analyse this signature."),
    "timeout": _l("The check took too long and was stopped."),
    "resources": _l("The check needed more memory than allowed and was stopped."),
    "form-filled": _l("Form fields were filled in after this signature."),
    "annotations-added": _l("Comments or annotations were added after this signature."),
}

LEVEL_LABELS = {level: f"PAdES {level}" for level in ("B-B", "B-T", "B-LT", "B-LTA")}

COVERAGE_LABELS = {
    "entire-file": _l("the whole file"),
    "entire-revision": _l("the whole document as it was when signed"),
    "contiguous-block-from-start": _l("only the start of the file"),
    "unclear": _l("unclear"),
}

MODIFICATION_LABELS = {
    "none": _l("none"),
    "lta-updates": _l("only later signatures, validation data and time-stamps (allowed)"),
    "form-filling": _l("form fields filled in"),
    "annotations": _l("comments or annotations added"),
    "other": _l("other changes"),
}

REVOCATION_LABELS = {
    "good": _l("checked: not revoked"),
    "revoked": _l("revoked"),
    "unknown": _l("could not be established"),
    "not-checked": _l("not checked (no revocation list from its authority)"),
}

TRUST_LABELS = {
    True: _l("leads to an authority of this installation"),
    False: _l("does not lead to an authority of this installation"),
}


def _label(labels: dict, value) -> str:
    """The translated label of a code, the code itself when unknown, a dash when empty."""
    if value is None or value == "":
        return "—"
    return str(labels.get(value, value))


def reason_text(code: str) -> str:
    return str(REASON_MESSAGES.get(code, code))


# -- the report, ready for a template -----------------------------------------------------------


@dataclass(frozen=True)
class SignatureView:
    field: str
    signer: str
    signing_time: str
    timestamp_time: str
    level: str
    coverage: str
    modifications: str
    chain: list[str]  # certificate subjects, from the signer up to its authority
    trust: str
    revocation: str
    verdict: str
    verdict_label: str
    reasons: list[str]


@dataclass(frozen=True)
class ReportView:
    verdict: str
    sentence: str
    reasons: list[str]
    signatures: list[SignatureView]
    timestamps: list[SignatureView]
    sha256: str
    pages: int | None
    time_zone: str  # "UTC" or the organisation's zone: the page says which


def _moment(value, time_zone: str) -> str:
    """A signing or time-stamp time (a datetime or ISO text; naive means UTC) in `time_zone`."""
    if not value:
        return "—"
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone(time_zone))
    return format_datetime(local, "medium", rebase=False)


def _signer(value) -> str:
    """The report names a signer by its certificate: {"common_name", "subject"}."""
    if isinstance(value, dict):
        return str(value.get("common_name") or value.get("subject") or "—")
    return str(value or "—")


def _signature_view(entry: dict, time_zone: str) -> SignatureView:
    verdict = str(entry.get("verdict", ""))
    chain = entry.get("chain") or []
    return SignatureView(
        field=str(entry.get("field") or ""),
        signer=_signer(entry.get("signer")),
        signing_time=_moment(entry.get("signing_time"), time_zone),
        timestamp_time=_moment(entry.get("timestamp_time"), time_zone),
        level=_label(LEVEL_LABELS, entry.get("level")),
        coverage=_label(COVERAGE_LABELS, entry.get("coverage")),
        modifications=_label(MODIFICATION_LABELS, entry.get("modifications")),
        chain=[str(subject) for subject in chain] if isinstance(chain, list) else [str(chain)],
        trust=_label(TRUST_LABELS, entry.get("trusted")),
        revocation=_label(REVOCATION_LABELS, entry.get("revocation")),
        verdict=verdict,
        verdict_label=_label(VERDICT_LABELS, verdict),
        reasons=[reason_text(code) for code in entry.get("reasons") or ()],
    )


def present(report: dict, time_zone: str) -> ReportView:
    verdict = str(report.get("verdict", "INDETERMINATE"))
    return ReportView(
        verdict=verdict,
        sentence=str(VERDICT_SENTENCES.get(verdict, verdict)),
        reasons=[reason_text(code) for code in report.get("reasons") or ()],
        signatures=[_signature_view(s, time_zone) for s in report.get("signatures") or ()],
        timestamps=[_signature_view(s, time_zone) for s in report.get("document_timestamps") or ()],
        sha256=str(report.get("sha256") or ""),
        pages=report.get("pages"),
        time_zone=time_zone,
    )


def _validate(pdf: bytes, time_zone: str) -> ReportView:
    """Validate in the sandbox, trusting every organisation CA of this installation."""
    roots, crls = pki.installation_trust(db.session)
    # The validator's own memory limit: only children with it are kept warm (no import cost).
    report = validate_isolated(
        pdf, trust_roots=roots, crls=crls, timeout=current_app.config["PARSE_TIMEOUT_S"]
    )
    return present(report, time_zone)


# -- the uploaded file ---------------------------------------------------------------------------


def _uploaded_pdf(form: VerifyForm) -> tuple[bytes | None, int]:
    """The uploaded PDF read into memory (never stored), or None and the status to answer
    with; the reason is attached to the form field."""
    if not form.validate():
        return None, 422
    limit = int(current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024)
    data = form.document.data.stream.read(limit + 1)
    if len(data) > limit:
        mb = format_decimal(current_app.config["MAX_UPLOAD_MB"])
        form.document.errors.append(_("The file is larger than %(mb)s MB.", mb=mb))
        return None, 413
    if not data:
        form.document.errors.append(_("The file is empty."))
        return None, 422
    if sniff_media_type(data[:SNIFF_BYTES]) != PDF:
        form.document.errors.append(_("This file is not a PDF."))
        return None, 422
    return data, 200


# -- pages ----------------------------------------------------------------------------------------


@bp.route("", methods=["GET", "POST"])
@limiter.limit(_verify_limit, methods=["POST"])
def upload():
    form = VerifyForm()
    report, status = None, 200
    if form.is_submitted():
        pdf, status = _uploaded_pdf(form)
        if pdf is not None:
            report = _validate(pdf, "UTC")  # an outside document: no organisation's zone
    return render_template("verify/upload.html", form=form, report=report), status


@dataclass(frozen=True)
class Comparison:
    identical: bool
    earlier_version: int | None  # the copy matches this older version of the document
    copy_sha256: str


def _compare(copy: bytes, circuit) -> Comparison:
    digest = hashlib.sha256(copy).hexdigest()
    current = circuit.current_version
    earlier = next(
        (v.number for v in circuit.versions if v.sha256 == digest and v.id != current.id), None
    )
    return Comparison(digest == current.sha256, earlier, digest)


# Each view validates a document in a sandboxed child: the page is rate-limited like the upload.
@bp.route("/<token>", methods=["GET", "POST"])
@limiter.limit(_verify_limit)
def circuit_report(token: str):
    circuit = circuits.by_token(db.session, token)
    if circuit is None:
        abort(404)
    organisation = db.session.get(Organisation, circuit.organisation_id)
    version = circuit.current_version
    form = VerifyForm()
    report = comparison = None
    damaged, status = False, 200
    if form.is_submitted():
        copy, status = _uploaded_pdf(form)
        if copy is not None:
            comparison = _compare(copy, circuit)
            report = _validate(copy, organisation.timezone)
    else:
        try:
            held = file_store().open_verified(version.sha256)
        except (MissingFile, CorruptFile):
            current_app.logger.error("verification: stored document %s unreadable", version.sha256)
            damaged, status = True, 500
        else:
            report = _validate(held, organisation.timezone)
    return (
        render_template(
            "verify/circuit.html",
            circuit=circuit,
            organisation=organisation,
            version=version,
            form=form,
            report=report,
            comparison=comparison,
            damaged=damaged,
        ),
        status,
    )
