"""For the people running Diwan: liveness (/healthz), readiness (/readyz) and Prometheus
metrics (/metrics). None needs signing in; none shows personal data."""

from __future__ import annotations

import hmac
import ipaddress
import time

from flask import Blueprint, Response, abort, current_app, jsonify, request

from app import metrics
from app.extensions import db, limiter
from app.services import health

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers. No database, no disk: a load balancer may ask every second."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Database, file store, the queues the worker drains and its heartbeat: 200 when all are
    fine, 503 naming the check that is not. Each process answers from a result at most
    READY_CACHE_S old, so a flood of requests costs one round of checks a second."""
    cache = current_app.extensions.setdefault("diwan_readyz", {})
    now = time.monotonic()
    if cache.get("until", 0.0) <= now:
        shared = not current_app.config["RATELIMIT_STORAGE_URI"].startswith("memory://")
        ready, checks = health.readiness(
            db.session, current_app.config, rate_limits=limiter.storage if shared else None
        )
        cache.update(until=now + current_app.config["READY_CACHE_S"], ready=ready, checks=checks)
    response = jsonify(
        {"status": "ready" if cache["ready"] else "not ready", "checks": cache["checks"]}
    )
    response.status_code = 200 if cache["ready"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics_page():
    if not _may_scrape():
        abort(404)  # as if it were not there
    return Response(metrics.exposition(db.session), content_type=metrics.CONTENT_TYPE)


def _may_scrape() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    offered = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    for allowed in current_app.config["METRICS_ALLOWED_IPS"].split(","):
        allowed = allowed.strip()
        try:
            if allowed and address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            current_app.logger.warning("METRICS_ALLOWED_IPS: %r is not an address", allowed)
    return False
