"""The daily register as a CSV or PDF file, in the reader's language."""

from __future__ import annotations

from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.labels import channel_label, register_label, status_label
from app.models import Letter, Organisation, User
from app.permissions import can_view_letter
from app.reports.register_csv import render_register_csv
from app.reports.register_pdf import render_register_pdf
from app.services.errors import ServiceError
from app.services.register_list import RegisterFilter, iter_for_export
from app.timezones import to_local

# A register export is a legal document: refused whole rather than cut. The PDF costs ~1.6 s per
# 1,000 rows on the request path, hence its lower cap.
MAX_ROWS = {"csv": 50_000, "pdf": 5_000}


class ExportTooLarge(ServiceError):
    pass


def _columns() -> list[tuple[str, str, float]]:
    return [
        ("number", _("Number"), 1.3),
        ("registered_at", _("Registered at"), 1.2),
        ("correspondent", _("Correspondent"), 2.0),
        ("subject", _("Subject"), 3.5),
        ("reference", _("Sender's reference"), 1.2),
        ("channel", _("Channel"), 0.9),
        ("status", _("Status"), 0.9),
    ]


def _row(letter: Letter, user: User, timezone: str) -> dict[str, str]:
    visible = can_view_letter(user, letter)
    hidden = _("Confidential")
    return {
        "number": letter.number,
        "registered_at": to_local(letter.registered_at, timezone).strftime("%Y-%m-%d %H:%M"),
        "correspondent": (letter.correspondent.name if letter.correspondent else "")
        if visible
        else hidden,
        "subject": letter.subject if visible else hidden,
        "reference": letter.sender_reference if visible else "",
        "channel": str(channel_label(letter.channel)),
        "status": str(status_label(letter.status)),
    }


def build(
    session: Session,
    user: User,
    organisation: Organisation,
    flt: RegisterFilter,
    locale: str,
    fmt: str,
) -> bytes:
    limit = MAX_ROWS[fmt]
    letters = list(iter_for_export(session, organisation, flt, limit + 1))
    if len(letters) > limit:
        raise ExportTooLarge(
            _l("More than %(n)s letters in this period: choose a shorter period.", n=limit)
        )
    rows = [_row(letter, user, organisation.timezone) for letter in letters]
    columns = _columns()
    if fmt == "csv":
        return render_register_csv([(key, label) for key, label, _w in columns], rows)
    period = _period(flt)
    return render_register_pdf(
        title=f"{organisation.name(locale)} — {register_label(flt.register)}",
        subtitle=period,
        columns=columns,
        rows=rows,
        rtl=locale == "ar",
        footer=ngettext("%(num)d letter", "%(num)d letters", len(rows)),
    )


def _period(flt: RegisterFilter) -> str:
    start = format_date(flt.date_from, "long") if flt.date_from else ""
    end = format_date(flt.date_to, "long") if flt.date_to else ""
    return start if start == end else f"{start} — {end}"
