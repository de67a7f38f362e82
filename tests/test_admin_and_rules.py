"""The administration through HTTP: routing rules (applied or proposed at registration, Arabic
keywords matched whatever their spelling), a letter type's deadline rule, closure days; bad
input refused with nothing changed; only the organisation's own administrators get in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Assignment,
    AuditEvent,
    Closure,
    Contact,
    Department,
    LetterType,
    Role,
    RoutingRule,
)
from app.services import audit, configuration, routing_rules
from app.services import organisations as orgs
from app.services.actor import Actor
from app.services.errors import NotAllowed, ServiceError
from tests.conftest import PASSWORD, csrf_token
from tests.factories import register


@dataclass
class Setup:
    drh: Department
    dsi: Department
    daj: Department
    foreign: Department  # another organisation's
    courrier: LetterType
    other_admin_username: str = "other.admin"


@pytest.fixture
def admin_app(app):
    """The admin blueprint, until app/web.py registers it (then this does nothing)."""
    if "admin" not in app.blueprints:
        from app.blueprints import admin

        app.register_blueprint(admin.bp)
    return app


@pytest.fixture
def setup(admin_app, world) -> Setup:
    made = {
        code: orgs.create_department(
            db.session, None, world.org, code=code, name_ar=f"مديرية {code}", name_fr=f"Dir {code}"
        )
        for code in ("DRH", "DSI", "DAJ")
    }
    foreign = orgs.create_department(
        db.session, None, world.other_org, code="EXT", name_ar="مصلحة", name_fr="Service ext"
    )
    orgs.create_user(
        db.session,
        None,
        world.other_org,
        username="other.admin",
        full_name="Other Admin",
        password=PASSWORD,
        roles=[Role.ADMINISTRATOR],
    )
    courrier = db.session.scalar(
        select(LetterType).where(
            LetterType.organisation_id == world.org.id, LetterType.code == "COURRIER"
        )
    )
    return Setup(made["DRH"], made["DSI"], made["DAJ"], foreign, courrier)


def _rule_form(setup: Setup, **overrides) -> dict:
    data = {
        "name": "Réclamations",
        "position": "0",
        "letter_type_id": "",
        "correspondent_id": "",
        "keywords": "شكايه, réclamation",
        "action_department_id": str(setup.drh.id),
        "copy_department_ids": [str(setup.dsi.id)],
        "apply_automatically": "y",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _post(client, url, data, token_from=None):
    token = csrf_token(client, token_from or url)
    return client.post(url, data={"csrf_token": token, **data})


def _register(app, user, **fields):
    with app.test_request_context():
        return register(user, **fields)


def _assignments(letter) -> list[tuple[int, str]]:
    return [
        (a.department_id, a.kind)
        for a in db.session.scalars(
            select(Assignment).where(Assignment.letter_id == letter.id).order_by(Assignment.id)
        )
    ]


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_rule_created_over_http_routes_a_matching_letter_at_registration(
    admin_app, world, setup, client_for
):
    admin = client_for("admin")
    assert admin.get("/admin/").status_code == 200
    response = _post(admin, "/admin/rules/new", _rule_form(setup))
    assert response.status_code == 302, response.get_data(as_text=True)
    rule = db.session.scalar(select(RoutingRule))
    assert rule.organisation_id == world.org.id and rule.active and rule.apply_automatically
    assert rule.keywords == "شكايه, réclamation"
    assert rule.copy_department_ids == [setup.dsi.id]
    assert [e.object_id for e in _events("routing_rule.created")] == [rule.id]
    page = admin.get("/admin/rules").get_data(as_text=True)
    assert "Réclamations" in page and "Dir DRH" in page and "Dir DSI" in page

    officer = Actor(world.officer)
    letter = _register(admin_app, world.officer, subject="الشكاية المتعلقة بتأخر الرخصة")
    assert routing_rules.apply_at_registration(db.session, officer, letter).id == rule.id
    assert _assignments(letter) == [(setup.drh.id, "action"), (setup.dsi.id, "copy")]
    routed = _events("letter.routed")
    assert len(routed) == 1 and routed[0].actor_id == world.officer.id

    french = _register(admin_app, world.officer, subject="RECLAMATION concernant une facture")
    assert routing_rules.apply_at_registration(db.session, officer, french).id == rule.id
    assert _assignments(french)[0] == (setup.drh.id, "action")

    other = _register(admin_app, world.officer, subject="Demande de document administratif")
    assert routing_rules.matching_rule(db.session, other) is None
    assert routing_rules.apply_at_registration(db.session, officer, other) is None
    assert _assignments(other) == []
    assert audit.verify_chain(db.session, world.org.id).ok


@pytest.mark.parametrize(
    ("subject", "keyword"),
    [
        ("الشكاية المتعلقة بالماء", "شكايه"),
        ("الشِّكَايَةُ المتعلقة بالماء", "شكاية"),  # harakat
        ("الشكـــاية المتعلقة بالماء", "الشكاية"),  # tatweel
        ("طلب إدارة الموارد", "ادارة"),
        ("طلب ادارة الموارد", "إدارة"),
        ("مستشفى الحي", "مستشفي"),
        ("Plainte d'un usager", "PLAINTE"),
        ("Réclamation", "reclamation"),
    ],
)
def test_keywords_match_whatever_the_spelling(subject, keyword):
    rule = RoutingRule(keywords=f"autre, {keyword}", action_department_id=1)
    letter_like = type("L", (), {"subject": subject, "letter_type_id": None, "correspondent_id": 1})
    assert routing_rules.rule_matches(rule, letter_like)
    assert routing_rules.normalise_text(keyword) in routing_rules.normalise_text(subject)


def test_keyword_normalisation_keeps_other_letters_apart():
    normalise = routing_rules.normalise_text
    assert normalise("الشكاية") == normalise("الشكايه") == normalise("الشكــاية")
    assert normalise("مسؤول") != normalise("مسوول")  # hamza on waw is not folded away
    assert normalise("شكاية") not in normalise("شكر على الخدمة")
    rule = RoutingRule(keywords=" , ", action_department_id=1)
    letter_like = type("L", (), {"subject": "x", "letter_type_id": 1, "correspondent_id": 1})
    assert not routing_rules.rule_matches(rule, letter_like)  # no criterion: never matches


def test_proposal_only_rule_is_read_but_does_not_route(admin_app, world, setup):
    admin = Actor(world.admin)
    proposal = routing_rules.create_rule(
        db.session,
        admin,
        name="Courrier ordinaire",
        action_department_id=setup.daj.id,
        copy_department_ids=[setup.daj.id, setup.drh.id, setup.drh.id],
        letter_type_id=setup.courrier.id,
        position=5,
    )
    assert proposal.copy_department_ids == [setup.drh.id]  # the action one and repeats dropped
    letter = _register(admin_app, world.officer, letter_type_id=setup.courrier.id)
    assert routing_rules.matching_rule(db.session, letter).id == proposal.id
    assert routing_rules.apply_at_registration(db.session, Actor(world.officer), letter) is None
    assert _assignments(letter) == []

    # A lower position wins; every criterion given must hold; a deactivated rule is skipped.
    both = routing_rules.create_rule(
        db.session,
        admin,
        name="Courrier urgent",
        action_department_id=setup.dsi.id,
        letter_type_id=setup.courrier.id,
        keywords="urgent",
        position=1,
    )
    assert routing_rules.matching_rule(db.session, letter).id == proposal.id  # no "urgent"
    urgent = _register(
        admin_app, world.officer, letter_type_id=setup.courrier.id, subject="Très URGENT"
    )
    assert routing_rules.matching_rule(db.session, urgent).id == both.id
    routing_rules.deactivate_rule(db.session, admin, both)
    assert routing_rules.matching_rule(db.session, urgent).id == proposal.id
    assert [e.object_id for e in _events("routing_rule.deactivated")] == [both.id]

    # The correspondent criterion.
    contact = db.session.scalar(select(Contact).where(Contact.id == urgent.correspondent_id))
    by_sender = routing_rules.create_rule(
        db.session,
        admin,
        name="Ce correspondant",
        action_department_id=setup.drh.id,
        correspondent_id=contact.id,
    )
    assert routing_rules.matching_rule(db.session, urgent).id == by_sender.id
    assert routing_rules.matching_rule(db.session, letter).id == proposal.id


def test_edit_and_deactivate_a_rule_over_http(admin_app, world, setup, client_for):
    rule = routing_rules.create_rule(
        db.session,
        Actor(world.admin),
        name="Mutations",
        action_department_id=setup.drh.id,
        keywords="mutation",
    )
    admin = client_for("admin")
    form = admin.get(f"/admin/rules/{rule.id}/edit").get_data(as_text=True)
    assert 'value="Mutations"' in form and 'value="mutation"' in form
    response = _post(
        admin,
        f"/admin/rules/{rule.id}/edit",
        _rule_form(setup, name="Mutations et congés", keywords="mutation، congé", position="3"),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(rule)
    assert (rule.name, rule.keywords, rule.position) == (
        "Mutations et congés",
        "mutation, congé",
        3,
    )
    changes = _events("routing_rule.updated")[0].data["changes"]
    assert changes["keywords"] == ["mutation", "mutation, congé"]

    response = _post(admin, f"/admin/rules/{rule.id}/deactivate", {}, token_from="/admin/rules")
    assert response.status_code == 302
    db.session.refresh(rule)
    assert not rule.active
    assert "Inactive" in admin.get("/admin/rules").get_data(as_text=True)
    _post(admin, f"/admin/rules/{rule.id}/reactivate", {}, token_from="/admin/rules")
    db.session.refresh(rule)
    assert rule.active
    assert _count(RoutingRule) == 1  # never deleted


def test_deadline_rule_edited_over_http_gives_new_letters_a_due_date(
    admin_app, world, setup, client_for
):
    before = _register(admin_app, world.officer, letter_type_id=setup.courrier.id)
    assert before.due_on is None
    admin = client_for("admin")
    url = f"/admin/letter-types/{setup.courrier.id}/deadline"
    assert "Courrier" in admin.get("/admin/letter-types").get_data(as_text=True)
    response = _post(
        admin,
        url,
        {
            "deadline_days": "20",
            "deadline_unit": "working",
            "extension_days": "10",
            "max_extensions": "1",
            "urgent_days": "",
            "urgent_extension_days": "",
            "acknowledge_days": "",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(setup.courrier)
    assert (setup.courrier.deadline_days, setup.courrier.deadline_unit) == (20, "working")
    event = _events("letter_type.deadline_changed")[0]
    assert event.data["changes"]["deadline_days"] == [None, 20]

    assert "20 working days" in admin.get("/admin/letter-types").get_data(as_text=True)
    letter = _register(
        admin_app, world.officer, letter_type_id=setup.courrier.id, received_on=date(2026, 11, 2)
    )
    # 20 working days after Monday 2 November 2026 in Morocco (6 and 18 November are holidays).
    assert letter.due_on == date(2026, 12, 2)
    db.session.refresh(before)
    assert before.due_on is None  # letters already registered keep theirs

    # Bad input: refused with a message, nothing changed.
    bad_inputs = [
        ({"deadline_days": "-5"}, "The deadline is a number of days above zero"),
        ({"deadline_days": "0"}, "The deadline is a number of days above zero"),
        ({"extension_days": "-1"}, "Enter a whole number, zero or more."),
        ({"urgent_days": "-2"}, "Enter a whole number, zero or more, or leave it empty."),
        ({"deadline_unit": "weeks"}, "Choose working or calendar days."),
        ({"deadline_days": "vingt"}, "Not a valid integer value."),
    ]
    for change, message in bad_inputs:
        data = {
            "deadline_days": "30",
            "deadline_unit": "calendar",
            "extension_days": "0",
            "max_extensions": "0",
            **change,
        }
        response = _post(admin, url, data)
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
        db.session.refresh(setup.courrier)
        assert (setup.courrier.deadline_days, setup.courrier.deadline_unit) == (20, "working")
    assert len(_events("letter_type.deadline_changed")) == 1

    # Empty days: no deadline any more.
    data = {"deadline_days": "", "deadline_unit": "working", "extension_days": "0"}
    assert _post(admin, url, {**data, "max_extensions": "0"}).status_code == 302
    db.session.refresh(setup.courrier)
    assert setup.courrier.deadline_days is None


def test_closure_days_added_and_removed_over_http(admin_app, world, setup, client_for):
    configuration.update_deadline_rule(
        db.session, Actor(world.admin), setup.courrier, deadline_days=20, deadline_unit="working"
    )
    admin = client_for("admin")
    response = _post(admin, "/admin/closures", {"day": "2026-11-03", "reason": "Inventaire"})
    assert response.status_code == 302, response.get_data(as_text=True)
    closure = db.session.scalar(select(Closure))
    assert (closure.organisation_id, closure.day, closure.reason) == (
        world.org.id,
        date(2026, 11, 3),
        "Inventaire",
    )
    assert "Inventaire" in admin.get("/admin/closures").get_data(as_text=True)
    letter = _register(
        admin_app, world.officer, letter_type_id=setup.courrier.id, received_on=date(2026, 11, 2)
    )
    assert letter.due_on == date(2026, 12, 3)  # one working day later than without the closure

    again = _post(admin, "/admin/closures", {"day": "2026-11-03", "reason": "Deux fois"})
    assert again.status_code == 422
    assert "This day is already a closure day." in again.get_data(as_text=True)
    assert _count(Closure) == 1

    response = _post(admin, f"/admin/closures/{closure.id}/remove", {}, "/admin/closures")
    assert response.status_code == 302
    assert _count(Closure) == 0
    removed = _events("closure.removed")
    assert len(removed) == 1 and removed[0].data == {"day": "2026-11-03", "reason": "Inventaire"}
    assert audit.verify_chain(db.session, world.org.id).ok


def test_bad_rule_input_is_refused_and_nothing_changes(admin_app, world, setup, client_for):
    admin = client_for("admin")
    other_type = db.session.scalar(
        select(LetterType).where(LetterType.organisation_id == world.other_org.id)
    )
    bad_inputs = [
        ({"action_department_id": "999999"}, "Unknown department."),
        ({"action_department_id": str(setup.foreign.id)}, "Unknown department."),
        ({"copy_department_ids": [str(setup.foreign.id)]}, "Unknown department."),
        ({"letter_type_id": str(other_type.id)}, "Unknown letter type."),
        ({"correspondent_id": "999999"}, "Unknown correspondent."),
        ({"keywords": ""}, "Give at least one criterion"),
        ({"name": ""}, "This field is required."),
        ({"position": "-1"}, "The position is a number from 0 to 9999."),
    ]
    for change, message in bad_inputs:
        response = _post(admin, "/admin/rules/new", _rule_form(setup, **change))
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
    assert _count(RoutingRule) == 0
    assert _events("routing_rule.created") == []

    # Without the CSRF token: refused.
    response = admin.post("/admin/rules/new", data=_rule_form(setup))
    assert response.status_code == 400 and _count(RoutingRule) == 0

    # The service checks the same, and the right.
    with pytest.raises(ServiceError, match="Unknown department"):
        routing_rules.create_rule(
            db.session,
            Actor(world.admin),
            name="x",
            action_department_id=setup.foreign.id,
            keywords="x",
        )
    with pytest.raises(NotAllowed):
        routing_rules.create_rule(
            db.session,
            Actor(world.officer),
            name="x",
            action_department_id=setup.drh.id,
            keywords="x",
        )
    with pytest.raises(NotAllowed):
        configuration.add_closure(db.session, Actor(world.officer), date(2026, 11, 3))
    with pytest.raises(NotAllowed):
        configuration.update_deadline_rule(
            db.session, Actor(world.admin), other_type, deadline_days=10
        )
    assert _count(RoutingRule) == 0 and _count(Closure) == 0


def test_only_the_organisations_administrators_get_in(admin_app, world, setup, client_for):
    rule = routing_rules.create_rule(
        db.session,
        Actor(world.admin),
        name="Mutations",
        action_department_id=setup.drh.id,
        keywords="mutation",
    )
    closure = configuration.add_closure(db.session, Actor(world.admin), date(2026, 11, 3))
    pages = [
        "/admin/",
        "/admin/rules",
        "/admin/rules/new",
        f"/admin/rules/{rule.id}/edit",
        "/admin/letter-types",
        f"/admin/letter-types/{setup.courrier.id}/deadline",
        "/admin/closures",
    ]
    posts = [
        f"/admin/rules/{rule.id}/deactivate",
        f"/admin/closures/{closure.id}/remove",
        "/admin/closures",
    ]
    for username in ("officer", "agent"):
        client = client_for(username)
        for url in pages:
            assert client.get(url).status_code == 403, (username, url)
        for url in posts:
            assert _post(client, url, {"day": "2026-11-04"}, "/account").status_code == 403, url

    other_admin = client_for("other.admin")
    assert other_admin.get("/admin/rules").status_code == 200
    assert "Mutations" not in other_admin.get("/admin/rules").get_data(as_text=True)
    for url in pages[3:4] + pages[5:6]:
        assert other_admin.get(url).status_code == 404, url
    for url in posts[:2]:
        assert _post(other_admin, url, {}, "/admin/rules").status_code == 404, url
    response = _post(other_admin, f"/admin/rules/{rule.id}/edit", _rule_form(setup), "/admin/rules")
    assert response.status_code == 404

    anonymous = admin_app.test_client()
    assert anonymous.get("/admin/rules").status_code == 302

    db.session.refresh(rule)
    assert rule.active and rule.name == "Mutations" and _count(Closure) == 1
    assert db.session.get(Closure, closure.id) is not None


def test_admin_pages_in_arabic(admin_app, world, setup, client_for):
    actor = Actor(world.admin)
    rule = routing_rules.create_rule(
        db.session,
        actor,
        name="الشكايات",
        action_department_id=setup.drh.id,
        copy_department_ids=[setup.dsi.id, setup.daj.id],
        letter_type_id=setup.courrier.id,
        keywords="شكاية",
    )
    configuration.update_deadline_rule(
        db.session,
        actor,
        setup.courrier,
        deadline_days=60,
        deadline_unit="calendar",
        extension_days=30,
        max_extensions=1,
        pausable=True,
        urgent_days=5,
    )
    configuration.add_closure(db.session, actor, date(2026, 11, 3), "جرد")
    world.admin.locale = "ar"
    db.session.commit()
    admin = client_for("admin")
    for url in (
        "/admin/",
        "/admin/rules",
        "/admin/rules/new",
        f"/admin/rules/{rule.id}/edit",
        "/admin/letter-types",
        f"/admin/letter-types/{setup.courrier.id}/deadline",
        "/admin/closures",
    ):
        response = admin.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert 'dir="rtl"' in page, url
        if url != "/admin/":
            assert 'class="tab" href="' in page and 'aria-current="page"' in page, url
    rules_page = admin.get("/admin/rules").get_data(as_text=True)
    assert "مديرية DRH" in rules_page and "مديرية DAJ" in rules_page and "مراسلة" in rules_page
    assert "جرد" in admin.get("/admin/closures").get_data(as_text=True)


def test_reply_templates_are_managed_by_the_administrator(app, world, client_for):
    from app.models import ReplyTemplate

    admin = client_for("admin")
    token = csrf_token(admin, "/admin/reply-templates/new")
    response = admin.post(
        "/admin/reply-templates/new",
        data={"csrf_token": token, "name": "Accusé", "language": "fr", "body": "Objet : {subject}"},
    )
    assert response.status_code == 302
    template = db.session.scalar(select(ReplyTemplate).where(ReplyTemplate.name == "Accusé"))
    assert template.active and template.body == "Objet : {subject}"
    # empty text refused, nothing changed
    refused = admin.post(
        f"/admin/reply-templates/{template.id}/edit",
        data={"csrf_token": token, "name": "Accusé", "language": "fr", "body": ""},
    )
    assert refused.status_code == 422
    db.session.refresh(template)
    assert template.body == "Objet : {subject}"
    admin.post(f"/admin/reply-templates/{template.id}/deactivate", data={"csrf_token": token})
    db.session.refresh(template)
    assert not template.active
    # officers get 403, another organisation's administrator 404
    assert client_for("officer").get("/admin/reply-templates").status_code == 403
    other_admin = orgs.create_user(
        db.session,
        None,
        world.other_org,
        username="other.admin",
        full_name="Other",
        password=PASSWORD,
        roles=[Role.ADMINISTRATOR],
    )
    assert other_admin.id
    other = client_for("other.admin")
    assert other.get(f"/admin/reply-templates/{template.id}/edit").status_code == 404


def test_administrator_adds_a_letter_type_then_its_rule(app, world, client_for):
    admin = client_for("admin")
    token = csrf_token(admin, "/admin/letter-types/new")
    data = {"csrf_token": token, "code": "reclam", "name_ar": "تظلم", "name_fr": "Réclamation"}
    response = admin.post("/admin/letter-types/new", data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith("/deadline")
    created = db.session.scalar(select(LetterType).where(LetterType.code == "RECLAM"))
    assert created.organisation_id == world.org.id and created.deadline_days is None
    # the same code again, a bad code, a missing Arabic name: refused, nothing added
    for bad in ({"code": "reclam"}, {"code": "bad code!"}, {"code": "OTHER", "name_ar": " "}):
        assert admin.post("/admin/letter-types/new", data={**data, **bad}).status_code == 422
    assert (
        db.session.scalar(
            select(func.count(LetterType.id)).where(LetterType.organisation_id == world.org.id)
        )
        == 2
    )
    assert client_for("officer").get("/admin/letter-types/new").status_code == 403
