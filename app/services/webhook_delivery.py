"""Sending webhook deliveries (the worker's part): claim, POST, log, retry with backoff.

A delivery is claimed by a conditional UPDATE that pushes its next attempt past the longest a
send can take (a lease), committed before the HTTP call, so two workers never send the same
delivery at once and no transaction stays open while a receiver answers. A worker that dies
mid-send leaves the delivery to be sent again when the lease ends: delivery is at least once,
and receivers dedupe on the Diwan-Delivery header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPException

from cryptography.fernet import InvalidToken
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models.api import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from app.models.base import utcnow
from app.services import webhook_addresses
from app.services.webhooks import WebhookSettings, open_secret

log = logging.getLogger("diwan.webhooks")

# Waits before the 2nd, 3rd ... attempt; the last one repeats if WEBHOOK_MAX_ATTEMPTS asks more.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
BATCH = 50
# A round stops claiming after this long, so slow receivers do not hold up the worker's other
# work (search indexing, e-mail); what is left goes in the next round.
ROUND_BUDGET_S = 30
MAX_ERROR = 500


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Diwan-Signature header: HMAC-SHA256 of "<timestamp>.<body>" under the secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(
        delivery.payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    ).encode()


def _due(now: datetime):
    return (
        select(WebhookDelivery.id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookSubscription.active.is_(True),
        )
    )


def has_due(session: Session) -> bool:
    """A delivery waits (the worker wakes for it instead of sleeping a whole poll interval)."""
    return session.scalar(_due(utcnow()).limit(1)) is not None


def deliver_due(session: Session, config, now: datetime | None = None) -> int:
    """Send what is due; returns how many were delivered."""
    settings = WebhookSettings.from_config(config)
    now = now or utcnow()
    ids = list(session.scalars(_due(now).order_by(WebhookDelivery.next_attempt_at).limit(BATCH)))
    session.commit()  # end the read before any write lock
    delivered, started = 0, time.monotonic()
    for delivery_id in ids:
        if time.monotonic() - started > ROUND_BUDGET_S:
            break
        lease = _claim(session, delivery_id, now, settings)
        if lease is not None:
            delivered += _attempt(session, delivery_id, lease, now, settings)
    return delivered


def _claim(session: Session, delivery_id: int, now: datetime, settings) -> datetime | None:
    """Take the delivery for one send, or None when another worker has it."""
    # Longer than a send can take: connect, send and read each get the timeout.
    lease = now + timedelta(seconds=settings.timeout_s * 3 + settings.lease_margin_s)
    with write_transaction(session):
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=lease)
            .execution_options(synchronize_session=False)
        ).rowcount
    return lease if claimed == 1 else None


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _attempt(session, delivery_id: int, lease: datetime, now: datetime, settings) -> int:
    delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    subscription = session.get(WebhookSubscription, delivery.subscription_id)
    url, event, event_id, body = (
        subscription.url,
        delivery.event,
        delivery.event_id,
        body_of(delivery),
    )
    try:
        secret = open_secret(settings, subscription.secret_encrypted)
    except InvalidToken:
        secret = None
    session.commit()  # no transaction stays open during the HTTP call
    if secret is None:
        outcome = SendResult(None, "the secret cannot be opened: was SECRET_KEY changed?", 0)
    else:
        outcome = post(url, event, event_id, body, secret, settings)
    with write_transaction(session):
        delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                attempted_at=now,
                status_code=outcome.status_code,
                error=outcome.error[:MAX_ERROR],
                duration_ms=outcome.duration_ms,
            )
        )
        if delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at != lease:
            return 0  # the lease ran out and another worker took over: it decides
        delivery.attempts += 1
        if outcome.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
        elif delivery.attempts >= settings.max_attempts:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
    if not outcome.ok:
        log.warning("webhook %s to %s failed: %s", event_id, url, outcome.error)
    return 1 if outcome.ok else 0


def post(url: str, event: str, event_id: str, body: bytes, secret: str, settings) -> SendResult:
    """One POST; never raises for what a receiver or the network can do."""
    if not url.startswith(("http://", "https://")):
        return SendResult(None, "only http and https addresses are allowed", 0)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": settings.user_agent,
            "Diwan-Event": event,
            "Diwan-Delivery": event_id,
            "Diwan-Signature": sign(secret, int(time.time()), body),
        },
    )
    started = time.monotonic()
    try:
        with webhook_addresses.opener(settings.allowed_networks).open(
            request, timeout=settings.timeout_s
        ) as response:
            status, error = response.status, ""
    except urllib.error.HTTPError as answer:
        status, error = answer.code, f"HTTP {answer.code} {answer.reason}{_excerpt(answer)}"
    except urllib.error.URLError as failure:
        reason = failure.reason
        status, error = None, f"{type(reason).__name__}: {reason}"
    except (OSError, HTTPException, ValueError) as failure:  # timeouts are OSError
        status, error = None, f"{type(failure).__name__}: {failure}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return SendResult(status, error, duration_ms)


def _excerpt(answer: urllib.error.HTTPError) -> str:
    try:
        text = answer.read(200).decode("utf-8", "replace").strip()
    except (OSError, HTTPException):
        return ""
    finally:
        answer.close()
    return f": {text}" if text else ""
