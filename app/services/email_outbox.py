"""The e-mail outbox: rows written in the same transaction as the change they tell about,
sent by the worker. Each e-mail is claimed with a lease before the SMTP call, so two workers
never both send it, and one killed mid-send leaves it to be sent again when the lease ends;
failures are retried with growing delays."""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.store import FileStore, FileStoreError
from app.models import OutgoingEmail
from app.models.base import utcnow

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
    lease = now + timedelta(seconds=config["SMTP_TIMEOUT_S"] * 4 + config["JOB_LEASE_S"])
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


def has_due(session: Session) -> bool:
    """An e-mail waits to be sent."""
    return session.scalar(_due_emails(utcnow()).limit(1)) is not None
