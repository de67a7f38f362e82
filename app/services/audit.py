"""Append-only audit trail, one SHA-256 hash chain per organisation.

Each event's hash covers its content and the previous event's hash, so editing or removing any
event breaks every link after it; the head row records the last link, so removing the newest
events is caught too. Appending updates the head row first, which serialises appends per
organisation inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import (
    Assignment,
    AuditEvent,
    AuditHead,
    FactOutbox,
    Letter,
    SearchOutbox,
    User,
)
from app.models.base import utcnow
from app.services import webhooks
from app.services.actor import Actor
from app.services.dialect import insert_ignore

GENESIS = "0" * 64


def _canonical(value: Any) -> Any:
    """JSON-normal form (dates become strings) so the hash is the same after a round trip."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def event_hash(event: AuditEvent) -> str:
    body = {
        "organisation_id": event.organisation_id,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "remote_addr": event.remote_addr,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "letter_id": event.letter_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
    }
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _claim_next_seq(session: Session, organisation_id: int) -> tuple[int, str]:
    stmt = (
        update(AuditHead)
        .where(AuditHead.organisation_id == organisation_id)
        .values(last_seq=AuditHead.last_seq + 1)
        .returning(AuditHead.last_seq, AuditHead.last_hash)
        .execution_options(synchronize_session=False)
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        insert_ignore(
            session, AuditHead, organisation_id=organisation_id, last_seq=0, last_hash=GENESIS
        )
        row = session.execute(stmt).one()
    return row[0], row[1]


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    organisation_id: int,
    object_type: str,
    object_id: int | None = None,
    letter_id: int | None = None,
    data: dict | None = None,
) -> AuditEvent:
    """Append one event to the organisation's chain, in the caller's transaction.

    A step done for an absent colleague (a delegation) names them in data["for"]."""
    data = dict(data or {})
    on_behalf_of = _on_behalf_of(session, actor, object_type, object_id, letter_id)
    if on_behalf_of is not None:
        data["for"] = {"id": on_behalf_of.id, "name": on_behalf_of.full_name}
    seq, prev_hash = _claim_next_seq(session, organisation_id)
    event = AuditEvent(
        organisation_id=organisation_id,
        seq=seq,
        occurred_at=utcnow(),
        actor_id=actor.user.id if actor else None,
        actor_name=actor.user.full_name if actor else "system",
        remote_addr=actor.remote_addr if actor else "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        letter_id=letter_id,
        data=_canonical(data),
        prev_hash=prev_hash,
    )
    event.hash = event_hash(event)
    session.add(event)
    if letter_id is not None:
        # The search index follows every change to a letter, through the same transaction.
        session.add(
            SearchOutbox(organisation_id=organisation_id, letter_id=letter_id, reason=action)
        )
        session.add(FactOutbox(letter_id=letter_id))  # and so do the dashboard facts
    session.execute(
        update(AuditHead)
        .where(AuditHead.organisation_id == organisation_id)
        .values(last_hash=event.hash)
        .execution_options(synchronize_session=False)
    )
    # Webhooks the organisation subscribed to, written in the change's own transaction.
    webhooks.enqueue_for_event(session, event)
    return event


def _on_behalf_of(
    session: Session,
    actor: Actor | None,
    object_type: str,
    object_id: int | None,
    letter_id: int | None,
) -> User | None:
    """The actor's own word, else, for a step on a letter, whose rights it took."""
    if actor is None or actor.on_behalf_of is not None or letter_id is None:
        return actor.on_behalf_of if actor else None
    # Imported here: permissions reads the delegations, whose service records events.
    from app.permissions import acting_for

    letter = session.get(Letter, letter_id)
    assignment = session.get(Assignment, object_id) if object_type == "assignment" else None
    return acting_for(actor.user, letter, assignment) if letter is not None else None


def record_on_letter(
    session: Session, actor: Actor | None, letter, action: str, data: dict | None = None
) -> AuditEvent:
    """An event about the letter itself, shown in its history."""
    return record(
        session,
        actor,
        action,
        organisation_id=letter.organisation_id,
        object_type="letter",
        object_id=letter.id,
        letter_id=letter.id,
        data=data,
    )


@dataclass(frozen=True)
class ChainReport:
    organisation_id: int
    events: int
    problems: list[str]
    # For each event asked for in `hashes_at`: its hash recomputed from its content, or None when
    # the chain is already broken at or before it (events that are missing have no entry).
    hashes: dict[int, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    session: Session, organisation_id: int, *, hashes_at: Collection[int] = ()
) -> ChainReport:
    """Walk the chain from the first event and report every broken link; also give the
    recomputed hash of the events in `hashes_at` (what their time-stamps must cover)."""
    problems: list[str] = []
    hashes: dict[int, str | None] = {}
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for event in _events(session, organisation_id):
        count += 1
        if event.seq != expected_seq:
            problems.append(f"event {expected_seq}..{event.seq - 1} missing")
        if event.prev_hash != prev_hash:
            problems.append(f"event {event.seq}: does not link to the event before it")
        computed = event_hash(event)
        if computed != event.hash:
            problems.append(f"event {event.seq}: content does not match its hash")
        if event.seq in hashes_at:
            hashes[event.seq] = None if problems else computed
        expected_seq, prev_hash = event.seq + 1, event.hash
    head = session.get(AuditHead, organisation_id)
    last_seq = head.last_seq if head else 0
    if last_seq != expected_seq - 1 or (head and head.last_hash != prev_hash and count):
        problems.append(f"chain ends at event {expected_seq - 1} but the head says {last_seq}")
    return ChainReport(organisation_id, count, problems, hashes)


def _events(session: Session, organisation_id: int) -> Iterator[AuditEvent]:
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.organisation_id == organisation_id)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=1000)
    )
    yield from session.scalars(stmt)


def letter_history(session: Session, letter_id: int) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.letter_id == letter_id).order_by(AuditEvent.seq)
    return list(session.scalars(stmt))
