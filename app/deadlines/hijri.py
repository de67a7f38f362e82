"""The Hijri date beside the Gregorian one, for letters and registers.

Conversion uses `hijridate <https://pypi.org/project/hijridate/>`_ (the maintained successor of
``hijri-converter``), which implements the Umm al-Qura calendar of Saudi Arabia for 1343-1500 AH
(1 August 1924 - 16 November 2077). Umm al-Qura is an *astronomical* calendar, computed in
advance. Morocco and Algeria start each month by moon sighting, announced by the Ministry of
Habous and Islamic Affairs and by the Ministry of Religious Affairs and Wakfs respectively, so the
official Hijri date can differ from this one by a day (most often one day later in Morocco). Use
it as an indication beside the Gregorian date, never as the legally binding date.

Month names follow the usual Maghreb spellings (French transliteration as in "Joumada al-oula");
digits are Western Arabic digits (0-9), as used in Morocco and Algeria, also in Arabic text.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from hijridate import Gregorian

__all__ = ["HIJRI_MONTHS", "HijriDate", "format_hijri", "hijri_month_name", "to_hijri"]


class HijriDate(NamedTuple):
    """A Hijri (Umm al-Qura) date; a plain ``(year, month, day)`` tuple."""

    year: int
    month: int
    day: int


HIJRI_MONTHS: dict[str, tuple[str, ...]] = {
    "ar": (
        "محرم",
        "صفر",
        "ربيع الأول",
        "ربيع الآخر",
        "جمادى الأولى",
        "جمادى الآخرة",
        "رجب",
        "شعبان",
        "رمضان",
        "شوال",
        "ذو القعدة",
        "ذو الحجة",
    ),
    "fr": (
        "Mouharram",
        "Safar",
        "Rabia al-awal",
        "Rabia ath-thani",
        "Joumada al-oula",
        "Joumada al-akhira",
        "Rajab",
        "Chaabane",
        "Ramadan",
        "Chaoual",
        "Dhou al-qiada",
        "Dhou al-hijja",
    ),
    "en": (
        "Muharram",
        "Safar",
        "Rabi al-Awwal",
        "Rabi al-Thani",
        "Jumada al-Ula",
        "Jumada al-Akhirah",
        "Rajab",
        "Shaban",
        "Ramadan",
        "Shawwal",
        "Dhu al-Qadah",
        "Dhu al-Hijjah",
    ),
}


def to_hijri(d: date) -> HijriDate:
    """The Umm al-Qura date of ``d`` as ``(year, month, day)``.

    Raises ``ValueError`` outside 1 August 1924 - 16 November 2077.
    """
    try:
        hijri = Gregorian(d.year, d.month, d.day).to_hijri()
    except OverflowError as exc:
        raise ValueError(
            f"{d} is outside the Umm al-Qura table (1924-08-01 to 2077-11-16)"
        ) from exc
    return HijriDate(hijri.year, hijri.month, hijri.day)


def hijri_month_name(month: int, language: str = "ar") -> str:
    """The name of Hijri month 1-12 in ``"ar"``, ``"fr"`` or ``"en"`` (others: Arabic)."""
    if not 1 <= month <= 12:
        raise ValueError(f"Hijri months are numbered 1-12, got {month}")
    return HIJRI_MONTHS[_language(language)][month - 1]


def format_hijri(d: date, language: str = "ar") -> str:
    """``d`` as a Hijri date: "13 جمادى الآخرة 1448", "13 Joumada al-akhira 1448", ...

    Day, month name, year, in that order in every language (Arabic text is laid out right to
    left by the renderer). In French the first day of a month is "1er".
    """
    year, month, day = to_hijri(d)
    lang = _language(language)
    day_text = "1er" if lang == "fr" and day == 1 else str(day)
    return f"{day_text} {HIJRI_MONTHS[lang][month - 1]} {year}"


def _language(language: str) -> str:
    base = language.replace("-", "_").split("_", 1)[0].lower()
    return base if base in HIJRI_MONTHS else "ar"
