"""The citizens' e-counter: a request becomes an incoming letter at once (or once its e-mail is
confirmed), the citizen follows it with the registry number and a tracking code, adds a
complement when asked, rates the answer and may reopen a complaint once.

Citizens have no Diwan user: what the portal does is done by the organisation's portal account
(an inactive user with the registry right, so the routing rules apply as at the desk), with the
citizen's address in the audit event. Secrets (tracking codes, confirmation tokens) are kept as
SHA-256 digests only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.intake import IngestedFile
from app.models import (
    IDENTITY_FIELDS,
    AssignmentKind,
    CitizenAccount,
    Department,
    EmailMode,
    Letter,
    LetterLink,
    LetterStatus,
    Organisation,
    OutgoingEmail,
    PortalRating,
    PortalRequestType,
    PortalSubmission,
    Register,
    Role,
    SubmissionStatus,
    User,
    UserRole,
)
from app.models.audit import AuditEvent
from app.models.base import utcnow
from app.services import audit, deadlines, registration, routing, routing_rules, throttle
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from app.timezones import to_local

# Crockford's base 32: no I, L, O, U, so a code read aloud or retyped is not misread.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16  # 80 bits
_CODE_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MAX_SUBJECT = 300
MAX_MESSAGE = 20_000
MAX_COMMENT = 2_000
MIN_REASON = 10


# -- secrets ---------------------------------------------------------------------------------------


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_tracking_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise_code(typed: str) -> str:
    """What the citizen typed, as printed: upper case, typos of 0/1 fixed, grouped by four."""
    raw = re.sub(r"[\s\-]", "", typed.upper()).translate(_CODE_TYPOS)
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


# -- the portal's account in each organisation -----------------------------------------------------


def portal_user(session: Session, organisation: Organisation) -> User:
    """The organisation's portal account, created on first use. It cannot sign in (inactive,
    no password) and holds only the registry right, so routing rules route its letters."""
    username = f"portal.{organisation.code}"
    user = session.scalar(select(User).where(User.username == username))
    if user is not None:
        return user
    try:
        with write_transaction(session):
            user = User(
                organisation_id=organisation.id,
                username=username,
                full_name="الشباك الإلكتروني — Guichet électronique",
                password_hash="!",  # noqa: S106 - no password matches this hash
                active=False,
            )
            session.add(user)
            session.flush()
            session.add(UserRole(user_id=user.id, role=Role.REGISTRY_OFFICER))
    except IntegrityError:  # another request created it at the same moment
        pass
    return session.scalar(select(User).where(User.username == username))


def portal_actor(session: Session, organisation: Organisation, remote_addr: str) -> Actor:
    return Actor(user=portal_user(session, organisation), remote_addr=remote_addr)


# -- what the portal offers ------------------------------------------------------------------------


def published_types(session: Session, organisation_id: int) -> list[PortalRequestType]:
    return list(
        session.scalars(
            select(PortalRequestType)
            .where(
                PortalRequestType.organisation_id == organisation_id,
                PortalRequestType.published.is_(True),
            )
            .order_by(PortalRequestType.position, PortalRequestType.id)
        )
    )


def portal_organisations(session: Session, search: str = "") -> list[Organisation]:
    """Administrations that publish at least one request type, filtered by a typed name (Arabic
    matched after normalisation: hamza forms, diacritics, tatweel)."""
    with_types = select(PortalRequestType.organisation_id).where(
        PortalRequestType.published.is_(True)
    )
    organisations = session.scalars(
        select(Organisation).where(Organisation.id.in_(with_types)).order_by(Organisation.code)
    ).all()
    wanted = routing_rules.normalise_text(search).split()
    if not wanted:
        return list(organisations)

    def matches(organisation: Organisation) -> bool:
        names = " ".join(
            (organisation.name_ar, organisation.name_fr, organisation.name_en, organisation.code)
        )
        haystack = routing_rules.normalise_text(names)
        return all(word in haystack for word in wanted)

    return [organisation for organisation in organisations if matches(organisation)]


# -- submitting ------------------------------------------------------------------------------------


@dataclass
class Submission:
    """What the citizen typed on the form."""

    name: str
    subject: str
    message: str
    national_id: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    locale: str = "ar"
    files: list[IngestedFile] = field(default_factory=list)


@dataclass(frozen=True)
class PortalSettings:
    numbering: registration.NumberingSettings
    confirm_hours: int
    submissions_per_email_per_day: int
    max_files: int

    @classmethod
    def from_config(cls, config) -> PortalSettings:
        return cls(
            numbering=registration.NumberingSettings.from_config(config),
            confirm_hours=config["PORTAL_CONFIRM_HOURS"],
            submissions_per_email_per_day=config["PORTAL_SUBMISSIONS_PER_EMAIL_PER_DAY"],
            max_files=config["MAX_FILES_PER_LETTER"],
        )


@dataclass(frozen=True)
class Submitted:
    """The outcome of a submission: registered now (with its code), or waiting for the e-mail
    to be confirmed (the token goes into the link sent to it)."""

    submission: PortalSubmission
    tracking_code: str | None = None
    confirm_token: str | None = None


def check_submission(
    session: Session, request_type: PortalRequestType, data: Submission, settings: PortalSettings
) -> None:
    """Raise ServiceError (with the form field) for what the citizen must correct."""
    required = set(request_type.required_fields or ())
    if request_type.email_mode == EmailMode.REQUIRED:
        required.add("email")
    if not data.name.strip():
        raise ServiceError(_l("Your name is required."), "name")
    for name in IDENTITY_FIELDS:
        if name in required and not getattr(data, name).strip():
            raise ServiceError(_l("This information is required for this request."), name)
    if data.email and not EMAIL_PATTERN.match(data.email.strip()):
        raise ServiceError(_l("This e-mail address is not valid."), "email")
    if not data.subject.strip() or len(data.subject) > MAX_SUBJECT:
        raise ServiceError(_l("Give the subject (at most 300 characters)."), "subject")
    if not data.message.strip() or len(data.message) > MAX_MESSAGE:
        raise ServiceError(_l("Write your message (at most 20,000 characters)."), "message")
    if len(data.files) > settings.max_files:
        raise ServiceError(_l("Too many attachments."), "attachments")
    if data.email:
        since = utcnow() - timedelta(days=1)
        recent = session.scalar(
            select(func.count(PortalSubmission.id)).where(
                PortalSubmission.email == data.email.strip().lower(),
                PortalSubmission.created_at >= since,
            )
        )
        if recent >= settings.submissions_per_email_per_day:
            raise ServiceError(
                _l("Too many requests from this e-mail address today: try again tomorrow."),
                "email",
            )


def new_submission(
    request_type: PortalRequestType, data: Submission, message: IngestedFile, remote_addr: str
) -> PortalSubmission:
    """The kept request, its message PDF first among its files (not yet added to a session)."""
    return PortalSubmission(
        public_id=secrets.token_urlsafe(18),
        organisation_id=request_type.organisation_id,
        request_type_id=request_type.id,
        locale=data.locale,
        remote_addr=remote_addr[:64],
        name=data.name.strip(),
        national_id=data.national_id.strip().upper(),
        email=data.email.strip().lower(),
        phone=data.phone.strip(),
        address=data.address.strip(),
        subject=data.subject.strip(),
        message=data.message.strip(),
        files=[file_dict(f) for f in (message, *data.files)],
    )


def submit(
    session: Session,
    request_type: PortalRequestType,
    data: Submission,
    *,
    remote_addr: str,
    citizen: CitizenAccount | None,
    settings: PortalSettings,
    message_pdf: Callable[[], IngestedFile],
    confirmation_email: Callable[[str], tuple[str, str]],
) -> Submitted:
    """Keep the request and register it now, or once its e-mail is confirmed.

    ``message_pdf()`` stores the citizen's message as a PDF (called once the input is checked):
    it becomes the letter's first document, before the attachments. ``confirmation_email(token)``
    gives the subject and body of the message with the confirmation link, queued in the same
    transaction.
    An account's e-mail was confirmed when the account was, so a signed-in citizen's request
    is registered at once."""
    check_submission(session, request_type, data, settings)
    message = message_pdf()
    email = data.email.strip().lower()
    if citizen is not None and citizen.confirmed_at is not None and email == citizen.email:
        needs_confirmation = False
    else:
        needs_confirmation = bool(email)
    token = new_token() if needs_confirmation else None
    with write_transaction(session):
        submission = new_submission(request_type, data, message, remote_addr)
        submission.citizen_id = citizen.id if citizen else None
        submission.email = email
        if token is not None:
            submission.confirm_token_hash = digest(token)
            submission.confirm_expires_at = utcnow() + timedelta(hours=settings.confirm_hours)
        session.add(submission)
        if token is not None:
            subject, body = confirmation_email(token)
            session.add(
                OutgoingEmail(
                    organisation_id=request_type.organisation_id,
                    to_address=email,
                    subject=subject,
                    body=body,
                )
            )
    if token is not None:
        return Submitted(submission, confirm_token=token)
    code = register(session, submission, remote_addr, settings, email_confirmed=bool(email))
    return Submitted(submission, tracking_code=code)


def confirm(
    session: Session, token: str, remote_addr: str, settings: PortalSettings
) -> Submitted | None:
    """The link from the e-mail: register the request (once). None for an unknown or expired
    link; a second click finds the request already registered (no code: it was sent)."""
    submission = session.scalar(
        select(PortalSubmission).where(PortalSubmission.confirm_token_hash == digest(token))
    )
    if submission is None:
        return None
    if submission.status == SubmissionStatus.REGISTERED:
        return Submitted(submission)
    if submission.confirm_expires_at is None or submission.confirm_expires_at < utcnow():
        return None
    code = register(session, submission, remote_addr, settings, email_confirmed=True)
    if code is None:  # another click registered it in the meantime
        return Submitted(submission)
    return Submitted(submission, tracking_code=code)


def register(
    session: Session,
    submission: PortalSubmission,
    remote_addr: str,
    settings: PortalSettings,
    *,
    email_confirmed: bool,
) -> str | None:
    """The submission enters the incoming register (channel "portal") and is routed by the
    organisation's rules. Returns the tracking code, or None if it was registered already."""
    organisation = session.get(Organisation, submission.organisation_id)
    actor = portal_actor(session, organisation, remote_addr)
    request_type = submission.request_type
    code = new_tracking_code()
    with write_transaction(session):
        session.refresh(submission, with_for_update=True)
        if submission.status == SubmissionStatus.REGISTERED:
            return None
        letter = registration.record_letter(
            session,
            actor,
            _letter_input(submission, request_type, organisation),
            settings.numbering,
        )
        submission.status = SubmissionStatus.REGISTERED
        submission.letter_id = letter.id
        submission.tracking_code_hash = digest(code)
        submission.pending_code = code
        if email_confirmed:
            submission.email_confirmed_at = utcnow()
        audit.record_on_letter(
            session,
            actor,
            letter,
            "portal.submitted",
            {"request_type": request_type.code, "submission": submission.public_id},
        )
    _route_by_rules(session, actor, letter)
    return code


def _letter_input(
    submission: PortalSubmission, request_type: PortalRequestType, organisation: Organisation
) -> registration.LetterInput:
    today = to_local(utcnow(), organisation.timezone).date()
    return registration.LetterInput(
        register=Register.INCOMING,
        subject=submission.subject,
        channel="portal",
        received_on=today,
        letter_date=today,
        letter_type_id=request_type.letter_type_id,
        language=submission.locale if submission.locale in ("ar", "fr", "en") else "other",
        new_correspondent=registration.NewContact(
            name=submission.name,
            national_id=submission.national_id,
            email=submission.email,
            phone=submission.phone,
            address=submission.address,
        ),
        files=[_ingested(item) for item in submission.files],
    )


def _route_by_rules(session: Session, actor: Actor, letter: Letter) -> None:
    """As at the desk: a rule that routes automatically does; otherwise the registry routes it.
    A rule that cannot apply (its department closed since) leaves the letter to the registry."""
    with contextlib.suppress(ServiceError):
        routing_rules.apply_at_registration(session, actor, letter)


def file_dict(ingested: IngestedFile) -> dict:
    return {**asdict(ingested), "flags": sorted(ingested.flags)}


def _ingested(item: dict) -> IngestedFile:
    return IngestedFile(**{**item, "flags": frozenset(item["flags"])})


# -- following -------------------------------------------------------------------------------------


def throttle_keys(number: str, remote_addr: str) -> list[str]:
    return [f"track:addr:{remote_addr}", f"track:number:{digest(number.strip().upper())[:32]}"]


def find_for_tracking(
    session: Session, number: str, code: str, remote_addr: str
) -> PortalSubmission | None:
    """The submission whose registry number and tracking code both match, or None, whatever
    was wrong (an unknown number and a wrong code look the same). Raise throttle.Blocked while
    the address or the number has to wait after wrong attempts."""
    keys = throttle_keys(number, remote_addr)
    throttle.check(session, keys)
    wanted = digest(normalise_code(code))
    candidates = session.scalars(
        select(PortalSubmission)
        .join(Letter, Letter.id == PortalSubmission.letter_id)
        .where(Letter.number == number.strip().upper())
    ).all()
    found = None
    for submission in candidates:  # numbers are unique per organisation, not across them
        if hmac.compare_digest(submission.tracking_code_hash or "", wanted):
            found = submission
    if not candidates:
        hmac.compare_digest(wanted, digest("-"))  # the same work when the number is unknown
    if found is None:
        throttle.fail(session, keys)
        return None
    throttle.succeed(session, keys)
    return found


def submissions_of(session: Session, citizen: CitizenAccount) -> list[PortalSubmission]:
    """A citizen's registered requests across administrations: made while signed in, or made
    with the account's (confirmed) e-mail address after confirming it."""
    return list(
        session.scalars(
            select(PortalSubmission)
            .where(
                PortalSubmission.status == SubmissionStatus.REGISTERED,
                (PortalSubmission.citizen_id == citizen.id)
                | (
                    (PortalSubmission.email == citizen.email)
                    & PortalSubmission.email_confirmed_at.is_not(None)
                ),
            )
            .order_by(PortalSubmission.id.desc())
        )
    )


def letters_of(submission: PortalSubmission) -> list[Letter]:
    """The registered letters the citizen follows: the request, then its reopening if any."""
    return [letter for letter in (submission.letter, submission.reopened_letter) if letter]


def current_letter(submission: PortalSubmission) -> Letter:
    return submission.reopened_letter or submission.letter


def answers(session: Session, submission: PortalSubmission) -> list[Letter]:
    """The outgoing letters that answered the citizen's letters (dispatched, so registered)."""
    ids = [letter.id for letter in letters_of(submission)]
    return list(
        session.scalars(
            select(Letter)
            .where(
                Letter.reply_to_id.in_(ids),
                Letter.register == Register.OUTGOING,
                Letter.status != LetterStatus.CANCELLED,
            )
            .order_by(Letter.id)
        )
    )


@dataclass(frozen=True)
class Step:
    """One line of the timeline the citizen sees."""

    at: datetime
    kind: str  # received, routed, extended, waiting, resumed, complement, answered, closed, ...
    number: str
    department: str = ""  # the department's name (no person, no internal detail)
    reason: str = ""  # an extension's reason, the administration's request for a complement
    outcome: str = ""


# The events a citizen is told about, and nothing else (notes, passes to an agent, returns to
# the registry, drafts, signatures stay inside).
_TIMELINE = {
    "letter.registered": "received",
    "letter.routed": "routed",
    "letter.extended": "extended",
    "letter.clock_stopped": "waiting",
    "letter.clock_restarted": "resumed",
    "portal.complement_requested": "complement_requested",
    "portal.complement_added": "complement",
    "reply.dispatched": "answered",
    "letter.closed": "closed",
    "letter.cancelled": "cancelled",
    "portal.reopened": "reopened",
}


# What the citizen reads under a step: an extension's reason, what the administration asked.
_TIMELINE_TEXT = {"extended": "reason", "complement_requested": "message"}


def timeline(session: Session, submission: PortalSubmission, locale: str) -> list[Step]:
    letters = {letter.id: letter for letter in letters_of(submission)}
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.letter_id.in_(list(letters)),
            AuditEvent.action.in_(list(_TIMELINE)),
        )
        .order_by(AuditEvent.seq)
    )
    steps = []
    for event in events:
        kind = _TIMELINE[event.action]
        if kind == "reopened" and event.letter_id != submission.reopened_letter_id:
            continue  # recorded on both letters, told once
        data = event.data or {}
        department = ""
        if kind == "routed":
            action = data.get("action") or {}
            department = action.get("ar" if locale == "ar" else "fr", "")
        steps.append(
            Step(
                at=event.occurred_at,
                kind=kind,
                number=letters[event.letter_id].number,
                department=department,
                reason=str(data.get(_TIMELINE_TEXT.get(kind, ""), "")),
                outcome=str(data.get("outcome", "")) if kind == "closed" else "",
            )
        )
    return _answer_before_closing(steps)


def _answer_before_closing(steps: list[Step]) -> list[Step]:
    """A dispatch closes the letter and records the answer in one transaction, closing first:
    the citizen reads "answered", then "closed"."""
    ordered: list[Step] = []
    for step in steps:
        if step.kind == "answered" and ordered and ordered[-1].kind == "closed":
            ordered.insert(len(ordered) - 1, step)
        else:
            ordered.append(step)
    return ordered


def processing_department(session: Session, letter: Letter) -> Department | None:
    """The department the letter is with for action (the newest action assignment)."""
    actions = [a for a in letter.assignments if a.kind == AssignmentKind.ACTION]
    return session.get(Department, actions[-1].department_id) if actions else None


# -- complements -----------------------------------------------------------------------------------


def request_complement(
    session: Session, actor: Actor, letter: Letter, message: str, today: date, can_act: bool
) -> PortalSubmission:
    """The processing department asks the citizen for a complement; where the procedure
    allows it the clock stops until the citizen answers."""
    if not can_act:
        raise NotAllowed(_l("Only the department processing the letter can ask for a complement."))
    submission = submission_of_letter(session, letter)
    if submission is None:
        raise ServiceError(_l("This letter did not come from the e-counter."))
    message = message.strip()
    if len(message) < MIN_REASON or len(message) > MAX_COMMENT:
        raise ServiceError(_l("Say what the citizen must add (10 to 2,000 characters)."), "message")
    if letter.id != current_letter(submission).id:
        raise ServiceError(_l("This request was reopened: ask on the reopening letter."))
    rule = deadlines.rule_of(letter.letter_type)
    with write_transaction(session):
        session.refresh(submission, with_for_update=True)  # two heads asking at once
        if submission.complement_requested_at is not None:
            raise ServiceError(_l("A complement was already asked for and is awaited."))
        pause = rule is not None and rule.pausable and not _clock_stopped(letter)
        if pause:
            deadlines.record_clock_stop(session, actor, letter, today)
        submission.complement_request = message
        submission.complement_requested_at = utcnow()
        submission.complement_stopped_clock = pause
        audit.record_on_letter(
            session,
            actor,
            letter,
            "portal.complement_requested",
            {"message": message, "clock_stopped": pause},
        )
    return submission


def add_complement(
    session: Session,
    submission: PortalSubmission,
    text: str,
    files: list[IngestedFile],
    *,
    remote_addr: str,
    today: date,
) -> Letter:
    """The citizen's answer: its PDF (``files[0]``, the text as a letter) and attachments become
    new documents of the letter; a clock stopped for it starts again."""
    letter = current_letter(submission)
    if submission.complement_requested_at is None or not letter.is_open:
        raise ServiceError(_l("No complement is awaited for this request."))
    if not text.strip() or len(text) > MAX_MESSAGE:
        raise ServiceError(_l("Write your message (at most 20,000 characters)."), "message")
    organisation = session.get(Organisation, submission.organisation_id)
    actor = portal_actor(session, organisation, remote_addr)
    with write_transaction(session):
        session.refresh(submission, with_for_update=True)
        if submission.complement_requested_at is None:  # answered meanwhile
            raise ServiceError(_l("No complement is awaited for this request."))
        if submission.complement_stopped_clock and _clock_stopped(letter):
            deadlines.record_clock_restart(session, actor, letter, today)
        position = max((d.position for d in letter.documents), default=0)
        for offset, ingested in enumerate(files, start=1):
            registration.attach_document(session, actor, letter, position + offset, ingested)
        _forget_complement_request(submission)
        audit.record_on_letter(
            session,
            actor,
            letter,
            "portal.complement_added",
            {"documents": [{"name": f.display_name, "sha256": f.original_sha256} for f in files]},
        )
    return letter


def _forget_complement_request(submission: PortalSubmission) -> None:
    submission.complement_request = ""
    submission.complement_requested_at = None
    submission.complement_stopped_clock = False


def _clock_stopped(letter: Letter) -> bool:
    return bool(letter.clock_pauses) and letter.clock_pauses[-1][1] is None


def submission_of_letter(session: Session, letter: Letter) -> PortalSubmission | None:
    return session.scalar(
        select(PortalSubmission).where(
            (PortalSubmission.letter_id == letter.id)
            | (PortalSubmission.reopened_letter_id == letter.id)
        )
    )


# -- after the answer ------------------------------------------------------------------------------


def can_rate(submission: PortalSubmission) -> bool:
    letter = current_letter(submission)
    rated = {rating.letter_id for rating in submission.ratings}
    return letter.is_closed and letter.id not in rated


def rate(
    session: Session, submission: PortalSubmission, stars: int, comment: str, remote_addr: str
) -> PortalRating:
    if not can_rate(submission):
        raise ServiceError(_l("This answer cannot be rated (not closed yet, or rated already)."))
    if stars not in range(1, 6):
        raise ServiceError(_l("Choose from 1 to 5 stars."), "stars")
    if len(comment) > MAX_COMMENT:
        raise ServiceError(_l("The comment is too long (at most 2,000 characters)."), "comment")
    letter = current_letter(submission)
    organisation = session.get(Organisation, submission.organisation_id)
    actor = portal_actor(session, organisation, remote_addr)
    with write_transaction(session):
        rating = PortalRating(
            organisation_id=submission.organisation_id,
            submission_id=submission.id,
            letter_id=letter.id,
            stars=stars,
            comment=comment.strip(),
        )
        session.add(rating)
        audit.record_on_letter(
            session, actor, letter, "portal.rated", {"stars": stars, "comment": rating.comment}
        )
    return rating


def reopen_until(session: Session, submission: PortalSubmission) -> date | None:
    """The last day the citizen may reopen the complaint, or None when it cannot be reopened
    (not a complaint, not closed, reopened once already)."""
    request_type = submission.request_type
    letter = submission.letter
    if request_type.reopen_days is None or submission.reopened_letter_id is not None:
        return None
    if letter is None or not letter.is_closed or letter.closed_at is None:
        return None
    organisation = session.get(Organisation, submission.organisation_id)
    closed_on = to_local(letter.closed_at, organisation.timezone).date()
    return closed_on + timedelta(days=request_type.reopen_days)


def reopen(
    session: Session,
    submission: PortalSubmission,
    reason: str,
    *,
    remote_addr: str,
    settings: PortalSettings,
    message_pdf: IngestedFile,
) -> Letter:
    """Reopen a complaint once: a new incoming letter, linked to the first, goes back to the
    department that answered (or to the registry's rules). The closed letter stays closed: the
    register is a record of what happened."""
    organisation = session.get(Organisation, submission.organisation_id)
    last_day = reopen_until(session, submission)
    if last_day is None or to_local(utcnow(), organisation.timezone).date() > last_day:
        raise ServiceError(_l("This request can no longer be reopened."))
    reason = reason.strip()
    if len(reason) < MIN_REASON or len(reason) > MAX_COMMENT:
        raise ServiceError(_l("Say why you reopen it (10 to 2,000 characters)."), "reason")
    first = submission.letter
    department = processing_department(session, first)
    actor = portal_actor(session, organisation, remote_addr)
    data = _letter_input(submission, submission.request_type, organisation)
    data.subject = submission.subject
    data.correspondent_id, data.new_correspondent = first.correspondent_id, None
    data.files = [message_pdf]
    with write_transaction(session):
        session.refresh(submission, with_for_update=True)
        if submission.reopened_letter_id is not None:
            raise ServiceError(_l("This request can no longer be reopened."))
        letter = registration.record_letter(session, actor, data, settings.numbering)
        session.add(
            LetterLink(
                organisation_id=organisation.id,
                letter_id=letter.id,
                linked_letter_id=first.id,
                created_by_id=actor.user.id,
            )
        )
        submission.reopened_letter_id = letter.id
        _forget_complement_request(submission)  # one left unanswered on the closed letter
        for target in (first, letter):
            audit.record_on_letter(
                session,
                actor,
                target,
                "portal.reopened",
                {"reason": reason, "first": first.number, "reopened": letter.number},
            )
    if department is not None and department.active:
        routing.route_letter(session, actor, letter, department.id)
    else:
        _route_by_rules(session, actor, letter)
    return letter
