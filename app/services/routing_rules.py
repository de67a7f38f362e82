"""Routing rules: a route proposed, or applied, when a letter is registered.

A rule names criteria (the letter type, the correspondent, keywords in the subject) and a route
(one department for action, others for copies). The first active rule of the organisation by
(position, id) whose every given criterion matches wins; a rule without criteria never matches.
A rule that applies automatically routes the letter as soon as it is registered, in the name of
the officer who registered it; any other rule only pre-fills the routing form on the letter page.
Rules are never deleted, only deactivated, so the history keeps what routed a letter.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import Contact, Department, Letter, LetterType, RoutingRule
from app.permissions import can_manage_organisation
from app.services import audit, routing
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError

MAX_NAME_LENGTH = 200
MAX_KEYWORDS_LENGTH = 500
# Keywords are stored comma-separated; the Arabic comma and semicolons are accepted on input.
_KEYWORD_SEPARATORS = re.compile(r"[,،;؛\n]")
# Harakat, Quranic marks and the superscript alef: they do not change the word.
_ARABIC_MARKS = re.compile(
    "[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]"
)
_TATWEEL = "\u0640"
_LETTER_FORMS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي"})
_LATIN_ACCENTS = re.compile("[\u0300-\u036f]")

RULE_FIELDS = (
    "name",
    "position",
    "letter_type_id",
    "correspondent_id",
    "keywords",
    "action_department_id",
    "copy_department_ids",
    "apply_automatically",
)


# --- Matching -------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """The form subjects and keywords are compared in: case-folded, without accents or harakat,
    tatweel removed, أ إ آ ٱ as ا, ة as ه, ى as ي (so "الشكاية" contains "شكايه")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _ARABIC_MARKS.sub("", text.replace(_TATWEEL, "")).translate(_LETTER_FORMS)
    # Latin accents only (é → e); Arabic hamza carriers (ؤ ئ) are recomposed unchanged.
    text = _LATIN_ACCENTS.sub("", unicodedata.normalize("NFD", text))
    return " ".join(unicodedata.normalize("NFC", text).split())


def split_keywords(keywords: str) -> list[str]:
    return [k.strip() for k in _KEYWORD_SEPARATORS.split(keywords or "") if k.strip()]


def has_criteria(rule: RoutingRule) -> bool:
    return bool(rule.letter_type_id or rule.correspondent_id or split_keywords(rule.keywords))


def rule_matches(rule: RoutingRule, letter: Letter) -> bool:
    """Every criterion the rule gives holds for the letter (and it gives at least one)."""
    if not has_criteria(rule):
        return False
    if rule.letter_type_id and rule.letter_type_id != letter.letter_type_id:
        return False
    if rule.correspondent_id and rule.correspondent_id != letter.correspondent_id:
        return False
    keywords = [normalise_text(k) for k in split_keywords(rule.keywords)]
    if keywords:
        subject = normalise_text(letter.subject or "")
        return any(keyword and keyword in subject for keyword in keywords)
    return True


def matching_rule(session: Session, letter: Letter) -> RoutingRule | None:
    """The first active rule of the letter's organisation, by (position, id), that matches it."""
    rules = session.scalars(
        select(RoutingRule)
        .where(
            RoutingRule.organisation_id == letter.organisation_id,
            RoutingRule.active.is_(True),
        )
        .order_by(RoutingRule.position, RoutingRule.id)
    )
    return next((rule for rule in rules if rule_matches(rule, letter)), None)


def apply_at_registration(session: Session, actor: Actor, letter: Letter) -> RoutingRule | None:
    """Route a just-registered letter when its matching rule applies automatically.

    Called after the registration committed, by the officer who registered the letter (so the
    routing right holds). Returns the rule that routed it, or None: a rule that only proposes is
    read with ``matching_rule`` when the letter page is shown. A refusal of the routing (e.g. the
    rule's department was closed since) is raised as ServiceError; the letter stays registered.
    """
    rule = matching_rule(session, letter)
    if rule is None or not rule.apply_automatically:
        return None
    if routing.open_action(session, letter) is not None:
        return None
    routing.route_letter(
        session, actor, letter, rule.action_department_id, list(rule.copy_department_ids or [])
    )
    return rule


# --- Managing rules ---------------------------------------------------------------------------


def create_rule(session: Session, actor: Actor, **fields) -> RoutingRule:
    """A new active rule; ``fields`` are those of ``_checked_rule``."""
    _require_admin(actor)
    values = _checked_rule(session, actor, **fields)
    with write_transaction(session):
        rule = RoutingRule(organisation_id=actor.organisation_id, active=True, **values)
        session.add(rule)
        session.flush()
        _record_rule(session, actor, rule, "routing_rule.created", values)
    return rule


def update_rule(session: Session, actor: Actor, rule: RoutingRule, **fields) -> dict:
    """Replace the rule's criteria and route; returns the changes as {field: [old, new]}."""
    _require_admin(actor)
    _require_own_rule(actor, rule)
    values = _checked_rule(session, actor, **fields)
    changes = {
        key: [getattr(rule, key), value]
        for key, value in values.items()
        if getattr(rule, key) != value
    }
    if not changes:
        return {}
    with write_transaction(session):
        for key, (_old, new) in changes.items():
            setattr(rule, key, new)
        _record_rule(session, actor, rule, "routing_rule.updated", {"changes": changes})
    return changes


def deactivate_rule(session: Session, actor: Actor, rule: RoutingRule) -> None:
    """Rules are never deleted: a deactivated rule no longer matches but stays on record."""
    _set_active(session, actor, rule, False)


def reactivate_rule(session: Session, actor: Actor, rule: RoutingRule) -> None:
    _set_active(session, actor, rule, True)


def _set_active(session: Session, actor: Actor, rule: RoutingRule, active: bool) -> None:
    _require_admin(actor)
    _require_own_rule(actor, rule)
    if rule.active == active:
        return
    action = "routing_rule.reactivated" if active else "routing_rule.deactivated"
    with write_transaction(session):
        rule.active = active
        _record_rule(session, actor, rule, action, {"name": rule.name})


def _checked_rule(
    session: Session,
    actor: Actor,
    *,
    name: str,
    action_department_id: int,
    copy_department_ids: list[int] | tuple[int, ...] = (),
    letter_type_id: int | None = None,
    correspondent_id: int | None = None,
    keywords: str = "",
    apply_automatically: bool = False,
    position: int = 0,
) -> dict:
    """The rule's column values, once every reference is known to be the actor's own."""
    name = (name or "").strip()
    if not name:
        raise ServiceError(_l("Give the rule a name."), "name")
    if len(name) > MAX_NAME_LENGTH:
        raise ServiceError(_l("The name is too long."), "name")
    if not isinstance(position, int) or not 0 <= position <= 9999:
        raise ServiceError(_l("The position is a number from 0 to 9999."), "position")
    _department(session, actor, action_department_id, "action_department_id")
    copies = []
    for department_id in copy_department_ids or ():
        _department(session, actor, department_id, "copy_department_ids")
        if department_id != action_department_id and department_id not in copies:
            copies.append(department_id)
    if letter_type_id is not None:
        letter_type = session.get(LetterType, letter_type_id)
        if letter_type is None or letter_type.organisation_id != actor.organisation_id:
            raise ServiceError(_l("Unknown letter type."), "letter_type_id")
    if correspondent_id is not None:
        contact = session.get(Contact, correspondent_id)
        if contact is None or contact.organisation_id != actor.organisation_id:
            raise ServiceError(_l("Unknown correspondent."), "correspondent_id")
    keywords = ", ".join(dict.fromkeys(split_keywords(keywords)))
    if len(keywords) > MAX_KEYWORDS_LENGTH:
        raise ServiceError(_l("Too many keywords."), "keywords")
    if not (letter_type_id or correspondent_id or keywords):
        raise ServiceError(
            _l("Give at least one criterion: a letter type, a correspondent or keywords."),
            "keywords",
        )
    return {
        "name": name,
        "position": position,
        "letter_type_id": letter_type_id,
        "correspondent_id": correspondent_id,
        "keywords": keywords,
        "action_department_id": action_department_id,
        "copy_department_ids": copies,
        "apply_automatically": bool(apply_automatically),
    }


def _department(session: Session, actor: Actor, department_id, field: str) -> Department:
    department = session.get(Department, department_id) if isinstance(department_id, int) else None
    if (
        department is None
        or department.organisation_id != actor.organisation_id
        or not department.active
    ):
        raise ServiceError(_l("Unknown department."), field)
    return department


def _require_own_rule(actor: Actor, rule: RoutingRule) -> None:
    if rule.organisation_id != actor.organisation_id:
        raise NotAllowed(_l("This rule belongs to another organisation."))


def _record_rule(
    session: Session, actor: Actor, rule: RoutingRule, action: str, data: dict
) -> None:
    audit.record(
        session,
        actor,
        action,
        organisation_id=rule.organisation_id,
        object_type="routing_rule",
        object_id=rule.id,
        data=data,
    )


def _require_admin(actor: Actor) -> None:
    if not can_manage_organisation(actor.user):
        raise NotAllowed(_l("Only an administrator can change the organisation's settings."))
