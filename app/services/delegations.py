"""Absence and delegation: a user names a substitute for a range of days, for every letter type
or for one. While the delegation is in force the substitute sees and does the absent user's work
on letters (app/permissions.py says what that covers) and the audit trail records their steps as
done "for" the absent user. Delegations are revoked, never deleted.
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from app.database import write_transaction
from app.models import Delegation, LetterType, User
from app.models.base import utcnow
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError

MAX_DAYS = 366  # a year's absence at most: anything longer is a typing mistake


def create_delegation(
    session: Session,
    actor: Actor,
    substitute_id: int | None,
    starts_on: date | None,
    ends_on: date | None,
    letter_type_id: int | None = None,
    *,
    today: date | None = None,
) -> Delegation:
    """The actor hands their own work (every letter type, or one) to a colleague of their
    organisation from starts_on to ends_on, both included."""
    user = actor.user
    today = today or date.today()
    substitute = session.get(User, substitute_id) if substitute_id else None
    if substitute is None or substitute.organisation_id != user.organisation_id:
        raise ServiceError(_l("Choose a colleague of your organisation."), "substitute_id")
    if not substitute.active:
        raise ServiceError(_l("This colleague's account is disabled."), "substitute_id")
    if substitute.id == user.id:
        raise ServiceError(_l("You cannot be your own substitute."), "substitute_id")
    if starts_on is None or ends_on is None:
        raise ServiceError(_l("Give the first and the last day of the absence."), "starts_on")
    if ends_on < starts_on:
        raise ServiceError(_l("The last day cannot come before the first."), "ends_on")
    if ends_on < today:
        raise ServiceError(_l("These days are already over."), "ends_on")
    if (ends_on - starts_on).days + 1 > MAX_DAYS:
        raise ServiceError(_l("A delegation lasts at most 366 days."), "ends_on")
    letter_type = session.get(LetterType, letter_type_id) if letter_type_id else None
    if letter_type_id and (
        letter_type is None or letter_type.organisation_id != user.organisation_id
    ):
        raise ServiceError(_l("Unknown letter type."), "letter_type_id")
    with write_transaction(session):
        # Checked inside the write transaction, so two overlapping requests cannot both pass.
        if _overlapping(session, user, starts_on, ends_on, letter_type_id):
            raise ServiceError(
                _l("You already named a substitute for some of these days."), "starts_on"
            )
        delegation = Delegation(
            organisation_id=user.organisation_id,
            user_id=user.id,
            substitute_id=substitute.id,
            starts_on=starts_on,
            ends_on=ends_on,
            letter_type_id=letter_type.id if letter_type else None,
        )
        session.add(delegation)
        session.flush()
        audit.record(
            session,
            actor,
            "delegation.created",
            organisation_id=user.organisation_id,
            object_type="delegation",
            object_id=delegation.id,
            data={
                "substitute": {"id": substitute.id, "name": substitute.full_name},
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat(),
                "letter_type": letter_type.code if letter_type else None,
            },
        )
    return delegation


def revoke_delegation(
    session: Session, actor: Actor, delegation: Delegation, *, today: date | None = None
) -> None:
    """Only the absent user who gave the delegation takes it back; the row stays."""
    if delegation.user_id != actor.user.id:
        raise NotAllowed(_l("Only the person who named the substitute can revoke it."))
    if delegation.revoked_at is not None:
        raise ServiceError(_l("This delegation was already revoked."))
    if delegation.ends_on < (today or date.today()):
        raise ServiceError(_l("This delegation is already over."))
    with write_transaction(session):
        delegation.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "delegation.revoked",
            organisation_id=delegation.organisation_id,
            object_type="delegation",
            object_id=delegation.id,
            data={"substitute": {"id": delegation.substitute_id}},
        )


def active_delegations(session: Session, user: User, today: date) -> list[Delegation]:
    """The delegations in force today that make this user someone's substitute."""
    stmt = (
        select(Delegation)
        .join(User, User.id == Delegation.user_id)
        .where(
            Delegation.substitute_id == user.id,
            Delegation.organisation_id == user.organisation_id,
            *Delegation.in_force(today),
            User.active.is_(True),  # a disabled account's rights are gone, and so is its stand-in
        )
        .options(joinedload(Delegation.user))
        .order_by(Delegation.starts_on, Delegation.id)
    )
    return list(session.scalars(stmt))


def active_delegators(
    session: Session, user: User, today: date, letter_type_id: int | None = None
) -> list[User]:
    """Whom this user substitutes today; given a letter type, only for letters of that type."""
    found: dict[int, User] = {}
    for delegation in active_delegations(session, user, today):
        if letter_type_id is None or delegation.covers(letter_type_id):
            found.setdefault(delegation.user_id, delegation.user)
    return list(found.values())


def delegations_given(session: Session, user: User) -> list[Delegation]:
    return _list(session, Delegation.user_id == user.id)


def delegations_received(session: Session, user: User) -> list[Delegation]:
    return _list(session, Delegation.substitute_id == user.id)


def _list(session: Session, condition) -> list[Delegation]:
    stmt = (
        select(Delegation)
        .where(condition)
        .options(
            joinedload(Delegation.user),
            joinedload(Delegation.substitute),
            joinedload(Delegation.letter_type),
        )
        .order_by(Delegation.starts_on.desc(), Delegation.id.desc())
    )
    return list(session.scalars(stmt))


def _overlapping(
    session: Session, user: User, starts_on: date, ends_on: date, letter_type_id: int | None
) -> bool:
    """Another delegation of the user, not revoked, sharing a day and a letter type: for any
    letter on any day there is at most one substitute. A delegation for every type shares every
    type."""
    stmt = select(Delegation.id).where(
        Delegation.user_id == user.id,
        Delegation.revoked_at.is_(None),
        Delegation.starts_on <= ends_on,
        Delegation.ends_on >= starts_on,
    )
    if letter_type_id is not None:
        stmt = stmt.where(
            or_(Delegation.letter_type_id.is_(None), Delegation.letter_type_id == letter_type_id)
        )
    return session.scalar(stmt.limit(1)) is not None
