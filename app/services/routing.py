"""Routing a letter to departments and moving it through them.

The registry routes a letter to one department for action and others for information (copies).
The action department's head accepts it, passes it to an agent, or returns it to the registry
with a reason; the registry then routes it again. Every step is one transaction with its event.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import Assignment, AssignmentKind, AssignmentState, Department, Letter, User
from app.models.routing import OPEN_STATES
from app.permissions import can_route, is_head_of
from app.services import audit
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError

MIN_REASON_LENGTH = 5


def open_action(session: Session, letter: Letter) -> Assignment | None:
    return session.scalar(
        select(Assignment).where(
            Assignment.letter_id == letter.id,
            Assignment.kind == AssignmentKind.ACTION,
            Assignment.state.in_(OPEN_STATES),
        )
    )


def route_letter(
    session: Session,
    actor: Actor,
    letter: Letter,
    action_department_id: int,
    copy_department_ids: list[int] = (),
) -> Assignment:
    """Send the letter to one department for action and to others for information."""
    if not can_route(actor.user, letter):
        raise NotAllowed(_l("Only the registry can route this letter."))
    if not letter.is_open:
        raise ServiceError(_l("A closed or cancelled letter cannot be routed."))
    if open_action(session, letter) is not None:
        raise ServiceError(_l("This letter is already with a department for action."))
    departments = _departments(session, actor, [action_department_id, *copy_department_ids])
    copies = [d for d in departments if d.id != action_department_id]
    already_copied = set(
        session.scalars(
            select(Assignment.department_id).where(
                Assignment.letter_id == letter.id, Assignment.kind == AssignmentKind.COPY
            )
        )
    )
    with write_transaction(session):
        action = _assign(session, actor, letter, action_department_id, AssignmentKind.ACTION)
        for department in copies:
            if department.id not in already_copied:
                _assign(session, actor, letter, department.id, AssignmentKind.COPY)
        audit.record(
            session,
            actor,
            "letter.routed",
            organisation_id=letter.organisation_id,
            object_type="letter",
            object_id=letter.id,
            letter_id=letter.id,
            data={
                "action": department_data(
                    next(d for d in departments if d.id == action_department_id)
                ),
                "copies": [department_data(d) for d in copies],
            },
        )
    return action


def accept(session: Session, actor: Actor, assignment: Assignment) -> None:
    _require_head(actor, assignment)
    if assignment.state != AssignmentState.PENDING:
        raise ServiceError(_l("This letter was already accepted."))
    with write_transaction(session):
        assignment.state = AssignmentState.ACCEPTED
        _record(session, actor, assignment, "letter.accepted", {})


def pass_to_agent(session: Session, actor: Actor, assignment: Assignment, agent_id: int) -> None:
    """The head hands the letter to one of the department's agents (accepting it if needed)."""
    _require_head(actor, assignment)
    if not assignment.is_open:
        raise ServiceError(_l("This letter is no longer with your department."))
    agent = session.get(User, agent_id)
    if agent is None or agent.department_id != assignment.department_id or not agent.active:
        raise ServiceError(_l("Choose an agent of this department."), "agent_id")
    with write_transaction(session):
        assignment.state = AssignmentState.ACCEPTED
        assignment.agent_id = agent.id
        _record(session, actor, assignment, "letter.passed", {"agent": agent.full_name})


def return_to_registry(session: Session, actor: Actor, assignment: Assignment, reason: str) -> None:
    """Wrong department: the letter goes back to the registry, which routes it again."""
    _require_head(actor, assignment)
    if not assignment.is_open:
        raise ServiceError(_l("This letter is no longer with your department."))
    reason = reason.strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ServiceError(_l("Say why the letter goes back to the registry."), "reason")
    with write_transaction(session):
        assignment.state = AssignmentState.RETURNED
        assignment.return_reason = reason
        _record(session, actor, assignment, "letter.returned", {"reason": reason})


def _require_head(actor: Actor, assignment: Assignment) -> None:
    if assignment.kind != AssignmentKind.ACTION or not is_head_of(
        actor.user, assignment.department_id, assignment.letter
    ):
        raise NotAllowed(_l("Only the head of the department can do this."))


def _departments(session: Session, actor: Actor, ids: list[int]) -> list[Department]:
    departments = list(
        session.scalars(
            select(Department).where(
                Department.id.in_(ids),
                Department.organisation_id == actor.organisation_id,
                Department.active.is_(True),
            )
        )
    )
    if {d.id for d in departments} != set(ids):
        raise ServiceError(_l("Unknown department."), "action_department_id")
    return departments


def _assign(
    session: Session, actor: Actor, letter: Letter, department_id: int, kind: AssignmentKind
) -> Assignment:
    assignment = Assignment(
        organisation_id=letter.organisation_id,
        letter_id=letter.id,
        department_id=department_id,
        kind=kind,
        state=AssignmentState.PENDING
        if kind == AssignmentKind.ACTION
        else AssignmentState.ACCEPTED,
        routed_by_id=actor.user.id,
        due_on=letter.due_on,
    )
    session.add(assignment)
    session.flush()
    return assignment


def _record(
    session: Session, actor: Actor, assignment: Assignment, action: str, data: dict
) -> None:
    audit.record(
        session,
        actor,
        action,
        organisation_id=assignment.organisation_id,
        object_type="assignment",
        object_id=assignment.id,
        letter_id=assignment.letter_id,
        data={"department": department_data(assignment.department), **data},
    )


def department_data(department: Department) -> dict:
    """How events name a department: both names, so the history reads in either language."""
    return {
        "id": department.id,
        "code": department.code,
        "ar": department.name_ar,
        "fr": department.name_fr,
    }
