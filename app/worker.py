"""The background worker: sends the e-mail outbox and runs the periodic checks (deadlines,
revocation lists, archive time-stamps of signed documents).

Everything it does is recorded in the database first (the outbox rows, the notifications), so a
crash or a restart loses nothing: unsent e-mails are simply sent on the next round.
"""

from __future__ import annotations

import logging
import smtplib
import time
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.extensions import db
from app.files.store import FileStore, FileStoreError
from app.models import OutgoingEmail
from app.models.base import utcnow
from app.services import (
    dashboard_facts,
    health,
    portal_documents,
    reminders,
    search_index,
    signatures,
    webhook_delivery,
)

log = logging.getLogger("diwan.worker")

MAX_ATTEMPTS = 10
BATCH = 50


def _due_emails(now: datetime):
    return select(OutgoingEmail.id).where(
        OutgoingEmail.sent_at.is_(None),
        OutgoingEmail.next_attempt_at <= now,
        OutgoingEmail.attempts < MAX_ATTEMPTS,
    )


def send_pending_emails(session: Session, config, now: datetime | None = None) -> int:
    """Send what is due; on failure record the error and retry later with growing delays.
    Each e-mail is claimed first (see `_claim_email`), so two workers never both send it."""
    if not config["SMTP_HOST"]:
        return 0
    now = now or utcnow()
    ids = list(session.scalars(_due_emails(now).order_by(OutgoingEmail.id).limit(BATCH)))
    session.commit()  # end the read before any write lock
    sent = 0
    for email_id in ids:
        lease = _claim_email(session, email_id, now, config)
        if lease is not None:
            sent += _send_claimed(session, config, email_id, lease, now)
    return sent


def _claim_email(session: Session, email_id: int, now: datetime, config) -> datetime | None:
    """Take the e-mail for one send by moving its next attempt past the longest a send can
    take (a lease), committed before the SMTP call; None when another worker has it. A worker
    that dies mid-send leaves it to be sent again when the lease ends (the Message-ID stays)."""
    # Connect, STARTTLS, login and the message each get the timeout.
    lease = now + timedelta(seconds=config["SMTP_TIMEOUT_S"] * 4 + 60)
    with write_transaction(session):
        claimed = session.execute(
            update(OutgoingEmail)
            .where(
                OutgoingEmail.id == email_id,
                OutgoingEmail.sent_at.is_(None),
                OutgoingEmail.next_attempt_at <= now,
                OutgoingEmail.attempts < MAX_ATTEMPTS,
            )
            .values(next_attempt_at=lease)
            .execution_options(synchronize_session=False)
        ).rowcount
    return lease if claimed == 1 else None


def _send_claimed(session: Session, config, email_id: int, lease: datetime, now: datetime) -> int:
    email = session.get(OutgoingEmail, email_id, populate_existing=True)
    to_address = email.to_address
    try:
        message = _message(config, email)
        session.commit()  # no transaction stays open while the SMTP server answers
        _send(config, message)
    except (OSError, smtplib.SMTPException, FileStoreError) as error:
        failure = f"{type(error).__name__}: {error}"[:2000]
        log.warning("e-mail %s to %s failed: %s", email_id, to_address, error)
    else:
        failure = None
    with write_transaction(session):
        email = session.get(OutgoingEmail, email_id, populate_existing=True)
        if email.sent_at is not None or email.next_attempt_at != lease:
            return 0  # the lease ran out and another worker took over: it decides
        email.attempts += 1
        if failure is None:
            email.sent_at = utcnow()
        else:
            email.last_error = failure
            email.next_attempt_at = now + timedelta(minutes=2**email.attempts)
    return 1 if failure is None else 0


def _message(config, email: OutgoingEmail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config["SMTP_FROM"]
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Message-ID"] = f"<outbox-{email.id}@diwan>"  # the same on a retry
    message.set_content(email.body)
    if email.attachment_sha256:
        pdf = FileStore(Path(config["FILE_STORE"])).open_verified(email.attachment_sha256)
        message.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=email.attachment_name
        )
    return message


def _send(config, message: EmailMessage) -> None:
    with smtplib.SMTP(
        config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT_S"]
    ) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        smtp.send_message(message)


def _signature_upkeep(app: Flask) -> dict:
    """Fresh CRLs, and new archive time-stamps (B-LTA) before the old ones' certificates expire."""
    settings = signatures.SignatureSettings.from_config(app.config)
    report = {"crls_issued": signatures.refresh_revocation_lists(db.session, settings)}
    if settings.archive_timestamps:
        store = FileStore(Path(app.config["FILE_STORE"]))
        report["timestamps_renewed"] = signatures.renew_archive_timestamps(
            db.session, store=store, settings=settings
        )
    return report


def _index_changes(app: Flask, periodic: bool) -> int:
    """The search index follows the outbox (the worker is the index's only writer). An index
    built with another analysis version or layout, or new (never filled from the database: an
    upgrade, a lost index folder), is rebuilt from the database first; the
    periodic round also merges the small segments the batches left."""
    settings = search_index.SearchSettings.from_config(app.config)
    store = FileStore(Path(app.config["FILE_STORE"]))
    backend = search_index.open_index(settings)
    try:
        total = 0
        if search_index.needs_rebuild(backend):
            log.info("search index new, incomplete or of another analysis: rebuilding it")
            total += search_index.rebuild_for_worker(db.session, backend, store, settings)
        while indexed := search_index.drain_outbox(db.session, backend, store, settings):
            total += indexed
        if periodic and hasattr(backend, "merge"):
            backend.merge()
        return total
    finally:
        backend.close()


def _sweep_staging(app: Flask) -> int:
    """Files of uploads never finished (a crash, a dropped connection) left in the file store's
    staging area; only the staging area is looked at, never the stored files."""
    store = FileStore(Path(app.config["FILE_STORE"]))
    removed = store.purge_staging(older_than_s=app.config["STAGING_MAX_AGE_HOURS"] * 3600)
    if removed:
        log.info("removed %d unfinished upload(s) from the staging area", removed)
    return removed


def _portal_receipts(app: Flask) -> int:
    """Receipts of portal requests that a crash or a failed seal left unmade."""
    store = FileStore(Path(app.config["FILE_STORE"]))
    settings = portal_documents.ReceiptSettings.from_config(app.config)
    return portal_documents.issue_pending_receipts(db.session, store, settings)


def _webhooks(app: Flask) -> int:
    """Webhook deliveries that are due (first attempts and retries)."""
    return webhook_delivery.deliver_due(db.session, app.config)


def _refresh_facts() -> int:
    """The dashboard facts follow their outbox, written with every change to a letter (a letter
    change also queues it for the search index, which is what wakes the worker)."""
    total = 0
    while refreshed := dashboard_facts.drain_outbox(db.session):
        total += refreshed
    return total


def run_once(app: Flask, today: date | None = None, check_deadlines: bool = True) -> dict:
    with app.app_context():
        report = {}
        if check_deadlines:
            settings = reminders.ReminderSettings.from_config(app.config)
            result = reminders.check_deadlines(db.session, today or date.today(), settings)
            report["notifications"] = result.notifications
            report["emails_queued"] = result.emails
            report.update(_signature_upkeep(app))
            report["staging_files_removed"] = _sweep_staging(app)
        report["receipts_made"] = _portal_receipts(app)
        report["emails_sent"] = send_pending_emails(db.session, app.config)
        report["webhooks_delivered"] = _webhooks(app)
        report["letters_indexed"] = _index_changes(app, periodic=check_deadlines)
        report["facts_refreshed"] = _refresh_facts()
        health.beat(db.session, health.worker_name(), report)  # /readyz: the worker is alive
        db.session.remove()
        return report


def run_forever(app: Flask) -> None:  # pragma: no cover - a loop; run_once is what is tested
    last_check = 0.0
    while True:
        check = time.monotonic() - last_check >= app.config["DEADLINE_CHECK_INTERVAL_S"]
        try:
            report = run_once(app, check_deadlines=check)
        except Exception:
            # The outbox row that failed is still there: waking on it would retry (and log)
            # twice a second, so a failed round waits the whole poll interval.
            log.exception("worker round failed; trying again")
            _beat_failed(app)
            time.sleep(app.config["WORKER_POLL_S"])
            continue
        else:
            if check:
                last_check = time.monotonic()
            if any(report.values()):
                log.info("worker round: %s", report)
        wait_for_work(app, app.config["WORKER_POLL_S"])


def _beat_failed(app: Flask) -> None:
    """Count the failed round on the heartbeat (unless the database is what failed)."""
    with app.app_context():
        try:
            health.beat(db.session, health.worker_name(), failed=True)
        except Exception:
            log.warning("could not record the failed round on the worker's heartbeat")
        finally:
            db.session.remove()


def _email_due(session: Session) -> bool:
    """An e-mail waits (a portal confirmation link should not wait a whole poll interval)."""
    return session.scalar(_due_emails(utcnow()).limit(1)) is not None


def wait_for_work(app: Flask, seconds: float) -> bool:
    """Sleep up to `seconds`, waking as soon as a change waits for the search index, so a new
    letter is searchable within about a second rather than a whole poll interval. True if woken."""
    deadline = time.monotonic() + seconds
    step = app.config["SEARCH_WAKE_S"]
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(step, left))
        with app.app_context():
            try:
                if (
                    search_index.has_changes(db.session)
                    or (app.config["SMTP_HOST"] and _email_due(db.session))
                    or webhook_delivery.has_due(db.session)
                ):
                    return True
            finally:
                db.session.remove()
    return False
