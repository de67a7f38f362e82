"""The e-counter's test world: an administration publishing request types (a complaint type
with a deadline and reopening, a letter type without e-mail), a routing rule for complaints."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from app.deadlines import COMPLAINT
from app.extensions import db
from app.models import Department, LetterType, PortalRequestType, Role
from app.services import organisations as orgs
from app.services import pki, portal_types, routing_rules
from app.services.actor import Actor
from app.services.deadlines import rule_columns
from tests.conftest import _user
from tests.helpers import blank_pdf

_CODE = re.compile(r'class="tracking-code" dir="ltr">([0-9A-Z-]+)<')


@dataclass
class Portal:
    complaint: PortalRequestType
    letter: PortalRequestType
    department: Department
    complaint_type: LetterType


@pytest.fixture(autouse=True)
def _fresh_key_cache(monkeypatch):
    # Opened keys are cached per process by row id; each test has a new database.
    monkeypatch.setattr(pki, "_opened", {})


@pytest.fixture
def portal_world(app, world) -> Portal:
    admin = Actor(world.admin)
    department = orgs.create_department(
        db.session,
        None,
        world.org,
        code="SRC",
        name_ar="مصلحة المرتفقين",
        name_fr="Relations usagers",
    )
    head = _user(world.org, "head.src", [Role.DEPARTMENT_HEAD])
    head.department_id = department.id
    db.session.commit()
    complaint_type = orgs.create_letter_type(
        db.session,
        None,
        world.org,
        code="PLAINTE",
        name_ar="شكاية",
        name_fr="Plainte",
        deadline_rule=rule_columns(COMPLAINT),
    )
    complaint = portal_types.save_request_type(
        db.session,
        admin,
        None,
        code="plainte",
        name_ar="شكاية",
        name_fr="Plainte",
        name_en="Complaint",
        letter_type_id=complaint_type.id,
        required_fields=["national_id"],
        email_mode="optional",
        reopen_days=30,
    )
    letter = portal_types.save_request_type(
        db.session,
        admin,
        None,
        code="courrier",
        name_ar="مراسلة",
        name_fr="Courrier",
        email_mode="required",
        position=1,
    )
    routing_rules.create_rule(
        db.session,
        admin,
        name="Plaintes",
        action_department_id=department.id,
        letter_type_id=complaint_type.id,
        apply_automatically=True,
    )
    orgs.create_reply_template(
        db.session,
        None,
        world.org,
        name="Réponse",
        language="fr",
        body="Madame, Monsieur {correspondent},\n\nVotre demande {number} a été traitée.",
    )
    return Portal(complaint, letter, department, complaint_type)


def answer(client_for, letter) -> None:
    """The head of the department the letter was routed to accepts it and dispatches a reply."""
    from sqlalchemy import select

    from app.models import ReplyTemplate
    from tests.test_routing import _action_assignment, _post

    head = client_for("head.src")
    _post(head, letter, f"assignments/{_action_assignment(letter).id}/accept")
    template_id = str(db.session.scalar(select(ReplyTemplate.id)))
    _post(head, letter, "reply/start", {"template_id": template_id, "language": "fr"})
    response = _post(head, letter, "reply/dispatch", {"channel": "portal"})
    assert response.status_code == 302, response.get_data(as_text=True)


def submission_form(**overrides) -> dict:
    data = {
        "name": "فاطمة الزهراء بنعلي",
        "national_id": "BE123456",
        "email": "",
        "phone": "",
        "address": "",
        "subject": "تأخر في تسليم الشهادة الإدارية",
        "message": "السلام عليكم، طلبت شهادة إدارية منذ شهرين ولم أتوصل بها إلى حد الآن.",
        "website": "",
    }
    data.update(overrides)
    return data


def pdf_upload(name: str = "شكاية.pdf", data: bytes | None = None):
    import io

    return (io.BytesIO(data if data is not None else blank_pdf()), name)


def tracking_code(page: str) -> str:
    match = _CODE.search(page)
    assert match, "no tracking code on the page"
    return match.group(1)
