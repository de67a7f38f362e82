"""What outside software fetches from an organisation's PKI: its CRL, its CA certificate, and
its RFC 3161 time-stamp authority. Public: no sign-in, no session, no CSRF (the TSA is an API)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select

from app.extensions import csrf, db, limiter
from app.models import Organisation
from app.models.base import utcnow
from app.services import pki
from signing.timestamps import answer_request

bp = Blueprint("pki_endpoints", __name__, url_prefix="/pki")

# A TimeStampReq is a digest and a few small fields: a few hundred bytes.
MAX_TSA_REQUEST_BYTES = 64 * 1024
TSA_QUERY = "application/timestamp-query"


def _tsa_limit() -> str:
    return current_app.config.get("TSA_RATE_LIMIT", "60 per minute")


def _organisation_or_404(code: str) -> Organisation:
    """An organisation that has its PKI: an anonymous request never creates one."""
    organisation = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if organisation is None or not pki.has_pki(db.session, organisation):
        abort(404)
    return organisation


def _settings() -> pki.PkiSettings:
    return pki.PkiSettings.from_config(current_app.config)


@bp.get("/<code>/crl")
def crl(code: str):
    organisation = _organisation_or_404(code)
    newest = pki.current_crl(db.session, organisation, _settings())
    # Relying parties may keep it until its next update: a revocation always issues a new one.
    seconds_left = max(0, int((newest.next_update - utcnow()).total_seconds()))
    return Response(
        newest.crl_der,
        mimetype="application/pkix-crl",
        headers={
            "Cache-Control": f"public, max-age={seconds_left}",
            "Content-Disposition": f'attachment; filename="{organisation.code}.crl"',
        },
    )


@bp.get("/<code>/ca.pem")
def ca_certificate(code: str):
    organisation = _organisation_or_404(code)
    authority = pki.ensure_organisation_pki(db.session, organisation, _settings()).authority
    return Response(
        authority.certificate.public_bytes(serialization.Encoding.PEM),
        mimetype="application/x-pem-file",
        headers={"Content-Disposition": f'attachment; filename="{organisation.code}-ca.pem"'},
    )


@bp.post("/<code>/tsa")
@csrf.exempt
@limiter.limit(_tsa_limit)
def timestamp(code: str):
    """RFC 3161 over HTTP: a DER TimeStampReq in, a DER TimeStampResp out. A request the
    authority refuses still gets a TimeStampResp (status "rejection"), as the RFC says."""
    organisation = _organisation_or_404(code)
    if request.mimetype != TSA_QUERY:
        return Response(f"expected {TSA_QUERY}\n", status=415, mimetype="text/plain")
    declared = request.content_length
    if declared is not None and declared > MAX_TSA_REQUEST_BYTES:
        return _too_large()
    body = request.stream.read(MAX_TSA_REQUEST_BYTES + 1)
    if len(body) > MAX_TSA_REQUEST_BYTES:
        return _too_large()
    authority = pki.ensure_organisation_pki(db.session, organisation, _settings()).timestamping
    reply = answer_request(
        body, certificate=authority.certificate, key=authority.key, chain=authority.chain
    )
    return Response(reply, mimetype="application/timestamp-reply")


def _too_large() -> Response:
    return Response(
        f"a time-stamp request is at most {MAX_TSA_REQUEST_BYTES} bytes\n",
        status=413,
        mimetype="text/plain",
    )
