"""The reply as an official letter PDF, in the reply's language."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import force_locale, format_date
from flask_babel import gettext as _

from app.models import Department, Letter, Organisation, ReplyDraft, User
from app.reports.reply_pdf import render_reply_pdf


def reply_pdf(
    letter: Letter | None,
    draft: ReplyDraft,
    *,
    incoming: Letter,
    organisation: Organisation,
    department: Department | None,
    signer: User,
) -> bytes:
    """``letter`` is the registered outgoing letter, or None for a preview (no number yet)."""
    language = draft.language if draft.language in ("ar", "fr", "en") else "fr"
    with force_locale(language):
        moment = letter.registered_at if letter else datetime.now(UTC).replace(tzinfo=None)
        correspondent = incoming.correspondent
        recipients = [correspondent.name, correspondent.address] if correspondent else []
        reference = _(
            "Your letter registered under number %(number)s on %(date)s",
            number=incoming.number,
            date=format_date(incoming.registered_at.date(), "long"),
        )
        if incoming.sender_reference:
            reference = f"{reference} ({incoming.sender_reference})"
        return render_reply_pdf(
            organisation=organisation.name(language),
            department=department.name(language) if department else "",
            number=letter.number if letter else _("(number given at dispatch)"),
            place_and_date=format_date(moment.date(), "long"),
            recipient_lines=[line for line in recipients if line],
            subject_label=_("Subject:"),
            subject=draft.subject,
            reference_line=_("Reference: %(reference)s", reference=reference),
            body=draft.body,
            signature_lines=[line for line in (signer.full_name, signer.title) if line],
            rtl=language == "ar",
            lang=language,
        )
