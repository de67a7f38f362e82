"""Every API error as RFC 9457 problem+json: {type, title, status, detail, code, instance, errors?}.

`code` is stable (clients branch on it); `title` and `detail` are translated (Accept-Language).
Errors raised outside the API's views (an unknown path under /api/v1, a wrong method, a rate
limit, a body too large) reach the application's handlers, which this module wraps so pages keep
their HTML error pages and the API answers in JSON.
"""

from __future__ import annotations

import json

from flask import Flask, Response, current_app, request
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

API_PREFIX = "/api/v1"
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://diwan.invalid/problems/"  # a stable identifier, not a page to fetch

# code -> (HTTP status, title). The OpenAPI document lists them; clients rely on the codes.
CODES = {
    "bad_request": (400, _l("The request could not be understood.")),
    "invalid_cursor": (400, _l("The cursor is not one this API gave.")),
    "unauthenticated": (401, _l("A valid API token is required.")),
    "forbidden": (403, _l("You do not have the right to do this.")),
    "scope_missing": (403, _l("This token's scopes do not allow this operation.")),
    "not_found": (404, _l("Not found, or you cannot see it.")),
    "method_not_allowed": (405, _l("This method is not allowed here.")),
    "not_acceptable": (406, _l("This representation is not available.")),
    "idempotency_in_progress": (409, _l("A request with this idempotency key is still running.")),
    "conflict": (409, _l("The request conflicts with the current state.")),
    "payload_too_large": (413, _l("The request body is too large.")),
    "unsupported_media_type": (415, _l("This content type is not accepted here.")),
    "validation_failed": (422, _l("The request is not valid.")),
    "idempotency_key_reused": (
        422,
        _l("This idempotency key was used with a different request."),
    ),
    "rate_limited": (429, _l("Too many requests. Wait a little and try again.")),
    "internal_error": (500, _l("Something went wrong.")),
    "service_unavailable": (503, _l("The service is unavailable; try again later.")),
}
_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiProblem(Exception):
    """Raised by API code; turned into a problem response."""

    def __init__(self, code: str, detail=None, *, errors: dict | None = None, headers=None):
        super().__init__(code)
        self.code = code
        self.status = CODES[code][0]
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    code: str, detail=None, *, errors: dict | None = None, headers=None, status: int | None = None
) -> Response:
    status = status or CODES[code][0]
    body = {
        "type": TYPE_BASE + code,
        "title": str(CODES[code][1]),
        "status": status,
        "detail": str(detail) if detail is not None else str(CODES[code][1]),
        "code": code,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body, ensure_ascii=False), status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_exception(error: ApiProblem) -> Response:
    return problem_response(
        error.code, error.detail, errors=error.errors, headers=error.headers, status=error.status
    )


def _detail_of(error: HTTPException):
    if error.code == 413:
        return _l(
            "The body is larger than the %(mb)s MB allowed.",
            mb=format_decimal(current_app.config["MAX_UPLOAD_MB"]),
        )
    if error.code == 429:
        return CODES["rate_limited"][1]
    return None


def _errors_of(error: HTTPException) -> dict | None:
    """webargs' validation messages ({location: {field: [messages]}})."""
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    return messages if isinstance(messages, dict) else None


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code = _BY_STATUS.get(status, "bad_request" if status < 500 else "internal_error")
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 429:
        for name in ("Retry-After", "X-RateLimit-Reset"):
            value = error.get_response().headers.get(name)
            if value:
                headers[name] = value
    return problem_response(
        code,
        _detail_of(error),
        errors=_errors_of(error),
        headers=headers,
        status=status if code in ("bad_request", "internal_error") else None,
    )


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def install(app: Flask) -> None:
    """API requests get problem+json for every HTTP error; other requests keep whatever the
    application answered before (its HTML pages)."""
    spec = app.error_handler_spec.setdefault(None, {})
    codes = {400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 429, 500, 503}
    for status in sorted(codes | {c for c in spec if c is not None}):
        # The handler of the status's own class (CSRFError, a BadRequest, keeps its own).
        previous = spec.get(status, {}).get(default_exceptions.get(status))
        app.register_error_handler(status, _wrap(previous))
    previous_any = spec.get(None, {}).get(HTTPException)
    app.register_error_handler(HTTPException, _wrap(previous_any))


def _wrap(previous):
    def handle(error: HTTPException):
        if is_api_request():
            if isinstance(error, InternalServerError) and error.original_exception is not None:
                current_app.logger.error(
                    "API error on %s", request.path, exc_info=error.original_exception
                )
            return from_http_exception(error)
        if previous is not None:
            return previous(error)
        return error.get_response()

    return handle
