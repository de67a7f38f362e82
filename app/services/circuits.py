"""The e-parapheur: a document goes through ordered steps of visas and signatures.

Steps sharing a position run in parallel; the circuit moves to the next position when every step
of the current one is done. A signature is a PAdES incremental update made inside the step's
transaction, on the newest version, so two signatures can never be made on the same base: the
second signer of a step is told it is done, a parallel signer signs on top of the first.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from pypdf import PdfReader
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app import metrics
from app.database import write_transaction
from app.files.store import CorruptFile, FileStore, MissingFile
from app.models import Department, Letter, ReplyDraft, Role, User
from app.models.base import utcnow
from app.models.signing import (
    Circuit,
    CircuitAnnotation,
    CircuitStatus,
    CircuitStep,
    CircuitTemplate,
    CircuitVersion,
    StepAction,
    StepStatus,
)
from app.services import audit
from app.services.actor import Actor
from app.services.delegations import active_delegations
from app.services.errors import NotAllowed, ServiceError

DOCUMENT_TYPES = ("reply", "decision", "memo", "other")
MAX_STEPS = 20
MAX_ANNOTATION = 2000
DONE = (StepStatus.APPROVED, StepStatus.SIGNED)


@dataclass(frozen=True)
class StepInput:
    position: int
    action: str
    assignee_id: int | None = None
    department_id: int | None = None
    role: str = ""


@dataclass(frozen=True)
class Placement:
    """Where the stamp goes: a 1-based page and a box in PDF points from the bottom-left."""

    page: int
    box: tuple[float, float, float, float]


@dataclass
class SignatureJob:
    """One step to sign in a batch, with what the signer reviewed."""

    step: CircuitStep
    version_id: int
    placement: Placement | None
    stamp_lines: tuple[str, ...] = ()
    qr_url: str | None = None
    evidence: dict = field(default_factory=dict)


# -- who ------------------------------------------------------------------------------------


def holds(user: User, step: CircuitStep) -> bool:
    """The step is addressed to the user in their own right."""
    if not user.active:
        return False
    if step.assignee_id is not None:
        return step.assignee_id == user.id
    return user.department_id == step.department_id and user.has_role(step.role)


def _absent_colleagues(session: Session, user: User) -> list[User]:
    """Whose steps the user takes today: delegations for every letter type (a circuit's
    document is not always a letter)."""
    return [
        delegation.user
        for delegation in active_delegations(session, user, date.today())
        if delegation.letter_type_id is None
    ]


def acting_as(session: Session, user: User, step: CircuitStep) -> User | None:
    """The person whose step the user would act on: the user, an absent colleague the user
    stands in for today, or None (not the user's step)."""
    if holds(user, step):
        return user
    return next(
        (absent for absent in _absent_colleagues(session, user) if holds(absent, step)), None
    )


def _addressed_to(people: Sequence[User]):
    conditions = []
    for person in people:
        conditions.append(CircuitStep.assignee_id == person.id)
        if person.department_id is not None and person.roles:
            conditions.append(
                and_(
                    CircuitStep.assignee_id.is_(None),
                    CircuitStep.department_id == person.department_id,
                    CircuitStep.role.in_(person.roles),
                )
            )
    return or_(*conditions)


def basket(session: Session, user: User) -> list[CircuitStep]:
    """The steps waiting for the user (or for a colleague the user stands in for)."""
    people = [user, *_absent_colleagues(session, user)]
    return list(
        session.scalars(
            select(CircuitStep)
            .join(Circuit)
            .where(
                Circuit.organisation_id == user.organisation_id,
                Circuit.status == CircuitStatus.IN_PROGRESS,
                CircuitStep.status == StepStatus.PENDING,
                _addressed_to(people),
            )
            .order_by(Circuit.created_at, CircuitStep.id)
        )
    )


def basket_count(session: Session, user: User) -> int:
    return len(basket(session, user))


def can_view(session: Session, user: User, circuit: Circuit) -> bool:
    if circuit.organisation_id != user.organisation_id:
        return False
    if circuit.author_id == user.id:
        return True
    people = [user, *_absent_colleagues(session, user)]
    return any(
        step.acted_by_id == user.id or any(holds(person, step) for person in people)
        for step in circuit.steps
    )


def authored(session: Session, user: User) -> list[Circuit]:
    return list(
        session.scalars(
            select(Circuit)
            .where(Circuit.organisation_id == user.organisation_id, Circuit.author_id == user.id)
            .order_by(Circuit.created_at.desc())
            .limit(200)
        )
    )


def for_letter(session: Session, letter: Letter) -> list[Circuit]:
    return list(
        session.scalars(
            select(Circuit).where(Circuit.letter_id == letter.id).order_by(Circuit.id.desc())
        )
    )


# -- starting -------------------------------------------------------------------------------


def _check_steps(session: Session, organisation_id: int, steps: Sequence[StepInput]) -> list:
    if not steps:
        raise ServiceError(_l("Add at least one step."), "steps")
    if len(steps) > MAX_STEPS:
        raise ServiceError(_l("A circuit has at most 20 steps."), "steps")
    positions = sorted({step.position for step in steps})
    renumber = {position: index + 1 for index, position in enumerate(positions)}
    checked = []
    for step in steps:
        if step.action not in (StepAction.VISA, StepAction.SIGN):
            raise ServiceError(_l("Each step is a visa or a signature."), "steps")
        if step.assignee_id is not None:
            user = session.get(User, step.assignee_id)
            if user is None or user.organisation_id != organisation_id or not user.active:
                raise ServiceError(_l("Unknown person in a step."), "steps")
        else:
            department = session.get(Department, step.department_id or 0)
            if department is None or department.organisation_id != organisation_id:
                raise ServiceError(
                    _l("Each step names a person, or a role in a department."), "steps"
                )
            if step.role not in {str(role) for role in Role}:
                raise ServiceError(_l("Unknown role in a step."), "steps")
        checked.append(
            StepInput(
                renumber[step.position],
                step.action,
                step.assignee_id,
                None if step.assignee_id else step.department_id,
                "" if step.assignee_id else step.role,
            )
        )
    return checked


def steps_from_template(template: CircuitTemplate) -> list[StepInput]:
    return [
        StepInput(
            int(step["position"]),
            step["action"],
            step.get("assignee_id"),
            step.get("department_id"),
            step.get("role", ""),
        )
        for step in template.steps
    ]


def page_count(pdf: bytes) -> int:
    try:
        return len(PdfReader(io.BytesIO(pdf)).pages)
    except Exception:
        raise ServiceError(
            _l("This PDF cannot be read; it cannot be sent for signature.")
        ) from None


def start(
    session: Session,
    actor: Actor,
    *,
    title: str,
    document_type: str,
    pdf_sha256: str,
    size: int,
    pages: int,
    steps: Sequence[StepInput],
    letter: Letter | None = None,
    reply_draft: ReplyDraft | None = None,
) -> Circuit:
    """Send a stored PDF into a circuit; the first position's steps become pending."""
    if not title.strip() or len(title) > 500:
        raise ServiceError(_l("Give the document a title (at most 500 characters)."), "title")
    if document_type not in DOCUMENT_TYPES:
        raise ServiceError(_l("Unknown document type."), "document_type")
    checked = _check_steps(session, actor.organisation_id, steps)
    with write_transaction(session):
        circuit = Circuit(
            organisation_id=actor.organisation_id,
            title=title.strip(),
            document_type=document_type,
            author_id=actor.user.id,
            letter_id=letter.id if letter else None,
            reply_draft_id=reply_draft.id if reply_draft else None,
            position=1,
            verification_token=secrets.token_urlsafe(18),
        )
        session.add(circuit)
        session.flush()
        _add_version(session, circuit, pdf_sha256, size, pages, "submitted", actor.user)
        for step in checked:
            session.add(
                CircuitStep(
                    circuit_id=circuit.id,
                    position=step.position,
                    action=step.action,
                    assignee_id=step.assignee_id,
                    department_id=step.department_id,
                    role=step.role,
                    status=StepStatus.PENDING if step.position == 1 else StepStatus.WAITING,
                )
            )
        session.flush()
        session.refresh(circuit)
        _record(session, actor, circuit, "circuit.started", {"steps": len(checked)})
    return circuit


def _add_version(session, circuit, sha256, size, pages, reason, user) -> CircuitVersion:
    number = len(circuit.versions) + 1
    version = CircuitVersion(
        circuit_id=circuit.id,
        number=number,
        sha256=sha256,
        size=size,
        page_count=pages,
        reason=reason,
        created_by_id=user.id if user else None,
    )
    session.add(version)
    session.flush()
    session.refresh(circuit)
    return version


def _record(session, actor, circuit, action, data=None) -> None:
    audit.record(
        session,
        actor,
        action,
        organisation_id=circuit.organisation_id,
        object_type="circuit",
        object_id=circuit.id,
        letter_id=circuit.letter_id,
        data={"title": circuit.title, **(data or {})},
    )


# -- acting on a step -------------------------------------------------------------------------


def _lock(session: Session, step: CircuitStep) -> None:
    """Inside the write transaction: read the step and its circuit again (another request
    may have acted since the page was shown); PostgreSQL also locks the circuit row."""
    session.execute(select(Circuit.id).where(Circuit.id == step.circuit_id).with_for_update())
    session.refresh(step.circuit)
    for other in step.circuit.steps:
        session.refresh(other)


def _check_turn(session, actor: Actor, step: CircuitStep, action: str, version_id: int) -> User:
    circuit = step.circuit
    if circuit.organisation_id != actor.organisation_id:
        raise NotAllowed(_l("This step is not yours."))
    absent = acting_as(session, actor.user, step)
    if absent is None:
        raise NotAllowed(_l("This step is not yours."))
    if circuit.status != CircuitStatus.IN_PROGRESS:
        raise ServiceError(_l("This circuit is no longer in progress."))
    if step.status in DONE:
        who = step.acted_by.full_name if step.acted_by else ""
        raise ServiceError(_l("This step was already completed by %(name)s.", name=who))
    if version_id != circuit.current_version.id:
        raise ServiceError(
            _l(
                "The document changed after you opened it (version %(number)s is now current); "
                "review it again.",
                number=circuit.current_version.number,
            )
        )
    if step.status != StepStatus.PENDING:
        raise ServiceError(_l("It is not this step's turn yet."))
    if step.action != action:
        raise ServiceError(
            _l("This step is a visa.")
            if step.action == StepAction.VISA
            else _l("This step is a signature.")
        )
    _check_visas_cover(circuit)
    return absent


def _check_visas_cover(circuit: Circuit) -> None:
    """Every visa given so far was given on the content that is now current: a document
    submitted again after a visa needs that visa again."""
    last_submitted = max(v.id for v in circuit.versions if v.reason == "submitted")
    for step in circuit.steps:
        if step.status == StepStatus.APPROVED and (step.version_id or 0) < last_submitted:
            raise ServiceError(
                _l(
                    "The document was changed after the visa of %(name)s; that visa must be "
                    "given again.",
                    name=step.acted_by.full_name if step.acted_by else "",
                )
            )


def _mark_done(step, actor, absent, status, version_id, comment="", evidence=None) -> None:
    step.status = status
    step.acted_by_id = actor.user.id
    step.acted_for_id = absent.id if absent.id != actor.user.id else None
    step.acted_at = utcnow()
    step.version_id = version_id
    step.comment = comment
    step.evidence = evidence or {}


def _actor_for(actor: Actor, absent: User) -> Actor:
    """Events name the absent colleague ("X for Y") when the user stands in."""
    if absent.id == actor.user.id:
        return actor
    return Actor(actor.user, actor.remote_addr, on_behalf_of=absent)


def approve(
    session: Session, actor: Actor, step: CircuitStep, *, version_id: int, comment: str = ""
) -> None:
    if len(comment) > MAX_ANNOTATION:
        raise ServiceError(_l("The comment is too long."), "comment")
    with write_transaction(session):
        _lock(session, step)
        absent = _check_turn(session, actor, step, StepAction.VISA, version_id)
        _mark_done(step, actor, absent, StepStatus.APPROVED, version_id, comment.strip())
        _record(
            session,
            _actor_for(actor, absent),
            step.circuit,
            "circuit.approved",
            {"step": step.id, "version": step.circuit.current_version.number},
        )
        _advance(session, actor, step.circuit)


def reject(
    session: Session,
    actor: Actor,
    step: CircuitStep,
    *,
    version_id: int,
    reason: str,
    to_previous: bool = False,
) -> None:
    """Send the document back to its author (the circuit ends) or to the previous step."""
    if not reason.strip():
        raise ServiceError(_l("Give the reason for sending it back."), "reason")
    if len(reason) > MAX_ANNOTATION:
        raise ServiceError(_l("The reason is too long."), "reason")
    with write_transaction(session):
        _lock(session, step)
        circuit = step.circuit
        absent = _check_turn(session, actor, step, step.action, version_id)
        previous = [s for s in circuit.steps if s.position == circuit.position - 1]
        if to_previous:
            if not previous:
                raise ServiceError(_l("There is no previous step: send it back to the author."))
            if any(s.status == StepStatus.SIGNED for s in previous):
                raise ServiceError(
                    _l("The previous step signed the document: send it back to the author.")
                )
        _mark_done(step, actor, absent, StepStatus.REJECTED, version_id, reason.strip())
        if to_previous:
            for other in circuit.steps:
                if other.position == circuit.position and other.id != step.id:
                    other.status = StepStatus.WAITING
            step.status = StepStatus.WAITING  # its turn comes again; the event keeps the refusal
            for other in previous:
                other.status = StepStatus.PENDING
            circuit.position -= 1
        else:
            for other in circuit.steps:
                if other.status in (StepStatus.PENDING, StepStatus.WAITING):
                    other.status = StepStatus.RESET
            circuit.status = CircuitStatus.REJECTED
            circuit.finished_at = utcnow()
        _record(
            session,
            _actor_for(actor, absent),
            circuit,
            "circuit.rejected",
            {
                "step": step.id,
                "reason": reason.strip(),
                "to": "previous" if to_previous else "author",
            },
        )


def resubmit(
    session: Session, actor: Actor, circuit: Circuit, *, pdf_sha256: str, size: int, pages: int
) -> None:
    """The author replaces the document before anyone signed it: every visa is asked again."""
    if circuit.author_id != actor.user.id:
        raise NotAllowed(_l("Only the author can replace the document."))
    with write_transaction(session):
        session.refresh(circuit)
        if circuit.status != CircuitStatus.IN_PROGRESS:
            raise ServiceError(_l("This circuit is no longer in progress."))
        if any(step.status == StepStatus.SIGNED for step in circuit.steps):
            raise ServiceError(_l("The document is already signed; start a new circuit."))
        version = _add_version(session, circuit, pdf_sha256, size, pages, "submitted", actor.user)
        for step in circuit.steps:
            step.status = StepStatus.PENDING if step.position == 1 else StepStatus.WAITING
        circuit.position = 1
        _record(session, actor, circuit, "circuit.resubmitted", {"version": version.number})


def withdraw(session: Session, actor: Actor, circuit: Circuit, *, reason: str) -> None:
    if circuit.author_id != actor.user.id:
        raise NotAllowed(_l("Only the author can withdraw the document."))
    if not reason.strip():
        raise ServiceError(_l("Give the reason for withdrawing it."), "reason")
    with write_transaction(session):
        session.refresh(circuit)
        if circuit.status != CircuitStatus.IN_PROGRESS:
            raise ServiceError(_l("This circuit is no longer in progress."))
        circuit.status = CircuitStatus.WITHDRAWN
        circuit.finished_at = utcnow()
        for step in circuit.steps:
            if step.status in (StepStatus.PENDING, StepStatus.WAITING):
                step.status = StepStatus.RESET
        _record(session, actor, circuit, "circuit.withdrawn", {"reason": reason.strip()[:500]})


def annotate(
    session: Session, actor: Actor, circuit: Circuit, *, page: int, x: float, y: float, text: str
) -> CircuitAnnotation:
    if not can_view(session, actor.user, circuit):
        raise NotAllowed(_l("This document is not yours to annotate."))
    version = circuit.current_version
    if not 1 <= page <= version.page_count or not (0 <= x <= 1 and 0 <= y <= 1):
        raise ServiceError(_l("Place the remark on a page of the document."), "page")
    if not text.strip() or len(text) > MAX_ANNOTATION:
        raise ServiceError(_l("Write the remark (at most 2,000 characters)."), "text")
    with write_transaction(session):
        annotation = CircuitAnnotation(
            circuit_id=circuit.id,
            version_id=version.id,
            author_id=actor.user.id,
            page=page,
            x=x,
            y=y,
            text=text.strip(),
        )
        session.add(annotation)
        session.flush()
        _record(session, actor, circuit, "circuit.annotated", {"page": page})
    return annotation


def annotations(session: Session, circuit: Circuit) -> list[CircuitAnnotation]:
    return list(
        session.scalars(
            select(CircuitAnnotation)
            .where(CircuitAnnotation.circuit_id == circuit.id)
            .order_by(CircuitAnnotation.page, CircuitAnnotation.id)
        )
    )


def _advance(session: Session, actor: Actor | None, circuit: Circuit) -> None:
    """Open the next position when the current one is done; complete after the last."""
    current = [s for s in circuit.steps if s.position == circuit.position]
    if any(step.status not in DONE for step in current):
        return
    later = sorted({s.position for s in circuit.steps if s.position > circuit.position})
    if later:
        circuit.position = later[0]
        for step in circuit.steps:
            if step.position == later[0]:
                step.status = StepStatus.PENDING
        return
    circuit.status = CircuitStatus.COMPLETED
    circuit.finished_at = utcnow()
    _record(session, actor, circuit, "circuit.completed", {"versions": len(circuit.versions)})


# -- signing ---------------------------------------------------------------------------------


def sign(
    session: Session,
    actor: Actor,
    jobs: Sequence[SignatureJob],
    *,
    store: FileStore,
    make_signature: Callable[[bytes, SignatureJob], bytes],
) -> list[CircuitVersion]:
    """Sign each job's step: the new version is made inside the step's transaction.

    ``make_signature(pdf, job)`` returns the signed PDF (the caller holds the opened key). A
    failure on one document stops the batch there; the documents signed before it stay signed.
    """
    made = []
    for job in jobs:
        step = job.step
        with write_transaction(session):
            _lock(session, step)
            absent = _check_turn(session, actor, step, StepAction.SIGN, job.version_id)
            circuit = step.circuit
            current = circuit.current_version
            if job.placement is not None and not 1 <= job.placement.page <= current.page_count:
                raise ServiceError(_l("Choose a page of the document for the stamp."), "page")
            try:
                pdf = store.open_verified(current.sha256)
            except (MissingFile, CorruptFile):
                raise ServiceError(
                    _l("The stored document is damaged or missing; it cannot be signed.")
                ) from None
            signed = make_signature(pdf, job)
            metrics.count_signature("signature")
            sha = store.put_bytes(signed)
            version = _add_version(
                session, circuit, sha, len(signed), current.page_count, "signed", actor.user
            )
            _mark_done(step, actor, absent, StepStatus.SIGNED, version.id, evidence=job.evidence)
            _record(
                session,
                _actor_for(actor, absent),
                circuit,
                "circuit.signed",
                {
                    "step": step.id,
                    "version": version.number,
                    "sha256": sha,
                    "security_key": bool(job.evidence),
                },
            )
            _advance(session, actor, circuit)
            made.append(version)
    return made


def add_version(
    session: Session, circuit: Circuit, *, pdf: bytes, reason: str, store: FileStore
) -> CircuitVersion:
    """A version Diwan makes itself (an archive time-stamp), recorded with no person."""
    with write_transaction(session):
        sha = store.put_bytes(pdf)
        current = circuit.current_version
        version = _add_version(session, circuit, sha, len(pdf), current.page_count, reason, None)
        _record(
            session, None, circuit, f"circuit.{reason}", {"version": version.number, "sha256": sha}
        )
    return version


def by_token(session: Session, token: str) -> Circuit | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(select(Circuit).where(Circuit.verification_token == token))


# -- templates -------------------------------------------------------------------------------


def save_template(
    session: Session,
    actor: Actor,
    *,
    name: str,
    document_type: str,
    steps: Sequence[StepInput],
) -> CircuitTemplate:
    """A reusable circuit for one type of document (administrators)."""
    from app.permissions import can_manage_organisation  # permissions imports the services

    if not can_manage_organisation(actor.user):
        raise NotAllowed(_l("Only administrators manage circuit templates."))
    if not name.strip() or len(name) > 200:
        raise ServiceError(_l("Give the template a name (at most 200 characters)."), "name")
    if document_type not in DOCUMENT_TYPES:
        raise ServiceError(_l("Unknown document type."), "document_type")
    checked = _check_steps(session, actor.organisation_id, steps)
    with write_transaction(session):
        template = CircuitTemplate(
            organisation_id=actor.organisation_id,
            name=name.strip(),
            document_type=document_type,
            steps=[
                {
                    "position": step.position,
                    "action": step.action,
                    "assignee_id": step.assignee_id,
                    "department_id": step.department_id,
                    "role": step.role,
                }
                for step in checked
            ],
        )
        session.add(template)
        session.flush()
        audit.record(
            session,
            actor,
            "circuit_template.saved",
            organisation_id=actor.organisation_id,
            object_type="circuit_template",
            object_id=template.id,
            data={"name": template.name, "steps": template.steps},
        )
    return template


def set_template_active(session: Session, actor: Actor, template: CircuitTemplate, active: bool):
    from app.permissions import can_manage_organisation

    if not can_manage_organisation(actor.user) or template.organisation_id != actor.organisation_id:
        raise NotAllowed(_l("Only administrators manage circuit templates."))
    with write_transaction(session):
        template.active = active
        audit.record(
            session,
            actor,
            "circuit_template.activated" if active else "circuit_template.deactivated",
            organisation_id=template.organisation_id,
            object_type="circuit_template",
            object_id=template.id,
            data={"name": template.name},
        )


def expected_signer(session: Session, organisation_id: int, steps: Sequence[StepInput]):
    """Who will sign last: the person the last signature step names, or the first holder of
    its role (the name printed under a reply sent for signature)."""
    signing = [step for step in steps if step.action == StepAction.SIGN]
    if not signing:
        return None
    last = max(signing, key=lambda step: step.position)
    if last.assignee_id is not None:
        return session.get(User, last.assignee_id)
    holders = session.scalars(
        select(User)
        .where(
            User.organisation_id == organisation_id,
            User.department_id == last.department_id,
            User.active.is_(True),
        )
        .order_by(User.id)
    )
    return next((user for user in holders if user.has_role(last.role)), None)
