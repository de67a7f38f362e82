"""Moroccan procedures and their time limits, as data, named in Arabic, French and English.

Access to information: law No. 31-13 (promulgated 22 February 2018)
    The law counts in *working days* expressly ("أيام عمل" / "jours ouvrables"): an answer within
    20 working days of receipt, which may be extended once by the same length (the requester is
    to be told within the first 20 days); in urgent cases (information needed to protect a
    person's life, safety or freedom) an answer within 3 working days. The urgent track's own
    extension (+3 working days, once) is as specified for Diwan; we could not check it against
    the official text, nor whether the articles are numbered 16-17 (secondary sources differ).
    The law has no provision stopping the clock while the requester completes the request, as
    far as we know, so the rule is not pausable.

Complaints: decree No. 2-17-265 (2017) on the reception of users' observations, proposals and
    complaints (chikaya.ma)
    Acknowledgement within 15 days, answer within 60 days of receipt. We read both as *calendar*
    days: the decree says "days" (يوما / jours) without qualification, whereas law No. 31-13,
    drafted in the same years, says "working days" when it means them, and a time limit stated
    in plain days is ordinarily read as calendar days. A limit that ends on a weekend
    day or a holiday moves to the next working day (``roll_to_working_day``). Caveat: we could
    not consult the decree's official text while writing this; have a jurist confirm both the
    figures and the reading. Not pausable either, for the same reason as above.

Ordinary letter: no legal basis
    30 calendar days is an internal service standard, not a legal time limit: organisations
    should set their own. Pausable, since an internal standard can wait for the citizen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .rules import DeadlineRule

__all__ = [
    "ACCESS_TO_INFORMATION",
    "COMPLAINT",
    "PLAIN_LETTER",
    "PROCEDURES",
    "Procedure",
    "procedure",
    "procedures_for",
]


@dataclass(frozen=True)
class Procedure:
    """A procedure with its deadline rule and trilingual names.

    Attributes:
        code: stable identifier, safe to store in the database.
        country: ISO code of the country whose law sets the rule, ``None`` for any country.
        rule: the deadline rule.
        name_ar, name_fr, name_en: the procedure's name.
        basis_ar, basis_fr, basis_en: the legal text, ``None`` when there is none.
    """

    code: str
    country: str | None
    rule: DeadlineRule
    name_ar: str
    name_fr: str
    name_en: str
    basis_ar: str | None = None
    basis_fr: str | None = None
    basis_en: str | None = None

    def name(self, language: str) -> str:
        """The name in ``language`` (``"ar"``, ``"fr"``, ``"en"``; others get French)."""
        return _pick(language, self.name_ar, self.name_fr, self.name_en)

    def legal_basis(self, language: str) -> str | None:
        """The legal text in ``language``, or ``None`` when the rule has no legal basis."""
        if self.basis_fr is None:
            return None
        return _pick(language, self.basis_ar, self.basis_fr, self.basis_en)


def _pick(language: str, ar: str | None, fr: str, en: str | None) -> str:
    base = language.replace("-", "_").split("_", 1)[0].lower()
    chosen = {"ar": ar, "en": en}.get(base)
    return chosen if chosen is not None else fr


ACCESS_TO_INFORMATION = Procedure(
    code="ma.access_to_information",
    country="MA",
    rule=DeadlineRule(
        days=20,
        unit="working",
        extension_days=20,
        max_extensions=1,
        pausable=False,
        urgent_days=3,
        urgent_extension_days=3,
    ),
    name_ar="طلب الحصول على المعلومات",
    name_fr="Demande d'accès à l'information",
    name_en="Request for access to information",
    basis_ar="القانون رقم 31.13 المتعلق بالحق في الحصول على المعلومات",
    basis_fr="Loi n° 31-13 relative au droit d'accès à l'information",
    basis_en="Law No. 31-13 on the right of access to information",
)

COMPLAINT = Procedure(
    code="ma.complaint",
    country="MA",
    rule=DeadlineRule(
        days=60,
        unit="calendar",
        acknowledge_days=15,
        pausable=False,
        roll_to_working_day=True,
    ),
    name_ar="شكاية مرتفق",
    name_fr="Réclamation d'usager",
    name_en="User complaint",
    basis_ar=(
        "المرسوم رقم 2.17.265 بتحديد كيفيات تلقي ملاحظات المرتفقين واقتراحاتهم وتظلماتهم"
        " وتتبعها ومعالجتها"
    ),
    basis_fr=(
        "Décret n° 2-17-265 fixant les modalités de réception des observations et propositions"
        " des usagers, du suivi et du traitement de leurs réclamations"
    ),
    basis_en=(
        "Decree No. 2-17-265 on receiving users' observations and proposals and following up"
        " and handling their complaints"
    ),
)

PLAIN_LETTER = Procedure(
    code="letter",
    country=None,
    rule=DeadlineRule(days=30, unit="calendar", pausable=True, roll_to_working_day=True),
    name_ar="مراسلة عادية",
    name_fr="Courrier ordinaire",
    name_en="Ordinary letter",
)

#: Every procedure by code.
PROCEDURES: Mapping[str, Procedure] = MappingProxyType(
    {p.code: p for p in (ACCESS_TO_INFORMATION, COMPLAINT, PLAIN_LETTER)}
)


def procedure(code: str) -> Procedure:
    """The procedure with ``code``; ``KeyError`` if there is none."""
    return PROCEDURES[code]


def procedures_for(country: str) -> list[Procedure]:
    """The procedures that apply in ``country``: its own and the country-neutral ones."""
    code = country.upper()
    return [p for p in PROCEDURES.values() if p.country in (code, None)]
