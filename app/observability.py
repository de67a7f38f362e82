"""Logs and request ids.

Every log line goes to stderr as text or as one JSON object (LOG_FORMAT). Each request gets an
id (the X-Request-ID it came with when well formed, nginx's $request_id for instance, otherwise a
new one): it is in every log line written while the request runs, in the response's X-Request-ID
header, and on the error page of a 500, so a user can quote it. One access line per request
names the view, the status, the time taken and the signed-in user's id; never the query string,
which may carry a token.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app import metrics

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
access_log = logging.getLogger("diwan.access")

# Attributes every LogRecord has; anything else on a record was passed as `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class RequestContextFilter(logging.Filter):
    """Puts the current request's id on every record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = g.get("request_id", "") if has_request_context() else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, pid, request id, and the
    fields passed as `extra` (the access line's method, path, status ...)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process or os.getpid(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and value not in ("", None):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", ""):
            record.request_id = "-"
        return super().format(record)


class _DevServerAccessFilter(logging.Filter):
    """`diwan run` (Werkzeug's server) logs each request too; Diwan's access line says more."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and " - - [" in record.msg and record.args)


def configure_logging(fmt: str = "text", level: str = "INFO", stream=None) -> logging.Handler:
    """Diwan's one handler on the root logger (replacing the one a previous call installed), so
    the app's, the worker's and the libraries' lines all share the format."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_diwan", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._diwan = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _DevServerAccessFilter) for f in werkzeug.filters):
        werkzeug.addFilter(_DevServerAccessFilter())
    return handler


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Behind nginx the peer is the proxy: the client's address (rate limits, audit trail,
        # /metrics) and the scheme come from the headers the trusted proxies set.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    # First of all hooks: a hook that answers early (a refused API token) still gets an id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    app.context_processor(lambda: {"request_id": g.get("request_id", "")})


def request_id_from(header: str | None) -> str:
    if header and _WELL_FORMED.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _start_request() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _finish_request(response):
    if "request_id" not in g:  # a request that failed before the first hook
        _start_request()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    seconds = time.perf_counter() - g.request_started
    endpoint = request.endpoint or "unmatched"
    metrics.observe_request(endpoint, request.method, response.status_code, seconds)
    user = g.get("_login_user")  # only if the request loaded it: no query for static files
    user_id = user.id if user is not None and getattr(user, "is_authenticated", False) else None
    access_log.info(
        "%s %s %s %.1fms user=%s",
        request.method,
        request.path,
        response.status_code,
        seconds * 1000,
        user_id if user_id is not None else "-",
        extra={
            "method": request.method,
            "path": request.path,
            "endpoint": endpoint,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "user_id": user_id,
        },
    )
    return response
