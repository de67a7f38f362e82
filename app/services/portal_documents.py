"""The PDFs the portal makes: the citizen's message as a letter (the registered letter's first
document) and the acknowledgement receipt, sealed by the administration and e-mailed.

The receipt is made after the registration commits (sealing takes a time-stamp: not inside the
register's lock). The plain tracking code waits on the submission until its receipt is stored;
the worker makes any receipt a crash left unmade (``issue_pending_receipts``).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask_babel import force_locale
from flask_babel import gettext as _
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.intake import IngestedFile
from app.files.store import FileStore
from app.models import (
    Letter,
    Organisation,
    OutgoingEmail,
    PortalRequestType,
    PortalSubmission,
    SubmissionStatus,
)
from app.reports.receipt_pdf import ReceiptContent, render_receipt_pdf
from app.reports.reply_pdf import render_reply_pdf
from app.services import signatures
from app.timezones import to_local

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceiptSettings:
    base_url: str
    signatures: signatures.SignatureSettings

    @classmethod
    def from_config(cls, config) -> ReceiptSettings:
        return cls(
            base_url=config["BASE_URL"].rstrip("/"),
            signatures=signatures.SignatureSettings.from_config(config),
        )

    def tracking_url(self, number: str) -> str:
        return f"{self.base_url}/portal/track?{urlencode({'number': number})}"


def language_of(locale: str) -> str:
    return locale if locale in ("ar", "fr", "en") else "fr"


# -- the citizen's message ---------------------------------------------------------------------


def message_document(
    store: FileStore,
    *,
    organisation: Organisation,
    request_type: PortalRequestType,
    locale: str,
    sender_lines: list[str],
    subject: str,
    message: str,
    title: str,
) -> IngestedFile:
    """The message typed on the portal as a PDF letter addressed to the administration, stored
    (before any registration) so it is read, indexed and signed like a scanned letter."""
    language = language_of(locale)
    with force_locale(language):
        pdf = render_reply_pdf(
            organisation=sender_lines[0],
            department="\n".join(line for line in sender_lines[1:] if line),
            number=_("Sent through the e-counter"),
            place_and_date=datetime.now(UTC).date().isoformat(),
            recipient_lines=[organisation.name(language)],
            subject_label=_("Subject:"),
            subject=subject,
            reference_line=_("Request: %(type)s", type=request_type.name(language)),
            body=message,
            signature_lines=[sender_lines[0]],
            rtl=language == "ar",
            lang=language,
        )
    sha = store.put_bytes(pdf)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    return IngestedFile(sha, len(pdf), "application/pdf", title, sha, pages, frozenset())


# -- the receipt -------------------------------------------------------------------------------


def receipt_filename(letter: Letter) -> str:
    return f"receipt-{letter.number.replace('/', '-')}.pdf"


def issue_receipt(
    session: Session, submission: PortalSubmission, store: FileStore, settings: ReceiptSettings
) -> str | None:
    """Make, seal and store the receipt, and queue it by e-mail; returns its SHA-256. Once made
    it is never made again (the plain code is forgotten then); None if it cannot be made now."""
    if submission.receipt_sha256 is not None:
        return submission.receipt_sha256
    code = submission.pending_code
    letter = submission.letter
    if code is None or letter is None:
        return None
    organisation = session.get(Organisation, submission.organisation_id)
    language = language_of(submission.locale)
    with force_locale(language):
        content = _receipt_content(submission, letter, organisation, code, language, settings)
        email_subject = _(
            "Your request %(number)s: acknowledgement of receipt", number=letter.number
        )
        email_body = _receipt_email(submission, letter, organisation, code, language, settings)
    pdf = signatures.seal(session, organisation, render_receipt_pdf(content), settings.signatures)
    sha = store.put_bytes(pdf)  # written before the row naming it commits
    with write_transaction(session):
        session.refresh(submission, with_for_update=True)
        if submission.receipt_sha256 is not None:  # made meanwhile by another request
            return submission.receipt_sha256
        submission.receipt_sha256 = sha
        submission.pending_code = None
        if submission.email:
            session.add(
                OutgoingEmail(
                    organisation_id=organisation.id,
                    to_address=submission.email,
                    subject=email_subject,
                    body=email_body,
                    attachment_sha256=sha,
                    attachment_name=receipt_filename(letter),
                )
            )
    return sha


def _receipt_waits():
    return select(PortalSubmission).where(
        PortalSubmission.status == SubmissionStatus.REGISTERED,
        PortalSubmission.receipt_sha256.is_(None),
        PortalSubmission.pending_code.is_not(None),
    )


def has_pending_receipts(session: Session) -> bool:
    return session.scalar(_receipt_waits().limit(1)) is not None


def issue_pending_receipts(session: Session, store: FileStore, settings: ReceiptSettings) -> int:
    """The worker's round: receipts a crash or a failed seal left unmade."""
    waiting = session.scalars(_receipt_waits().order_by(PortalSubmission.id).limit(50)).all()
    made = 0
    for submission in waiting:
        try:
            made += issue_receipt(session, submission, store, settings) is not None
        except Exception:  # one bad receipt must not stop the others
            log.exception("receipt of submission %s could not be made", submission.id)
            session.rollback()
    return made


def _local_moment(letter: Letter, organisation: Organisation) -> str:
    return to_local(letter.registered_at, organisation.timezone).strftime("%Y-%m-%d %H:%M")


def _deadline_text(letter: Letter) -> str:
    letter_type = letter.letter_type
    if letter.due_on is None or letter_type is None or not letter_type.deadline_days:
        return _("No legal deadline applies to this request.")
    if letter_type.deadline_unit == "working":
        days = _("%(n)s working days", n=letter_type.deadline_days)
    else:
        days = _("%(n)s days", n=letter_type.deadline_days)
    return _("%(days)s: answer due by %(date)s", days=days, date=letter.due_on.isoformat())


def _receipt_content(
    submission: PortalSubmission,
    letter: Letter,
    organisation: Organisation,
    code: str,
    language: str,
    settings: ReceiptSettings,
) -> ReceiptContent:
    submitter = submission.name
    if submission.national_id:
        submitter = f"{submitter} ({submission.national_id})"
    attachments = [(item["display_name"], item["original_sha256"]) for item in submission.files]
    return ReceiptContent(
        rtl=language == "ar",
        organisation=organisation.name(language),
        title=_("Acknowledgement of receipt"),
        fields=[
            (_("Registry number"), letter.number),
            (_("Registered on"), _local_moment(letter, organisation)),
            (_("Addressed to"), organisation.name(language)),
            (_("Request type"), submission.request_type.name(language)),
            (_("Subject"), letter.subject),
            (_("Submitted by"), submitter),
            (_("Legal deadline"), _deadline_text(letter)),
        ],
        attachments_title=_("Documents received (SHA-256 fingerprint)"),
        attachments=attachments,
        no_attachments=_("No document."),
        tracking_label=_("Tracking code"),
        tracking_code=code,
        qr_url=settings.tracking_url(letter.number),
        qr_caption=_("Follow your request"),
        note=_(
            "This receipt is sealed electronically by %(organisation)s: anyone can check the seal "
            "by uploading this PDF at %(verify)s. Keep the tracking code secret: with the "
            "registry number it lets you follow your request at %(track)s.",
            organisation=organisation.name(language),
            verify=f"{settings.base_url}/verify",
            track=f"{settings.base_url}/portal/track",
        ),
    )


def _receipt_email(
    submission: PortalSubmission,
    letter: Letter,
    organisation: Organisation,
    code: str,
    language: str,
    settings: ReceiptSettings,
) -> str:
    return "\n".join(
        [
            _(
                "Your request was registered by %(organisation)s under number %(number)s "
                "on %(moment)s.",
                organisation=organisation.name(language),
                number=letter.number,
                moment=_local_moment(letter, organisation),
            ),
            "",
            _("Subject: %(subject)s", subject=letter.subject),
            _("Tracking code: %(code)s", code=code),
            _deadline_text(letter),
            "",
            _("Follow your request: %(url)s", url=settings.tracking_url(letter.number)),
            _("The sealed acknowledgement of receipt is attached."),
        ]
    )
