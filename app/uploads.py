"""Uploaded files on their way into a letter: intake, refusal messages, and files kept
across a form that has to be shown again (so a user never uploads the same scan twice)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from flask import current_app
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage

from app.files.intake import IngestedFile, UploadRejected, ingest_upload
from app.files.store import FileStore

KEPT_FILES_MAX_AGE_S = 24 * 3600


def file_store() -> FileStore:
    return FileStore(Path(current_app.config["FILE_STORE"]))


def refusal_message(code: str, filename: str, max_mb: float | None = None):
    messages = {
        "empty": _l("%(name)s is empty.", name=filename),
        "too_large": _l(
            "%(name)s is larger than %(mb)s MB.",
            name=filename,
            mb=format_decimal(max_mb or current_app.config["MAX_UPLOAD_MB"]),
        ),
        "unsupported_type": _l("%(name)s is not a PDF, JPEG, PNG or TIFF file.", name=filename),
        "not_accepted": _l("%(name)s is not a PDF, JPEG or PNG file.", name=filename),
        "invalid_image": _l("%(name)s is a damaged or oversized image.", name=filename),
        "unreadable": _l(
            "%(name)s cannot be opened (damaged, or protected by a password): send a PDF that "
            "opens normally.",
            name=filename,
        ),
    }
    return messages.get(code, _l("%(name)s was refused.", name=filename))


def ingest_all(
    uploads: list[FileStorage],
    *,
    max_mb: float | None = None,
    accept: frozenset[str] | None = None,
    readable_only: bool = False,
) -> tuple[list[IngestedFile], list]:
    """Store every acceptable upload; return the files and the messages for the refused ones.

    The registry desk takes every supported type, and a damaged PDF is kept as received (flagged).
    The public portal passes its own size limit, the types it ``accept``s, and ``readable_only``:
    a PDF that cannot be opened is refused, so the citizen sends another while still there."""
    config = current_app.config
    store = file_store()
    max_mb = max_mb or config["MAX_UPLOAD_MB"]
    accepted, errors = [], []
    for upload in uploads:
        if upload is None or not upload.filename:
            continue
        # First-strong isolate: a Latin file name keeps its order inside an Arabic sentence.
        name = "\u2068" + Path(upload.filename).name + "\u2069"
        try:
            ingested = ingest_upload(
                store,
                upload.stream,
                upload.filename,
                max_bytes=int(max_mb * 1024 * 1024),
                timeout_s=config["PARSE_TIMEOUT_S"],
                memory_mb=config["PARSE_MEMORY_MB"],
            )
        except UploadRejected as refusal:
            code = "not_accepted" if accept and refusal.code == "unsupported_type" else refusal.code
            errors.append(refusal_message(code, name, max_mb))
            continue
        if accept is not None and ingested.media_type not in accept:
            errors.append(refusal_message("not_accepted", name, max_mb))
        elif readable_only and ingested.pdf_sha256 is None:
            errors.append(refusal_message("unreadable", name, max_mb))
        else:
            accepted.append(ingested)
    return accepted, errors


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="kept-files")


def encode_kept(files: list[IngestedFile], user_id: int) -> str:
    payload = [{**asdict(f), "flags": sorted(f.flags)} for f in files]
    return _serializer().dumps({"user": user_id, "files": payload})


def decode_kept(token: str | None, user_id: int) -> list[IngestedFile]:
    """Files uploaded by this user with an earlier attempt of this form; others are ignored."""
    if not token:
        return []
    try:
        data = _serializer().loads(token, max_age=KEPT_FILES_MAX_AGE_S)
    except BadSignature:
        return []
    if data.get("user") != user_id:
        return []
    return [IngestedFile(**{**item, "flags": frozenset(item["flags"])}) for item in data["files"]]
