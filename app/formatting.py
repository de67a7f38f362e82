"""Template filters for values shown inside translated sentences."""

from __future__ import annotations

from flask_babel import format_decimal
from flask_babel import gettext as _
from markupsafe import Markup

_ISOLATING_TAGS = {
    "bdi": Markup("<bdi>{}</bdi>"),
    "del": Markup('<del dir="auto">{}</del>'),
    "ins": Markup('<ins dir="auto">{}</ins>'),
}


def bdi(value, tag: str = "bdi") -> Markup:
    """Isolate a value's direction inside a sentence, so a French reason or a Latin file name
    keeps its order in an Arabic line (and the reverse). del/ins also isolate with dir=auto."""
    return _ISOLATING_TAGS[tag].format(value)  # format() escapes the value


def filesize(size: int) -> str:
    if size < 1024 * 1024:
        return _("%(size)s KB", size=format_decimal(size / 1024, format="#,##0.0"))
    return _("%(size)s MB", size=format_decimal(size / 1024 / 1024, format="#,##0.0"))


def approximate(total: int) -> str:
    """An estimated count as people say it: two significant figures (226,160 -> 230,000)."""
    if total >= 100:
        unit = 10 ** (len(str(total)) - 2)
        total = round(total / unit) * unit
    return format_decimal(total)


def hijri(day) -> Markup:
    """The Umm al-Qura date in brackets, for users who chose to see it; nothing otherwise."""
    from flask_babel import get_locale
    from flask_login import current_user

    from app.deadlines import format_hijri

    if day is None or not getattr(current_user, "show_hijri", False):
        return Markup("")
    try:
        text = format_hijri(day, str(get_locale() or "ar"))
    except ValueError:  # outside the Umm al-Qura table
        return Markup("")
    return Markup(' <span class="hijri">({})</span>').format(text)
