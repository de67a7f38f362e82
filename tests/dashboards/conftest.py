"""A small administration whose March 2026 is known by heart, made through the services with a
controlled clock, for the dashboard figures (see test_dashboard_figures.py for the counts).

The organisation's zone is Africa/Tunis (UTC+1 all year), so 10:00 UTC is 11:00 the same day
and 23:30 UTC on 31 March is already 1 April locally.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime

import pytest
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.files.intake import ingest_upload
from app.models import (
    Assignment,
    Letter,
    Organisation,
    PortalRating,
    PortalSubmission,
    Role,
    SubmissionStatus,
)
from app.services import (
    deadlines,
    letters,
    portal,
    portal_types,
    processing,
    registration,
    replies,
    routing,
)
from app.services import organisations as orgs
from app.services.actor import Actor
from app.uploads import file_store
from tests.conftest import _user
from tests.helpers import blank_pdf


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 10, 0)

    def at(self, day: int, month: int = 3, hour: int = 10, minute: int = 0) -> None:
        self.now = datetime(2026, month, day, hour, minute)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The services' "now": registrations, closings, cancellations, reopenings and ratings."""
    moment = Clock()
    for module in (registration, processing, letters, portal, replies):
        monkeypatch.setattr(module, "utcnow", lambda: moment.now)
    # A rating's time is its column default: give the portal a rating made at the clock's time.
    monkeypatch.setattr(
        portal, "PortalRating", lambda **values: PortalRating(created_at=moment.now, **values)
    )
    return moment


@dataclass
class March:
    organisation: Organisation
    d1: int
    d2: int
    typed: int  # "DEMANDE": 10 calendar days, one extension of 5
    plain: int  # "COURRIER": no deadline
    ids: dict[str, int] = field(default_factory=dict)


def _scan():
    return ingest_upload(file_store(), io.BytesIO(blank_pdf()), "scan.pdf", max_bytes=10**6)


def _register(actor, register="incoming", **fields) -> Letter:
    data = registration.LetterInput(
        register=register,
        subject=fields.pop("subject", "Demande"),
        channel="post",
        new_correspondent=registration.NewContact(name="Amina Berrada"),
        files=[_scan()],
        **fields,
    )
    settings = registration.NumberingSettings.from_config(current_app.config)
    return registration.register_letter(db.session, actor, data, settings)


def _action(letter: Letter) -> Assignment:
    return db.session.scalar(
        select(Assignment)
        .where(Assignment.letter_id == letter.id, Assignment.kind == "action")
        .order_by(Assignment.id.desc())
    )


def _route_and_accept(registry: Actor, head: Actor, letter: Letter, department_id: int) -> None:
    routing.route_letter(db.session, registry, letter, department_id)
    routing.accept(db.session, head, _action(letter))


def _reply(head: Actor, letter: Letter) -> Letter:
    draft = replies.start_draft(
        db.session, head, letter, template=None, language="fr", subject_prefix="Re: ",
        today=date(2026, 3, 14),
    )  # fmt: skip
    replies.save_draft(db.session, head, draft, "Réponse", "Madame, votre demande est traitée.")
    return replies.dispatch(
        db.session,
        head,
        draft,
        channel="post",
        store=file_store(),
        numbering_settings=registration.NumberingSettings.from_config(current_app.config),
        render_pdf=lambda _letter, _draft: blank_pdf(),
    )


def _submission(org: Organisation, request_type_id: int, letter: Letter) -> PortalSubmission:
    submission = PortalSubmission(
        public_id=f"pub{letter.id}",
        organisation_id=org.id,
        request_type_id=request_type_id,
        status=SubmissionStatus.REGISTERED,
        name="Amina Berrada",
        subject=letter.subject,
        message="Ma demande.",
        letter_id=letter.id,
    )
    db.session.add(submission)
    db.session.commit()
    return submission


def build_march(clock: Clock) -> March:
    org = orgs.create_organisation(
        db.session, None, code="dash", name_ar="جماعة", name_fr="Commune", timezone="Africa/Tunis"
    )
    d1 = orgs.create_department(db.session, None, org, code="D1", name_ar="أ", name_fr="D1")
    d2 = orgs.create_department(db.session, None, org, code="D2", name_ar="ب", name_fr="D2")
    typed = orgs.create_letter_type(
        db.session, None, org, code="DEMANDE", name_ar="طلب", name_fr="Demande",
        deadline_rule={"deadline_days": 10, "deadline_unit": "calendar", "extension_days": 5,
                       "max_extensions": 1},
    )  # fmt: skip
    plain = orgs.create_letter_type(
        db.session, None, org, code="COURRIER", name_ar="مراسلة", name_fr="Courrier"
    )
    officer = Actor(_user(org, "d.officer", [Role.REGISTRY_OFFICER]))
    admin = Actor(_user(org, "d.admin", [Role.ADMINISTRATOR]))
    heads = {}
    for department in (d1, d2):
        user = _user(org, f"d.head{department.code}", [Role.DEPARTMENT_HEAD])
        user.department_id = department.id
        heads[department.id] = Actor(user)
    db.session.commit()
    h1, h2 = heads[d1.id], heads[d2.id]
    m = March(org, d1.id, d2.id, typed.id, plain.id)
    request_type = portal_types.save_request_type(
        db.session, admin, None, code="plainte", name_ar="شكاية", name_fr="Plainte",
        name_en="Complaint", letter_type_id=typed.id, email_mode="optional", reopen_days=30,
    )  # fmt: skip

    def incoming(name, day, type_id, month=3, hour=10, minute=0, **fields):
        clock.at(day, month, hour, minute)
        letter = _register(officer, letter_type_id=type_id, **fields)
        m.ids[name] = letter.id
        return letter

    def close(name, day, head, outcome="filed"):
        clock.at(day)
        letter = db.session.get(Letter, m.ids[name])
        processing.close_letter(db.session, head, letter, outcome, "")

    l10 = incoming("L10", 27, typed.id, month=2)
    _route_and_accept(officer, h1, l10, d1.id)
    l1 = incoming("L1", 2, typed.id)
    _route_and_accept(officer, h1, l1, d1.id)
    close("L10", 2, h1)
    l2 = incoming("L2", 3, typed.id, received_on=date(2026, 3, 1))
    _route_and_accept(officer, h1, l2, d1.id)
    l3 = incoming("L3", 3, typed.id)
    _route_and_accept(officer, h2, l3, d2.id)
    l4 = incoming("L4", 6, plain.id)
    routing.route_letter(db.session, officer, l4, d1.id)
    routing.return_to_registry(db.session, h1, _action(l4), "Pas pour nous.")
    _route_and_accept(officer, h2, l4, d2.id)
    clock.at(7)
    deadlines.extend(db.session, h1, l2, "Dossier incomplet.", can_act=True)
    close("L4", 9, h2, "no_reply_needed")
    close("L1", 10, h1)
    l5 = incoming("L5", 10, typed.id)
    _route_and_accept(officer, h1, l5, d1.id)
    clock.at(11)
    submission = _submission(org, request_type.id, l1)
    portal.rate(db.session, submission, 4, "", "127.0.0.1")
    l7 = incoming("L7", 12, plain.id)
    clock.at(13)
    letters.cancel_letter(db.session, officer, l7, "Enregistré par erreur.")
    clock.at(14)
    m.ids["O1"] = _reply(h1, l2).id
    incoming("L8", 15, plain.id)
    l11 = incoming("L11", 16, plain.id)
    _route_and_accept(officer, h2, l11, d2.id)
    clock.at(17)
    letters.correct_letter(db.session, officer, l11, {"letter_type_id": typed.id}, "Type.")
    clock.at(20)
    m.ids["L9"] = _register(officer, register="outgoing", letter_type_id=plain.id).id
    close("L3", 25, h2)
    clock.at(26)
    portal.rate(db.session, _submission(org, request_type.id, l3), 2, "", "127.0.0.1")
    clock.at(27)
    reopening = portal.reopen(
        db.session,
        submission,
        "La réponse ne règle rien.",
        remote_addr="127.0.0.1",
        settings=portal.PortalSettings.from_config(current_app.config),
        message_pdf=_scan(),
    )
    m.ids["R"] = reopening.id
    l6 = incoming("L6", 31, typed.id, hour=23, minute=30)
    _route_and_accept(officer, h2, l6, d2.id)
    return m


@pytest.fixture
def march(app, clock) -> March:
    return build_march(clock)
