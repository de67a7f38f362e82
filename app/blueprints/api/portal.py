"""/api/v1/portal: e-counter requests from another system with the organisation's service token
(scope "portal"), their sealed receipt, and public tracking by number and code (throttled as
the tracking page is)."""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import select

from app.blueprints.api import idempotency as keys
from app.blueprints.api import schemas
from app.blueprints.api.auth import actor, current_token, public, scoped
from app.blueprints.api.common import load_json_part, service_refusals, wants_files
from app.blueprints.api.problems import ApiProblem
from app.blueprints.portal import ACCEPTED_TYPES
from app.extensions import db, limiter
from app.files.store import CorruptFile, MissingFile
from app.models import Organisation, PortalRequestType, PortalSubmission
from app.models.api import TokenKind
from app.services import api_portal, idempotency, portal, portal_documents, throttle
from app.uploads import file_store, ingest_all

blp = Blueprint(
    "api_portal", __name__, url_prefix="/api/v1/portal", description="The citizens' e-counter"
)

BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["submission"],
                "properties": {
                    "submission": {
                        "type": "string",
                        "description": "JSON: the PortalSubmission schema",
                    },
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                },
            }
        }
    },
}


def _organisation(code: str) -> Organisation:
    """Only this organisation's service token may submit to it."""
    token = current_token()
    organisation = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if organisation is None:
        raise ApiProblem("not_found")
    if token.kind != TokenKind.SERVICE or token.organisation_id != organisation.id:
        raise ApiProblem("forbidden", _l("Only this organisation's service tokens submit here."))
    return organisation


def _request_type(organisation: Organisation, code: str) -> PortalRequestType:
    request_type = db.session.scalar(
        select(PortalRequestType).where(
            PortalRequestType.organisation_id == organisation.id,
            PortalRequestType.code == code,
            PortalRequestType.published.is_(True),
        )
    )
    if request_type is None:
        raise ApiProblem(
            "validation_failed",
            errors={"submission": {"request_type": [str(_l("Unknown request type."))]}},
        )
    return request_type


def _files(uploads) -> list:
    config = current_app.config
    if len(uploads) > config["PORTAL_MAX_FILES"]:
        message = _("At most %(n)s attachments.", n=config["PORTAL_MAX_FILES"])
        raise ApiProblem("validation_failed", errors={"files": [message]})
    accepted, refusals = ingest_all(
        uploads, max_mb=config["PORTAL_MAX_UPLOAD_MB"], accept=ACCEPTED_TYPES, readable_only=True
    )
    if refusals:
        raise ApiProblem("validation_failed", errors={"files": [str(r) for r in refusals]})
    return accepted


def _answer(organisation: Organisation, registered: api_portal.Registered):
    submission = registered.submission
    settings = portal_documents.ReceiptSettings.from_config(current_app.config)
    body = {
        "number": submission.letter.number,
        "tracking_code": registered.tracking_code,
        "submission_id": submission.public_id,
        "receipt_url": url_for(
            "api_portal.receipt", organisation=organisation.code, submission_id=submission.public_id
        ),
        "tracking_url": settings.tracking_url(submission.letter.number),
    }
    return idempotency.Answer(201, schemas.PortalReceiptSchema().dumps(body), {})


def _issue_receipt(submission: PortalSubmission) -> None:
    """Made now when it can be (sealing needs the time-stamp authority); else by the worker."""
    settings = portal_documents.ReceiptSettings.from_config(current_app.config)
    try:
        portal_documents.issue_receipt(db.session, submission, file_store(), settings)
    except Exception:
        current_app.logger.exception("receipt of submission %s not made now", submission.id)
        db.session.rollback()


@blp.route("/<organisation>/submissions", methods=["POST"])
@blp.doc(requestBody=BODY, parameters=[keys.PARAMETER])
@blp.response(201, schemas.PortalReceiptSchema)
@scoped(blp, "portal")
def submit(organisation: str):
    """Register a citizen's request as the e-counter does (the organisation's service token)"""
    found = _organisation(organisation)
    key = keys.key_from_header()
    raw = request.form.get("submission")
    uploads = wants_files()
    request_hash = keys.fingerprint(raw, uploads) if key else ""
    settings = portal.PortalSettings.from_config(current_app.config)
    registered = None
    row = idempotency.find(db.session, actor().user.id, key) if key else None
    if row is None:
        try:
            registered, row = _first_attempt(found, raw, uploads, key, request_hash, settings)
        except idempotency.KeyTaken:  # a concurrent attempt kept the request first
            row = idempotency.find(db.session, actor().user.id, key)
    if registered is None:  # a retry: the key is known
        keys.check_same_request(row, request_hash)
        if row.status_code is not None:
            return keys.response(idempotency.stored_answer(row), replayed=True)
        try:
            registered = api_portal.resume(db.session, row, actor().remote_addr, settings)
        except api_portal.CodeGone as gone:
            raise ApiProblem("conflict", gone.message) from gone
    answer = _answer(found, registered)
    if row is not None:
        api_portal.remember(db.session, row, answer)
    _issue_receipt(registered.submission)
    return keys.response(answer)


def _first_attempt(organisation, raw, uploads, key, request_hash, settings):
    values = load_json_part(schemas.PortalSubmissionSchema(), raw, "submission")
    request_type = _request_type(organisation, values.pop("request_type"))
    data = portal.Submission(**values, files=_files(uploads))
    message_pdf = lambda: portal_documents.message_document(  # noqa: E731 - called once, later
        file_store(),
        organisation=organisation,
        request_type=request_type,
        locale=data.locale,
        sender_lines=[
            line.strip()
            for line in (data.name, data.national_id, data.address, data.email, data.phone)
            if line and line.strip()
        ],
        subject=data.subject,
        message=data.message,
        title=_("Request.pdf"),
    )
    with service_refusals("submission"):
        try:
            return api_portal.submit(
                db.session,
                actor(),
                request_type,
                data,
                settings=settings,
                message_pdf=message_pdf,
                key=key,
                request_hash=request_hash,
                wait_ms=current_app.config["API_IDEMPOTENCY_WAIT_MS"],
            )
        except idempotency.KeyInUse as error:
            raise ApiProblem("idempotency_in_progress") from error


@blp.route("/<organisation>/submissions/<submission_id>/receipt")
@blp.doc(
    responses={
        200: {
            "description": "The sealed acknowledgement of receipt",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
)
@scoped(blp, "portal")
def receipt(organisation: str, submission_id: str):
    """A request's sealed receipt (the organisation's service token)"""
    found = _organisation(organisation)
    submission = db.session.scalar(
        select(PortalSubmission).where(
            PortalSubmission.public_id == submission_id,
            PortalSubmission.organisation_id == found.id,
        )
    )
    if submission is None or submission.letter is None:
        raise ApiProblem("not_found")
    if submission.receipt_sha256 is None:
        _issue_receipt(submission)
    if submission.receipt_sha256 is None:
        raise ApiProblem(
            "service_unavailable",
            _l("The receipt is being prepared: try again in a minute."),
            headers={"Retry-After": "60"},
        )
    try:
        data = file_store().open_verified(submission.receipt_sha256)
    except (MissingFile, CorruptFile) as error:
        current_app.logger.error("portal receipt %s unreadable", submission.receipt_sha256)
        raise ApiProblem("internal_error") from error
    response = current_app.response_class(data, mimetype="application/pdf")
    filename = portal_documents.receipt_filename(submission.letter)
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    return response


def _track_limit() -> str:
    return current_app.config["PORTAL_TRACK_RATE_LIMIT"]


@blp.route("/track")
@public
@limiter.limit(_track_limit)
@blp.arguments(schemas.TrackQuerySchema, location="query", as_kwargs=True)
@blp.response(200, schemas.TrackResultSchema)
def track(number: str, code: str):
    """Follow a request by its registry number and tracking code (no token needed)"""
    try:
        submission = portal.find_for_tracking(db.session, number, code, request.remote_addr or "")
    except throttle.Blocked as blocked:
        raise ApiProblem(
            "rate_limited",
            _l(
                "Too many wrong attempts: wait %(seconds)s seconds before trying again.",
                seconds=blocked.seconds,
            ),
            headers={"Retry-After": str(blocked.seconds)},
        ) from blocked
    if submission is None:
        raise ApiProblem(
            "not_found",
            _l("This registry number and tracking code do not match any request. Check both."),
        )
    letter = portal.current_letter(submission)
    locale = submission.locale if submission.locale in ("ar", "fr") else "fr"
    return {
        "number": submission.letter.number,
        "status": letter.status,
        "registered_at": submission.letter.registered_at,
        "due_on": letter.due_on,
        "steps": [step.__dict__ for step in portal.timeline(db.session, submission, locale)],
    }
