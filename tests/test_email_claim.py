"""Two workers draining the e-mail outbox at once send each e-mail exactly once: an e-mail is
claimed (its next attempt moved forward as a lease, committed) before the SMTP call."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.extensions import db
from app.models import OutgoingEmail
from app.models.base import utcnow
from app.services import email_outbox

COUNT = 12


class Inbox:
    """aiosmtpd handler keeping what it receives; slow enough for the workers to overlap, and
    refusing the first `refuse` messages as a full mailbox would."""

    def __init__(self, refuse: int = 0):
        self.messages = []
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        await asyncio.sleep(0.02)
        if self.refuse:
            self.refuse -= 1
            return "452 mailbox full, try later"
        self.messages.append(envelope)
        return "250 OK"

    def message_ids(self) -> Counter:
        return Counter(
            line.split(b":", 1)[1].strip()
            for envelope in self.messages
            for line in envelope.content.splitlines()
            if line.lower().startswith(b"message-id:")
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox(app):
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    yield handler
    controller.stop()


def _queue(count: int) -> list[int]:
    emails = [
        OutgoingEmail(to_address=f"citizen{n}@example.org", subject=f"Reçu {n}", body="Bonjour")
        for n in range(count)
    ]
    db.session.add_all(emails)
    db.session.commit()
    return [email.id for email in emails]


def _round(app, results: list, start: threading.Barrier) -> None:
    with app.app_context():  # its own session, as another worker process would have
        try:
            start.wait()
            results.append(email_outbox.send_pending_emails(db.session, app.config))
        finally:
            db.session.remove()


def test_two_workers_at_once_send_each_email_exactly_once(app, inbox):
    ids = _queue(COUNT)
    results: list[int] = []
    start = threading.Barrier(2)
    threads = [threading.Thread(target=_round, args=(app, results, start)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2 and sum(results) == COUNT
    assert inbox.message_ids() == Counter(f"<outbox-{n}@diwan>".encode() for n in ids)
    db.session.commit()
    emails = db.session.scalars(select(OutgoingEmail)).all()
    assert all(email.sent_at is not None and email.attempts == 1 for email in emails)
    assert email_outbox.send_pending_emails(db.session, app.config) == 0  # nothing left


def test_a_claimed_email_waits_for_its_lease_and_is_sent_once_after_a_crash(app, inbox):
    (email_id,) = _queue(1)
    now = utcnow()
    lease = email_outbox._claim_email(db.session, email_id, now, app.config)  # a worker that died
    assert lease is not None and lease > now
    assert email_outbox._claim_email(db.session, email_id, now, app.config) is None
    assert email_outbox.send_pending_emails(db.session, app.config, now=now) == 0
    assert inbox.messages == []
    assert email_outbox.send_pending_emails(db.session, app.config, now=lease) == 1
    assert email_outbox.send_pending_emails(db.session, app.config, now=lease) == 0
    assert len(inbox.messages) == 1


def test_a_refused_email_is_retried_later(app, inbox):
    inbox.refuse = 1
    (email_id,) = _queue(1)
    now = utcnow()
    assert email_outbox.send_pending_emails(db.session, app.config, now=now) == 0
    email = db.session.get(OutgoingEmail, email_id)
    assert email.attempts == 1 and email.sent_at is None and "452" in email.last_error
    assert email.next_attempt_at == now + timedelta(minutes=2)
    db.session.commit()
    assert (
        email_outbox.send_pending_emails(db.session, app.config, now=now + timedelta(minutes=1))
        == 0
    )
    assert email_outbox.send_pending_emails(db.session, app.config, now=email.next_attempt_at) == 1
    db.session.refresh(email)
    assert email.attempts == 2 and email.sent_at is not None
    assert len(inbox.messages) == 1


def test_a_worker_whose_lease_ran_out_leaves_the_outcome_to_the_next(app, inbox, monkeypatch):
    (email_id,) = _queue(1)
    send = email_outbox._send

    def slow_send(config, message):
        # Meanwhile the lease ended and another worker sent the e-mail.
        with app.app_context():
            other = db.session.get(OutgoingEmail, email_id)
            other.next_attempt_at, other.attempts, other.sent_at = utcnow(), 1, utcnow()
            db.session.commit()
            db.session.remove()
        send(config, message)

    monkeypatch.setattr(email_outbox, "_send", slow_send)
    assert email_outbox.send_pending_emails(db.session, app.config) == 0
    db.session.commit()
    assert db.session.get(OutgoingEmail, email_id).attempts == 1  # not counted twice
