"""The e-counter's request types, configured by the administrators over HTTP: created, changed,
published or withdrawn from the public pages; bad input refused with nothing saved; only the
organisation's own administrators get in."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, LetterType, PortalRequestType
from app.services import audit, portal_types
from app.services.actor import Actor
from tests.conftest import csrf_token

NEW = "/admin/portal-types/new"


def _letter_type(organisation) -> LetterType:
    return db.session.scalar(
        select(LetterType).where(
            LetterType.organisation_id == organisation.id, LetterType.code == "COURRIER"
        )
    )


def _form(world, **overrides) -> dict:
    data = {
        "code": "plainte",
        "name_ar": "شكاية",
        "name_fr": "Plainte",
        "name_en": "Complaint",
        "letter_type_id": str(_letter_type(world.org).id),
        "required_fields": ["national_id", "phone"],
        "email_mode": "optional",
        "reopen_days": "30",
        "published": "y",
        "position": "0",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _post(client, url, data):
    return client.post(url, data={"csrf_token": csrf_token(client, url), **data})


def _types(organisation) -> list[PortalRequestType]:
    return list(
        db.session.scalars(
            select(PortalRequestType).where(PortalRequestType.organisation_id == organisation.id)
        )
    )


def _saved(world, **overrides) -> PortalRequestType:
    values = {
        "code": "plainte",
        "name_ar": "شكاية",
        "name_fr": "Plainte",
        "name_en": "Complaint",
    }
    values.update(overrides)
    return portal_types.save_request_type(db.session, Actor(world.admin), None, **values)


def test_an_administrator_creates_a_type_that_the_portal_then_publishes(app, world, client_for):
    admin = client_for("admin")
    public = app.test_client()
    assert public.get("/portal/mtn/").status_code == 404  # nothing published yet
    page = admin.get(NEW).get_data(as_text=True)
    assert 'type="checkbox" value="national_id"' in page
    assert "E-mail optional: without one, the citizen keeps the tracking code" in page

    response = _post(admin, NEW, _form(world, code=" Plainte "))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/admin/portal-types")

    (created,) = _types(world.org)
    assert created.code == "plainte"
    assert (created.name_ar, created.name_fr, created.name_en) == ("شكاية", "Plainte", "Complaint")
    assert created.letter_type_id == _letter_type(world.org).id
    assert created.required_fields == ["national_id", "phone"]
    assert (created.email_mode, created.reopen_days, created.published) == ("optional", 30, True)

    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "portal_type.created")
    )
    assert event.object_id == created.id and event.organisation_id == world.org.id
    assert event.actor_id == world.admin.id and event.data["code"] == "plainte"
    assert audit.verify_chain(db.session, world.org.id).ok

    listing = admin.get("/admin/portal-types").get_data(as_text=True)
    assert "Complaint" in listing and "Courrier" in listing
    assert "National ID number" in listing and "Telephone" in listing
    assert "30 days" in listing
    assert 'href="/portal/mtn/plainte"' in listing

    assert "Complaint" in public.get("/portal/mtn/").get_data(as_text=True)
    assert public.get("/portal/mtn/plainte").status_code == 200


def test_the_nav_leads_to_the_request_types(world, client_for):
    _saved(world)
    admin = client_for("admin")
    assert 'href="/admin/portal-types"' in admin.get("/admin/rules").get_data(as_text=True)
    listing = admin.get("/admin/portal-types")
    assert listing.status_code == 200
    assert "Complaint" in listing.get_data(as_text=True)


def test_editing_changes_the_type_and_unpublishing_hides_it(world, client_for, app):
    request_type = _saved(world, required_fields=["national_id"], reopen_days=30)
    admin = client_for("admin")
    url = f"/admin/portal-types/{request_type.id}/edit"
    page = admin.get(url).get_data(as_text=True)
    # the form shows the stored values
    assert 'value="plainte"' in page
    assert '<input checked id="required_fields-0"' in page  # national_id
    assert '<input id="required_fields-2"' in page  # phone, not required
    assert '<option selected value="optional">' in page

    public = app.test_client()
    assert public.get("/portal/mtn/plainte").status_code == 200

    response = _post(
        admin,
        url,
        _form(
            world,
            name_fr="Réclamation",
            letter_type_id="",
            required_fields=None,
            email_mode="required",
            reopen_days="",
            published=None,
            position="3",
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(request_type)
    assert request_type.name_fr == "Réclamation"
    assert request_type.letter_type_id is None and request_type.required_fields == []
    assert request_type.email_mode == "required" and request_type.reopen_days is None
    assert request_type.published is False and request_type.position == 3
    assert len(_types(world.org)) == 1
    assert db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "portal_type.changed")
    )

    assert public.get("/portal/mtn/plainte").status_code == 404
    assert public.get("/portal/mtn/").status_code == 404  # no published type left
    listing = admin.get("/admin/portal-types").get_data(as_text=True)
    assert "/portal/mtn/plainte" not in listing

    # the same code again on the same type is not a duplicate
    response = _post(admin, url, _form(world))
    assert response.status_code == 302
    db.session.refresh(request_type)
    assert request_type.published is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code": "A B"}, "The code is 1 to 40 lower-case letters, digits or hyphens."),
        ({"code": "courrier"}, "Another request type has this code."),
        ({"required_fields": ["national_id", "passport"]}, "Unknown identity field."),
        ({"reopen_days": "0"}, "Reopening is allowed for 1 to 365 days."),
        ({"reopen_days": "400"}, "Reopening is allowed for 1 to 365 days."),
        ({"email_mode": "sometimes"}, "Unknown e-mail setting."),
        ({"name_ar": " "}, "This field is required."),
        ({"position": ""}, "This field is required."),
    ],
)
def test_bad_input_is_refused_with_its_message_and_nothing_saved(
    world, client_for, overrides, message
):
    _saved(world, code="courrier", name_en="Letter")
    admin = client_for("admin")
    before = db.session.scalar(select(func.count(AuditEvent.id)))

    response = _post(admin, NEW, _form(world, **overrides))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert 'class="error" role="alert"' in page  # beside its field
    assert [t.code for t in _types(world.org)] == ["courrier"]
    assert db.session.scalar(select(func.count(AuditEvent.id))) == before


def test_an_edit_refused_changes_nothing(world, client_for):
    _saved(world, code="courrier", name_en="Letter")
    request_type = _saved(world, reopen_days=30)
    admin = client_for("admin")
    url = f"/admin/portal-types/{request_type.id}/edit"
    for bad in ({"code": "courrier"}, {"reopen_days": "0"}, {"code": "A B"}):
        assert _post(admin, url, _form(world, **bad)).status_code == 422
    db.session.refresh(request_type)
    assert (request_type.code, request_type.reopen_days) == ("plainte", 30)


def test_another_organisations_letter_type_is_refused(world, client_for):
    admin = client_for("admin")
    foreign = _letter_type(world.other_org)
    response = _post(admin, NEW, _form(world, letter_type_id=str(foreign.id)))
    assert response.status_code == 422
    assert "Unknown letter type." in response.get_data(as_text=True)
    assert _types(world.org) == []


def test_only_administrators_get_in(world, client_for):
    request_type = _saved(world)
    officer = client_for("officer")
    for url in ("/admin/portal-types", NEW, f"/admin/portal-types/{request_type.id}/edit"):
        assert officer.get(url).status_code == 403, url
    token = csrf_token(officer, "/account")
    response = officer.post(NEW, data={"csrf_token": token, **_form(world, code="autre")})
    assert response.status_code == 403
    assert len(_types(world.org)) == 1


def test_another_organisations_type_is_not_found(world, client_for):
    from app.models import Role
    from app.services import organisations as orgs
    from tests.conftest import PASSWORD

    other_admin = orgs.create_user(
        db.session,
        None,
        world.other_org,
        username="other.admin",
        full_name="Other Admin",
        password=PASSWORD,
        roles=[Role.ADMINISTRATOR],
    )
    foreign = portal_types.save_request_type(
        db.session, Actor(other_admin), None, code="wilaya", name_ar="ولاية", name_fr="Plainte"
    )
    assert foreign.organisation_id == world.other_org.id

    admin = client_for("admin")
    url = f"/admin/portal-types/{foreign.id}/edit"
    assert admin.get(url).status_code == 404
    token = csrf_token(admin, NEW)
    response = admin.post(url, data={"csrf_token": token, **_form(world, code="wilaya")})
    assert response.status_code == 404
    assert admin.get("/admin/portal-types/999999/edit").status_code == 404
    # and the listing shows only the administrator's own types
    assert "wilaya" not in admin.get("/admin/portal-types").get_data(as_text=True)
    db.session.refresh(foreign)
    assert foreign.name_fr == "Plainte"


def test_the_form_needs_its_csrf_token(world, client_for):
    admin = client_for("admin")
    assert admin.post(NEW, data=_form(world)).status_code == 400
    request_type = _saved(world)
    url = f"/admin/portal-types/{request_type.id}/edit"
    assert admin.post(url, data=_form(world, name_fr="Changé")).status_code == 400
    assert [t.name_fr for t in _types(world.org)] == ["Plainte"]
