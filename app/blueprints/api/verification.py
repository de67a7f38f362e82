"""/api/v1/validate: a PDF's signatures checked as on the public verification page (in a
sandboxed child, trusting this installation's organisation CAs); nothing uploaded is kept."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from app.blueprints.api import schemas
from app.blueprints.api.auth import limit_key, scoped
from app.blueprints.api.problems import ApiProblem
from app.blueprints.verification import VERDICT_SENTENCES, reason_text
from app.extensions import db, limiter
from app.files.sniff import PDF, SNIFF_BYTES, sniff_media_type
from app.services import pki
from signing.isolation import validate_isolated

blp = Blueprint(
    "api_validation", __name__, url_prefix="/api/v1/validate", description="Signed PDF checks"
)

BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        }
    },
}


def _verify_limit() -> str:
    return current_app.config.get("VERIFY_RATE_LIMIT", "20 per minute")


def _uploaded() -> bytes:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiProblem("validation_failed", errors={"files": {"file": [str(_l("Required."))]}})
    limit = int(current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024)
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiProblem("payload_too_large")
    if not data or sniff_media_type(data[:SNIFF_BYTES]) != PDF:
        raise ApiProblem(
            "validation_failed", errors={"files": {"file": [str(_l("This file is not a PDF."))]}}
        )
    return data


def _signature(entry: dict) -> dict:
    signer = entry.get("signer")
    if isinstance(signer, dict):
        signer = signer.get("common_name") or signer.get("subject")
    reasons = [str(code) for code in entry.get("reasons") or ()]
    return {
        "field": str(entry.get("field") or ""),
        "signer": str(signer or ""),
        "signing_time": str(entry["signing_time"]) if entry.get("signing_time") else None,
        "level": entry.get("level"),
        "verdict": str(entry.get("verdict", "")),
        "reasons": reasons,
        "reason_texts": [reason_text(code) for code in reasons],
    }


@blp.route("", methods=["POST"])
@limiter.limit(_verify_limit, key_func=limit_key)
@blp.doc(requestBody=BODY)
@blp.response(200, schemas.ValidationReportSchema)
@scoped(blp, "validate")
def validate():
    """Validate a signed PDF: VALID, REVIEW, INVALID, INDETERMINATE or UNSIGNED, with reasons"""
    pdf = _uploaded()
    roots, crls = pki.installation_trust(db.session)
    report = validate_isolated(
        pdf, trust_roots=roots, crls=crls, timeout=current_app.config["PARSE_TIMEOUT_S"]
    )
    verdict = str(report.get("verdict", "INDETERMINATE"))
    return {
        "verdict": verdict,
        "sentence": str(VERDICT_SENTENCES.get(verdict, verdict)),
        "reasons": [str(code) for code in report.get("reasons") or ()],
        "sha256": str(report.get("sha256") or ""),
        "pages": report.get("pages"),
        "signatures": [_signature(s) for s in report.get("signatures") or ()],
    }
