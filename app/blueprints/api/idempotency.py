"""The HTTP side of idempotency keys: the header, a request's fingerprint, a replayed answer."""

from __future__ import annotations

import hashlib
import json

from flask import Response, request
from flask_babel import lazy_gettext as _l

from app.blueprints.api.problems import ApiProblem
from app.services import idempotency

HEADER = "Idempotency-Key"
PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH},
    "description": "Retrying with the same key and request replays the first answer "
    "(header Idempotent-Replayed: true); the same key with another request is refused.",
}


def key_from_header() -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > idempotency.MAX_KEY_LENGTH:
        raise ApiProblem(
            "validation_failed", errors={"headers": {HEADER: [str(_l("1 to 255 characters."))]}}
        )
    return key


def fingerprint(raw_json: str | None, uploads) -> str:
    """The request, independent of the multipart boundary a client chose for each attempt."""
    try:
        document = idempotency.canonical_json(json.loads(raw_json or "null"))
    except ValueError:
        document = raw_json or ""
    parts = [document]
    for upload in uploads:
        digest = hashlib.sha256()
        for chunk in iter(lambda u=upload: u.stream.read(1 << 20), b""):
            digest.update(chunk)
        upload.stream.seek(0)
        parts.append(f"{upload.filename}:{digest.hexdigest()}")
    return idempotency.fingerprint(request.method, request.path, parts)


def response(answer: idempotency.Answer, *, replayed: bool = False) -> Response:
    reply = Response(answer.body, answer.status, mimetype="application/json")
    for name, value in answer.headers.items():
        if name[:1].isupper():  # lower-case entries are the service's own notes
            reply.headers[name] = value
    if replayed:
        reply.headers["Idempotent-Replayed"] = "true"
    return reply


def check_same_request(row, request_hash: str) -> None:
    if row.request_hash != request_hash:
        raise ApiProblem("idempotency_key_reused")
