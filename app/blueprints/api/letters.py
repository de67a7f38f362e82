"""/api/v1/letters: register (multipart: JSON metadata + files, with an idempotency key), list by
cursor, read a letter, its history and its documents' verified bytes."""

from __future__ import annotations

from io import BytesIO

from flask import Response, current_app, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from app.blueprints.api import idempotency as keys
from app.blueprints.api import schemas
from app.blueprints.api.auth import actor, letter_or_404, scoped, user
from app.blueprints.api.common import load_json_part, service_refusals, valid_id, wants_files
from app.blueprints.api.pagination import letter_position
from app.blueprints.api.problems import ApiProblem
from app.extensions import db
from app.files.store import FileStoreError
from app.models import Document, Letter, Organisation
from app.permissions import can_register, can_see_assignment, can_view_letter, can_view_register
from app.services import audit, idempotency, registration, routing_rules
from app.services.errors import ServiceError
from app.services.register_list import RegisterFilter, list_page
from app.uploads import file_store, ingest_all

blp = Blueprint(
    "api_letters", __name__, url_prefix="/api/v1/letters", description="Letters of the registry"
)
MEDIA_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/tiff")

REGISTER_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["metadata", "files"],
                "properties": {
                    "metadata": {
                        "type": "string",
                        "description": "JSON: the LetterMetadata schema",
                        "example": (
                            '{"register": "incoming", "subject": "Demande de permis", '
                            '"channel": "post", "new_correspondent": {"name": "Karim Alaoui"}}'
                        ),
                    },
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "The scanned letter and its attachments",
                    },
                },
            }
        }
    },
}


def summary(letter: Letter) -> dict:
    return {
        "id": letter.id,
        "number": letter.number,
        "register": letter.register,
        "subject": letter.subject,
        "status": letter.status,
        "channel": letter.channel,
        "priority": letter.priority,
        "confidential": letter.confidential,
        "registered_at": letter.registered_at,
        "due_on": letter.due_on,
        "correspondent": letter.correspondent.name if letter.correspondent else None,
        "url": url_for("api_letters.show", letter_id=letter.id),
    }


def _document(letter: Letter, document: Document) -> dict:
    version = document.current
    return {
        "id": document.id,
        "position": document.position,
        "title": document.title,
        "kind": document.kind,
        "current": version,
        "content_url": url_for(
            "api_letters.document_content", letter_id=letter.id, document_id=document.id
        ),
    }


def detail(letter: Letter, viewer) -> dict:
    locale = str(get_locale() or "ar")
    return {
        **summary(letter),
        "sender_reference": letter.sender_reference,
        "letter_date": letter.letter_date,
        "received_on": letter.received_on,
        "letter_type_id": letter.letter_type_id,
        "language": letter.language,
        "physical_attachments": letter.physical_attachments,
        "reply_to_id": letter.reply_to_id,
        "outcome": letter.outcome,
        "closed_at": letter.closed_at,
        "documents": [_document(letter, d) for d in letter.documents],
        "assignments": [
            {
                "id": a.id,
                "department_id": a.department_id,
                "department": a.department.name(locale),
                "kind": a.kind,
                "state": a.state,
                "agent": a.agent.full_name if a.agent else None,
                "routed_at": a.routed_at,
                "due_on": a.due_on,
            }
            for a in letter.assignments
            if can_see_assignment(viewer, a)
        ],
    }


@blp.route("")
@blp.arguments(schemas.LetterListQuerySchema, location="query", as_kwargs=True)
@blp.response(200, schemas.LetterPageSchema)
@scoped(blp, "letters:read")
def index(register: str, limit: int, status: str | None = None, cursor: str | None = None):
    """The register, newest first (registry officers and administrators, as the register page)"""
    if not can_view_register(user()):
        raise ApiProblem("forbidden")
    organisation = db.session.get(Organisation, user().organisation_id)
    page = list_page(
        db.session,
        organisation,
        RegisterFilter(register=register, status=status),
        cursor=letter_position(cursor),
        limit=limit,
    )
    # The register page lists a confidential letter's line; the API leaves out what the user
    # could not open.
    visible = [summary(letter) for letter in page.letters if _sees(letter)]
    return {"items": visible, "next_cursor": page.next_cursor}


def _sees(letter: Letter) -> bool:
    return can_view_letter(user(), letter)


@blp.route("/<int:letter_id>")
@blp.response(200, schemas.LetterSchema)
@scoped(blp, "letters:read")
def show(letter_id: int):
    """A letter: metadata, documents, the routing the caller may see"""
    letter = letter_or_404(letter_id)
    return detail(letter, user())


@blp.route("/<int:letter_id>/history")
@blp.response(200, schemas.HistoryEventSchema(many=True))
@scoped(blp, "letters:read")
def history(letter_id: int):
    """The letter's audit events, as its page shows them"""
    letter = letter_or_404(letter_id)
    return [
        {
            "seq": event.seq,
            "occurred_at": event.occurred_at,
            "action": event.action,
            "actor": event.actor_name,
            "on_behalf_of": (event.data.get("for") or {}).get("name"),
            "data": event.data,
        }
        for event in audit.letter_history(db.session, letter.id)
    ]


@blp.route("/<int:letter_id>/documents/<int:document_id>/content")
@blp.arguments(schemas.DocumentContentQuerySchema, location="query", as_kwargs=True)
@blp.doc(
    responses={
        200: {
            "description": "The document's bytes, checked against their SHA-256",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES},
        }
    }
)
@scoped(blp, "letters:read")
def document_content(letter_id: int, document_id: int, rendition: str):
    """A document's current version, as received or as its PDF rendition"""
    letter = letter_or_404(letter_id)
    document = db.session.get(Document, valid_id(document_id) or 0)
    if document is None or document.letter_id != letter.id:
        raise ApiProblem("not_found")
    version = document.current
    if rendition == "pdf":
        if not version.pdf_sha256:
            raise ApiProblem("not_found", _l("This document has no PDF rendition."))
        sha, media_type = version.pdf_sha256, "application/pdf"
    else:
        sha, media_type = version.original_sha256, version.media_type
    try:
        data = file_store().open_verified(sha)
    except FileStoreError as error:
        current_app.logger.error("stored file %s failed its hash check or is missing", sha)
        raise ApiProblem("internal_error") from error
    return send_file(BytesIO(data), mimetype=media_type, download_name=document.title)


# -- registering -----------------------------------------------------------------------------------


def _letter_input(values: dict, files) -> registration.LetterInput:
    new = values.pop("new_correspondent", None)
    return registration.LetterInput(
        **values,
        new_correspondent=registration.NewContact(**new) if new else None,
        files=files,
    )


def _created(letter: Letter) -> idempotency.Answer:
    body = schemas.LetterSchema().dumps(detail(letter, user()))
    headers = {"Location": url_for("api_letters.show", letter_id=letter.id)}
    return idempotency.Answer(201, body, headers)


@blp.route("", methods=["POST"])
@blp.doc(requestBody=REGISTER_BODY, parameters=[keys.PARAMETER])
@blp.response(201, schemas.LetterSchema)
@scoped(blp, "letters:write")
def register():
    """Register a letter with its documents (registry officers), once per idempotency key"""
    key = keys.key_from_header()
    raw = request.form.get("metadata")
    uploads = wants_files()
    request_hash = ""
    if key is not None:
        request_hash = keys.fingerprint(raw, uploads)
        existing = idempotency.find(db.session, user().id, key)
        if existing is not None:
            return _replay(existing, request_hash)
    if not can_register(user()):
        raise ApiProblem("forbidden", _l("Only registry officers can register letters."))
    values = load_json_part(schemas.LetterMetadataSchema(), raw, "metadata")
    files = _files(uploads)
    data = _letter_input(values, files)
    settings = registration.NumberingSettings.from_config(current_app.config)
    with service_refusals("metadata"):
        if key is None:
            letter = registration.register_letter(db.session, actor(), data, settings)
            answer = _created(letter)
        else:
            try:
                letter, answer = idempotency.register_once(
                    db.session,
                    actor(),
                    data,
                    settings,
                    key=key,
                    request_hash=request_hash,
                    answer=_created,
                    wait_ms=current_app.config["API_IDEMPOTENCY_WAIT_MS"],
                )
            except idempotency.KeyInUse as error:
                raise ApiProblem("idempotency_in_progress") from error
            except idempotency.KeyTaken:
                return _taken(key, request_hash)
    _apply_routing_rule(letter)
    return keys.response(answer)


def _replay(row, request_hash: str) -> Response:
    keys.check_same_request(row, request_hash)
    return keys.response(idempotency.stored_answer(row), replayed=True)


def _taken(key: str, request_hash: str) -> Response:
    """A concurrent request with this key committed first: answer as a retry would be."""
    return _replay(idempotency.find(db.session, user().id, key), request_hash)


def _files(uploads) -> list:
    limit = current_app.config["MAX_FILES_PER_LETTER"]
    if len(uploads) > limit:
        raise ApiProblem(
            "validation_failed",
            errors={"files": [str(_l("At most %(n)s documents per letter.", n=limit))]},
        )
    accepted, refusals = ingest_all(uploads)
    if refusals:
        raise ApiProblem("validation_failed", errors={"files": [str(r) for r in refusals]})
    if not accepted:
        raise ApiProblem(
            "validation_failed",
            errors={"files": [str(_l("Attach the scanned letter (PDF, JPEG, PNG or TIFF)."))]},
        )
    return accepted


def _apply_routing_rule(letter: Letter) -> None:
    """As at the desk: a rule that routes automatically does so once the letter is registered."""
    try:
        routing_rules.apply_at_registration(db.session, actor(), letter)
    except ServiceError:
        current_app.logger.info("routing rule not applied to letter %s", letter.id)
