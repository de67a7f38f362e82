"""The fixed data set the dashboard pages are checked against, made through the services as the
registry, the departments and citizens would (today T is the organisation's local day; every
letter is registered on T, its reception day set in the past where a processing time is wanted).

Letter types: DEM (10 calendar days, one 5-day extension allowed) and COURRIER (no deadline).

    L1  DRH  DEM       received T-20  closed "answered"          20 days, late
    L2  DRH  DEM       received T-4   answered by a dispatched reply (O1)  4 days, in time
    L3  DRH  DEM       received T-12  extended once, closed "answered"    12 days, in time
    L4  DSI  COURRIER  received T-7   closed "filed"             7 days, no deadline
    L5  DSI  DEM       received T-60  open, overdue
    L6  DRH  DEM       received so that it falls due within 3 days, open: due soon
    L7  DAJ  DEM       received T, confidential, open
    L8  DSI  COURRIER  routed to DAJ, returned to the registry, routed to DSI, open
    L9  -    COURRIER  registered, then cancelled (counts nowhere)
    L10 DSI  DEM       e-counter complaint, closed "answered" (0 days, in time), rated 4 stars,
                       then reopened: L11
    L11 DSI  DEM       the reopening, open
    L12 DRH  COURRIER  e-counter request, closed "no reply needed" (0 days), rated 5 stars
    O1  DRH  DEM       the reply to L2 (outgoing)
    O2  -    COURRIER  a circular (outgoing)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.files.intake import ingest_upload
from app.models import (
    Assignment,
    Department,
    Letter,
    LetterType,
    Organisation,
    ReplyTemplate,
    Role,
    User,
)
from app.models.base import utcnow
from app.services import deadlines, letters, portal, portal_types, processing, routing
from app.services import organisations as orgs
from app.services.actor import Actor
from app.timezones import to_local
from app.uploads import file_store
from app.worker import run_once
from tests.conftest import PASSWORD, World, csrf_token, login
from tests.factories import register
from tests.helpers import blank_pdf

SUBJECTS = {
    "L1": "Demande de mutation de M. Karim Alaoui",
    "L7": "Enquête disciplinaire confidentielle",
    "L10": "شكاية بخصوص تأخر الشهادة",
}
CITIZEN = "Zineb Tazi"


@dataclass(frozen=True)
class Dataset:
    """Ids, numbers and names only: the data set is built once and copied for each test."""

    today: date
    departments: dict[str, int]  # code -> id
    department_names: dict[str, dict[str, str]]  # code -> {language: name}
    types: dict[str, int]  # code -> id
    numbers: dict[str, str]  # L1 ... O2 -> registry number
    letter_ids: dict[str, int]


def make_world() -> World:
    """As tests/conftest.py's world fixture (which cannot be called outside a test)."""
    org = orgs.create_organisation(
        db.session, None, code="mtn", name_ar="وزارة", name_fr="Ministère"
    )
    other = orgs.create_organisation(
        db.session, None, code="other", name_ar="ولاية", name_fr="Wilaya"
    )
    for organisation in (org, other):
        orgs.create_letter_type(
            db.session, None, organisation, code="COURRIER", name_ar="مراسلة", name_fr="Courrier"
        )
    for organisation, username, role in (
        (org, "officer", Role.REGISTRY_OFFICER),
        (org, "officer.two", Role.REGISTRY_OFFICER),
        (org, "admin", Role.ADMINISTRATOR),
        (org, "agent", Role.AGENT),
        (other, "other.officer", Role.REGISTRY_OFFICER),
    ):
        _user(organisation, username, role, None)
    return reload_world()


def reload_world() -> World:
    def person(username: str) -> User:
        return db.session.scalar(select(User).where(User.username == username))

    def organisation(code: str) -> Organisation:
        return db.session.scalar(select(Organisation).where(Organisation.code == code))

    return World(
        org=organisation("mtn"),
        other_org=organisation("other"),
        officer=person("officer"),
        officer2=person("officer.two"),
        admin=person("admin"),
        agent=person("agent"),
        other_officer=person("other.officer"),
    )


def signed_in(app):
    """client_for, outside a test: a test client signed in as that user."""

    def make(username: str):
        client = app.test_client()
        assert login(client, username).status_code == 302
        return client

    return make


def _user(org, username: str, role: str, department: Department | None) -> User:
    return orgs.create_user(
        db.session,
        None,
        org,
        username=username,
        full_name=username.replace(".", " ").title(),
        password=PASSWORD,
        roles=[role],
        department=department,
    )


def _action(letter: Letter) -> Assignment:
    return db.session.scalar(
        select(Assignment)
        .where(Assignment.letter_id == letter.id, Assignment.kind == "action")
        .order_by(Assignment.id.desc())
    )


def _message_pdf():
    return ingest_upload(file_store(), io.BytesIO(blank_pdf()), "message.pdf", max_bytes=10**6)


def _due_soon_reception(org, today: date) -> date:
    """A reception day whose 10-calendar-day deadline (rolled to a working day) falls within
    DUE_SOON_DAYS of today, on this organisation's calendar."""
    calendar = deadlines.organisation_calendar(db.session, org)
    for back in range(7, 15):
        due = calendar.next_working_day(today - timedelta(days=back) + timedelta(days=10))
        if today <= due <= today + timedelta(days=3):
            return today - timedelta(days=back)
    raise AssertionError("no reception day gives a due date within 3 days")


class Builder:
    def __init__(self, app, world, client_for):
        self.app, self.world, self.client_for = app, world, client_for
        self.officer = Actor(world.officer)
        self.heads: dict[str, Actor] = {}
        self.letters: dict[str, Letter] = {}

    def departments(self) -> dict[str, Department]:
        made = {}
        for code, name_ar, name_fr in (
            ("DRH", "مديرية الموارد البشرية", "Direction des ressources humaines"),
            ("DSI", "مديرية نظم المعلومات", "Direction des systèmes d'information"),
            ("DAJ", "مديرية الشؤون القانونية", "Direction des affaires juridiques"),
        ):
            department = orgs.create_department(
                db.session, None, self.world.org, code=code, name_ar=name_ar, name_fr=name_fr
            )
            head = _user(self.world.org, f"head.{code.lower()}", Role.DEPARTMENT_HEAD, department)
            _user(self.world.org, f"agent.{code.lower()}", Role.AGENT, department)
            made[code] = department
            self.heads[code] = Actor(head)
        return made

    def incoming(self, key: str, type_id: int, received_on: date, **fields) -> Letter:
        with self.app.test_request_context():
            letter = register(
                self.world.officer,
                subject=SUBJECTS.get(key, f"Courrier {key}"),
                correspondent=CITIZEN,
                letter_type_id=type_id,
                received_on=received_on,
                **fields,
            )
        self.letters[key] = letter
        return letter

    def route(self, letter: Letter, department: Department, accept: bool = True) -> None:
        routing.route_letter(db.session, self.officer, letter, department.id)
        if accept:
            routing.accept(db.session, self.heads[department.code], _action(letter))

    def close(self, letter: Letter, code: str, outcome: str) -> None:
        processing.close_letter(db.session, self.heads[code], letter, outcome, "Traité")


def build(app, world, client_for) -> Dataset:
    b = Builder(app, world, client_for)
    org = world.org
    today = to_local(utcnow(), org.timezone).date()
    dep = b.departments()
    dem = orgs.create_letter_type(
        db.session,
        None,
        org,
        code="DEM",
        name_ar="طلب إداري",
        name_fr="Demande administrative",
        deadline_rule={
            "deadline_days": 10,
            "deadline_unit": "calendar",
            "extension_days": 5,
            "max_extensions": 1,
        },
    ).id
    courrier = db.session.scalar(
        select(LetterType.id).where(
            LetterType.organisation_id == org.id, LetterType.code == "COURRIER"
        )
    )
    day = lambda back: today - timedelta(days=back)  # noqa: E731

    b.route(b.incoming("L1", dem, day(20)), dep["DRH"])
    b.close(b.letters["L1"], "DRH", "answered")
    b.route(b.incoming("L2", dem, day(4)), dep["DRH"])
    _dispatch_reply(b, org, b.letters["L2"])
    b.route(b.incoming("L3", dem, day(12)), dep["DRH"])
    deadlines.extend(db.session, b.heads["DRH"], b.letters["L3"], "Pièces à réunir", True)
    b.close(b.letters["L3"], "DRH", "answered")
    b.route(b.incoming("L4", courrier, day(7)), dep["DSI"])
    b.close(b.letters["L4"], "DSI", "filed")
    b.route(b.incoming("L5", dem, day(60)), dep["DSI"])
    b.route(b.incoming("L6", dem, _due_soon_reception(org, today)), dep["DRH"])
    b.route(b.incoming("L7", dem, today, confidential=True), dep["DAJ"])
    b.route(b.incoming("L8", courrier, today), dep["DAJ"], accept=False)
    routing.return_to_registry(
        db.session, b.heads["DAJ"], _action(b.letters["L8"]), "Ne concerne pas la DAJ"
    )
    b.route(b.letters["L8"], dep["DSI"])
    letters.cancel_letter(db.session, b.officer, b.incoming("L9", courrier, today), "Doublon")
    _portal_requests(b, org, dep, dem, courrier)
    with app.test_request_context():
        b.letters["O2"] = register(
            world.officer, register="outgoing", subject="Circulaire", letter_type_id=courrier
        )
    run_once(app, check_deadlines=False)  # the worker refreshes the dashboard facts
    db.session.commit()
    return Dataset(
        today=today,
        departments={code: d.id for code, d in dep.items()},
        department_names={code: {"ar": d.name_ar, "fr": d.name_fr} for code, d in dep.items()},
        types={"DEM": dem, "COURRIER": courrier},
        numbers={key: letter.number for key, letter in b.letters.items()},
        letter_ids={key: letter.id for key, letter in b.letters.items()},
    )


def _dispatch_reply(b: Builder, org, letter: Letter) -> None:
    """The head drafts the reply from a template and dispatches it, as on the letter's page."""
    orgs.create_reply_template(
        db.session, None, org, name="Réponse", language="fr", body="Votre demande {number}."
    )
    head = b.client_for("head.drh")
    url = f"/letters/{letter.id}"
    template_id = str(db.session.scalar(select(ReplyTemplate.id)))
    for path, data in (
        ("reply/start", {"template_id": template_id, "language": "fr"}),
        ("reply/dispatch", {"channel": "post"}),
    ):
        response = head.post(f"{url}/{path}", data={"csrf_token": csrf_token(head, url), **data})
        assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    b.letters["O1"] = db.session.scalar(select(Letter).where(Letter.reply_to_id == letter.id))


def _portal_requests(b: Builder, org, dep, dem: int, courrier: int) -> None:
    """Two e-counter requests, answered and rated; the complaint is then reopened."""
    admin = Actor(b.world.admin)
    settings = portal.PortalSettings.from_config(current_app.config)
    kinds = {}
    for code, type_id, reopen_days in (("plainte", dem, 30), ("courrier", courrier, None)):
        kinds[code] = portal_types.save_request_type(
            db.session,
            admin,
            None,
            code=code,
            name_ar=code,
            name_fr=code,
            letter_type_id=type_id,
            email_mode="optional",
            reopen_days=reopen_days,
        )
    for key, code, department, outcome, stars in (
        ("L10", "plainte", "DSI", "answered", 4),
        ("L12", "courrier", "DRH", "no_reply_needed", 5),
    ):
        with b.app.test_request_context():
            submitted = portal.submit(
                db.session,
                kinds[code],
                portal.Submission(name=CITIZEN, subject=SUBJECTS.get(key, key), message="..."),
                remote_addr="127.0.0.1",
                citizen=None,
                settings=settings,
                message_pdf=_message_pdf,
                confirmation_email=lambda token: ("", ""),
            )
            letter = submitted.submission.letter
            b.letters[key] = letter
            b.route(letter, dep[department])
            b.close(letter, department, outcome)
            portal.rate(db.session, submitted.submission, stars, "", "127.0.0.1")
        if key == "L10":
            with b.app.test_request_context():
                b.letters["L11"] = portal.reopen(
                    db.session,
                    submitted.submission,
                    "La réponse ne règle pas ma demande.",
                    remote_addr="127.0.0.1",
                    settings=settings,
                    message_pdf=_message_pdf(),
                )
