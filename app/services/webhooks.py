"""Webhooks: an administration's subscriptions to letter events, signed with HMAC-SHA256.

`enqueue_for_event` is called by audit.record, so a delivery is written in the transaction of
the change it reports: a change that rolls back sends nothing, a change that commits is sent at
least once by the worker (`webhook_delivery.deliver_due`); receivers dedupe on Diwan-Delivery.
The payload is thin: the letter's id, number, register, status and confidentiality, never its
subject or correspondent; the receiver reads the rest through the API under its token's rights.
The secret is shown once, stored encrypted under a key derived from SECRET_KEY. See
docs/webhooks.md for the payload and the signature.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import AuditEvent, Letter, Organisation, Outcome
from app.models.api import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from app.models.base import utcnow
from app.services import audit, sealing, webhook_addresses
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError

EVENTS = ("letter.registered", "letter.routed", "letter.answered", "letter.closed")
MAX_URL_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 200
PAGE_SIZE = 50


@dataclass(frozen=True)
class WebhookSettings:
    secret_key: str  # the installation's SECRET_KEY: subscription secrets are sealed under it
    timeout_s: float
    max_attempts: int
    lease_margin_s: float = 60  # JOB_LEASE_S: added to the timeouts for a claim's length
    user_agent: str = "Diwan-Webhooks/1"
    # Private networks receivers may be in (WEBHOOK_ALLOWED_NETWORKS); public addresses always.
    allowed_networks: tuple[webhook_addresses.Network, ...] = ()

    @classmethod
    def from_config(cls, config) -> WebhookSettings:
        return cls(
            secret_key=config["SECRET_KEY"],
            timeout_s=float(config["WEBHOOK_TIMEOUT_S"]),
            max_attempts=max(1, int(config["WEBHOOK_MAX_ATTEMPTS"])),
            lease_margin_s=float(config["JOB_LEASE_S"]),
            allowed_networks=webhook_addresses.parse_networks(config["WEBHOOK_ALLOWED_NETWORKS"]),
        )


# --- Events and payloads --------------------------------------------------------------------


def events_for(action: str, data: dict) -> tuple[str, ...]:
    """The webhook events an audit action stands for. A letter closed as answered (by a reply's
    dispatch or by hand) is both answered and closed."""
    if action in ("letter.registered", "letter.routed"):
        return (action,)
    if action == "letter.closed":
        if data.get("outcome") == Outcome.ANSWERED:
            return ("letter.answered", "letter.closed")
        return ("letter.closed",)
    return ()


def enqueue_for_event(session: Session, event: AuditEvent) -> None:
    """One delivery per (event, subscription) wanting it, in the caller's transaction. Costs
    one indexed query when the action is an event and nothing otherwise."""
    names = events_for(event.action, event.data or {})
    if not names or event.letter_id is None:
        return
    subscriptions = [
        subscription
        for subscription in session.scalars(
            select(WebhookSubscription).where(
                WebhookSubscription.organisation_id == event.organisation_id,
                WebhookSubscription.active.is_(True),
            )
        )
        if set(subscription.events) & set(names)
    ]
    if not subscriptions:
        return
    letter = session.get(Letter, event.letter_id)
    organisation = session.get(Organisation, event.organisation_id)
    for name in names:
        for subscription in subscriptions:
            if name not in subscription.events:
                continue
            event_id = str(uuid.uuid4())
            session.add(
                WebhookDelivery(
                    organisation_id=event.organisation_id,
                    subscription_id=subscription.id,
                    event=name,
                    event_id=event_id,
                    letter_id=letter.id,
                    payload=_payload(session, event_id, name, event, organisation, letter),
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    next_attempt_at=event.occurred_at,
                )
            )


def _payload(session, event_id, name, event, organisation, letter) -> dict:
    """What leaves Diwan: identifiers and states only (a confidential letter's subject never)."""
    body = {
        "id": event_id,
        "type": name,
        "occurred_at": event.occurred_at.isoformat(timespec="seconds") + "Z",
        "organisation": organisation.code,
        "letter": {
            "id": letter.id,
            "number": letter.number,
            "register": letter.register,
            "status": str(letter.status),
            "confidential": bool(letter.confidential),
            "api_url": f"/api/v1/letters/{letter.id}",
        },
    }
    if name in ("letter.answered", "letter.closed"):
        body["letter"]["outcome"] = letter.outcome
    reply_number = (event.data or {}).get("reply")
    if name == "letter.answered" and reply_number:
        reply = session.scalar(
            select(Letter).where(
                Letter.organisation_id == letter.organisation_id, Letter.number == reply_number
            )
        )
        if reply is not None:
            body["reply"] = {
                "id": reply.id,
                "number": reply.number,
                "api_url": f"/api/v1/letters/{reply.id}",
            }
    return body


# --- Secrets --------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# The key HKDF derives from SECRET_KEY for this purpose (the same derivation since the first
# webhook, so nothing needs re-encrypting).
KEY_PURPOSE = "webhook-secrets"


def seal_secret(settings: WebhookSettings, secret: str) -> str:
    return sealing.seal(settings.secret_key, KEY_PURPOSE, secret)


def open_secret(settings: WebhookSettings, sealed: str) -> str:
    """Raises cryptography.fernet.InvalidToken when SECRET_KEY changed since it was sealed."""
    return sealing.unseal(settings.secret_key, KEY_PURPOSE, sealed)


# --- Subscriptions --------------------------------------------------------------------------


def check_url(url: str, settings: WebhookSettings) -> str:
    url = (url or "").strip()
    if not url:
        raise ServiceError(_l("Give the address that receives the events."), "url")
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise ServiceError(_l("This address is not valid."), "url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise ServiceError(_l("This address is not valid."), "url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServiceError(_l("The address must start with https:// or http://."), "url")
    if parts.username or parts.password:
        # It would be stored and shown in clear: the signature is what authenticates Diwan.
        raise ServiceError(_l("The address must not contain a user name or password."), "url")
    if webhook_addresses.check_literal(parts.hostname, settings.allowed_networks):
        raise ServiceError(
            _l(
                "This address is in a private network: the installation must allow that "
                "network (WEBHOOK_ALLOWED_NETWORKS) first."
            ),
            "url",
        )
    return url


def check_events(events) -> list[str]:
    chosen = [name for name in EVENTS if name in set(events or ())]
    if not chosen or len(chosen) != len(set(events)):
        raise ServiceError(_l("Choose at least one event."), "events")
    return chosen


def _require_admin(actor: Actor, subscription: WebhookSubscription | None = None) -> None:
    # Imported here: audit.record imports this module, and permissions imports a service
    # that records events.
    from app import permissions

    if not permissions.can_manage_organisation(actor.user):
        raise NotAllowed(_l("Only an administrator can manage webhooks."))
    if subscription is not None and subscription.organisation_id != actor.organisation_id:
        raise NotAllowed(_l("Only an administrator can manage webhooks."))


def _record(session, actor, subscription, action: str, data: dict | None = None) -> None:
    audit.record(
        session,
        actor,
        action,
        organisation_id=subscription.organisation_id,
        object_type="webhook",
        object_id=subscription.id,
        data={"url": subscription.url, **(data or {})},
    )


def create_subscription(
    session: Session,
    actor: Actor,
    settings: WebhookSettings,
    *,
    url: str,
    events,
    description: str = "",
) -> tuple[WebhookSubscription, str]:
    """The subscription and its secret, to be shown once (only its sealed form is kept)."""
    _require_admin(actor)
    url, events = check_url(url, settings), check_events(events)
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ServiceError(_l("The description is too long."), "description")
    secret = new_secret()
    with write_transaction(session):
        subscription = WebhookSubscription(
            organisation_id=actor.organisation_id,
            url=url,
            description=description,
            events=events,
            secret_encrypted=seal_secret(settings, secret),
            active=True,
            created_by_id=actor.user.id,
        )
        session.add(subscription)
        session.flush()
        _record(session, actor, subscription, "webhook.created", {"events": events})
    return subscription, secret


def set_active(session: Session, actor: Actor, subscription, active: bool) -> None:
    """Deactivated: no new delivery, and pending ones wait until it is reactivated."""
    _require_admin(actor, subscription)
    if subscription.active == active:
        return
    with write_transaction(session):
        subscription.active = active
        action = "webhook.reactivated" if active else "webhook.deactivated"
        _record(session, actor, subscription, action)


def rotate_secret(session: Session, actor: Actor, settings: WebhookSettings, subscription) -> str:
    """A new secret, shown once; every attempt from now on, retries included, is signed with it."""
    _require_admin(actor, subscription)
    secret = new_secret()
    with write_transaction(session):
        subscription.secret_encrypted = seal_secret(settings, secret)
        _record(session, actor, subscription, "webhook.secret_rotated")
    return secret


def retry_delivery(session: Session, actor: Actor, delivery: WebhookDelivery) -> None:
    """A failed delivery gets one more attempt at once (the log keeps the earlier ones)."""
    subscription = delivery.subscription
    _require_admin(actor, subscription)
    if delivery.status != DeliveryStatus.FAILED:
        raise ServiceError(_l("Only a failed delivery can be retried."))
    if not subscription.active:
        raise ServiceError(_l("Reactivate the subscription first."))
    with write_transaction(session):
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = utcnow()
        _record(
            session,
            actor,
            subscription,
            "webhook.delivery_retried",
            {"delivery": delivery.event_id, "event": delivery.event},
        )


# --- Reading --------------------------------------------------------------------------------


def subscriptions_of(session: Session, organisation_id: int) -> list[WebhookSubscription]:
    return list(
        session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.organisation_id == organisation_id)
            .order_by(WebhookSubscription.active.desc(), WebhookSubscription.id)
        )
    )


def deliveries_of(
    session: Session, subscription: WebhookSubscription, before: int | None = None
) -> list[WebhookDelivery]:
    """Newest first, a page at a time (keyset on id)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    return list(session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(PAGE_SIZE)))


def attempts_of(session: Session, deliveries) -> dict[int, list[WebhookAttempt]]:
    ids = [d.id for d in deliveries]
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in ids}
    if ids:
        for attempt in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.id)
        ):
            found[attempt.delivery_id].append(attempt)
    return found


def letter_numbers(session: Session, deliveries) -> dict[int, str]:
    ids = {d.letter_id for d in deliveries if d.letter_id}
    if not ids:
        return {}
    return dict(session.execute(select(Letter.id, Letter.number).where(Letter.id.in_(ids))).all())
