"""The e-counter seen from the letter page: the box (request type, complement awaited, the
citizen's rating, the reopening), and the processing department asking the citizen for a
complement, which stops the clock where the procedure allows it until the citizen answers."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from app.deadlines import PLAIN_LETTER
from app.extensions import db
from app.models import AuditEvent, Document, Letter, PortalSubmission, Role, User
from app.services import organisations as orgs
from app.services import portal_types, routing_rules
from app.services.actor import Actor
from app.services.deadlines import rule_columns
from tests.conftest import _user, csrf_token
from tests.factories import register
from tests.portal.conftest import pdf_upload, submission_form
from tests.test_routing import _action_assignment, _post

COMPLAINT_FORM = "/portal/mtn/plainte"
REQUEST_FORM = "/portal/mtn/demande"
TOO_SHORT = "Say what the citizen must add (10 to 2,000 characters)."
MESSAGE = "Merci de joindre une copie de votre carte nationale et le reçu de votre demande."


@pytest.fixture
def pausable(world, portal_world):
    """A request type whose letter type follows the ordinary-letter rule (the clock may stop),
    routed automatically to the same department as complaints."""
    admin = Actor(world.admin)
    letter_type = orgs.create_letter_type(
        db.session,
        None,
        world.org,
        code="DEMANDE",
        name_ar="طلب",
        name_fr="Demande",
        deadline_rule=rule_columns(PLAIN_LETTER),
    )
    request_type = portal_types.save_request_type(
        db.session,
        admin,
        None,
        code="demande",
        name_ar="طلب",
        name_fr="Demande",
        name_en="General request",
        letter_type_id=letter_type.id,
        email_mode="optional",
        position=2,
    )
    routing_rules.create_rule(
        db.session,
        admin,
        name="Demandes",
        action_department_id=portal_world.department.id,
        letter_type_id=letter_type.id,
        apply_automatically=True,
    )
    return request_type


def submit(app, url=COMPLAINT_FORM):
    """A citizen submits without e-mail: registered and routed at once. The browser keeps
    access to its request."""
    client = app.test_client()
    data = submission_form(csrf_token=csrf_token(client, url), attachments=[pdf_upload()])
    response = client.post(url, data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    client.get(response.location)
    submission = db.session.scalar(select(PortalSubmission).order_by(PortalSubmission.id.desc()))
    return client, submission


def accepted(client_for, letter):
    head = client_for("head.src")
    response = _post(head, letter, f"assignments/{_action_assignment(letter).id}/accept")
    assert response.status_code == 302
    return head


def ask(client, letter, message=MESSAGE):
    return _post(client, letter, "complement-request", {"message": message})


def page_of(client, url) -> str:
    return html.unescape(client.get(url).get_data(as_text=True))


def fresh(letter: Letter) -> tuple[Letter, PortalSubmission]:
    db.session.commit()  # end the test's transaction: read what the requests wrote
    db.session.expire_all()
    letter = db.session.get(Letter, letter.id)
    return letter, portal_submission(letter)


def portal_submission(letter: Letter) -> PortalSubmission:
    return db.session.scalar(
        select(PortalSubmission).where(
            (PortalSubmission.letter_id == letter.id)
            | (PortalSubmission.reopened_letter_id == letter.id)
        )
    )


def events(letter: Letter, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.letter_id == letter.id, AuditEvent.action == action)
        )
    )


def documents(letter: Letter) -> int:
    return db.session.scalar(select(func.count(Document.id)).where(Document.letter_id == letter.id))


def complement(client, submission, text, files):
    url = f"/portal/requests/{submission.public_id}"
    data = {"csrf_token": csrf_token(client, url), "message": text, "attachments": files}
    return client.post(f"{url}/complement", data=data, content_type="multipart/form-data")


# -- asking, and the citizen's answer --------------------------------------------------------


def test_the_department_asks_a_complement_the_clock_stops_and_the_citizen_answers(
    app, pausable, client_for
):
    citizen, submission = submit(app, REQUEST_FORM)
    letter = submission.letter
    assert letter.due_on is not None
    head = accepted(client_for, letter)
    url = f"/letters/{letter.id}"
    page = page_of(head, url)
    assert "E-counter" in page and "General request" in page and "None awaited" in page
    assert "complement-request-form" in page and "The clock stops until the citizen answers" in page
    documents_before = documents(letter)

    response = ask(head, letter)
    assert response.status_code == 302 and response.location.endswith(url)
    page = page_of(head, url)
    assert "The citizen was asked for a complement." in page
    letter, submission = fresh(letter)
    assert letter.clock_pauses and letter.clock_pauses[-1][1] is None  # the clock is stopped
    assert letter.due_on is None
    assert submission.complement_request == MESSAGE
    assert submission.complement_requested_at is not None
    [event] = events(letter, "portal.complement_requested")
    head_user = db.session.scalar(select(User).where(User.username == "head.src"))
    assert event.data == {"message": MESSAGE, "clock_stopped": True}
    assert event.actor_id == head_user.id
    # The box says what is awaited, since when; no second request while one is awaited.
    assert "Awaited from the citizen since" in page and MESSAGE in page
    assert "Clock stopped since" in page
    assert "complement-request-form" not in page
    ask(head, letter, "Une autre pièce encore, s'il vous plaît.")
    letter, submission = fresh(letter)
    assert submission.complement_request == MESSAGE
    assert len(events(letter, "portal.complement_requested")) == 1

    # The citizen sees the request and a form to answer it.
    request_url = f"/portal/requests/{submission.public_id}"
    citizen_page = page_of(citizen, request_url)
    assert "The administration asks you for a complement" in citizen_page
    assert MESSAGE in citizen_page and f"{request_url}/complement" in citizen_page
    assert "Paused while your complement is awaited" in citizen_page

    response = complement(
        citizen, submission, "Voici la copie demandée.", [pdf_upload("carte.pdf")]
    )
    assert response.status_code == 302
    letter, submission = fresh(letter)
    assert documents(letter) == documents_before + 2  # the answer as a PDF, and the attachment
    assert letter.clock_pauses[-1][1] is not None and letter.due_on is not None  # restarted
    assert submission.complement_requested_at is None and submission.complement_request == ""
    assert len(events(letter, "portal.complement_added")) == 1
    citizen_page = page_of(citizen, request_url)
    assert "Your complement was received" in citizen_page
    assert "Processing resumed" in citizen_page
    assert f"{request_url}/complement" not in citizen_page  # nothing awaited any more
    page = page_of(head, url)
    assert "Complement added by the citizen" in page and "carte.pdf" in page
    assert "None awaited" in page and "complement-request-form" in page


def test_a_complaint_s_clock_does_not_stop_but_the_request_is_made(app, portal_world, client_for):
    citizen, submission = submit(app)
    letter = submission.letter
    assert not letter.letter_type.pausable  # the complaints decree has no pause
    due = letter.due_on
    head = accepted(client_for, letter)
    page = page_of(head, f"/letters/{letter.id}")
    assert "This procedure's clock does not stop: the deadline keeps running." in page
    ask(head, letter)
    letter, submission = fresh(letter)
    assert letter.clock_pauses == [] and letter.due_on == due
    assert submission.complement_request == MESSAGE
    [event] = events(letter, "portal.complement_requested")
    assert event.data["clock_stopped"] is False
    assert events(letter, "letter.clock_stopped") == []
    citizen_page = page_of(citizen, f"/portal/requests/{submission.public_id}")
    assert MESSAGE in citizen_page and "Paused while your complement is awaited" not in citizen_page


# -- who may ask, and what -------------------------------------------------------------------


def test_only_the_processing_department_may_ask(app, world, portal_world, client_for):
    _citizen, submission = submit(app)
    letter = submission.letter
    other_department = orgs.create_department(
        db.session, None, world.org, code="OTH", name_ar="أخرى", name_fr="Autre"
    )
    other_head = _user(world.org, "head.other", [Role.DEPARTMENT_HEAD])
    other_head.department_id = other_department.id
    db.session.commit()

    head = client_for("head.src")
    # Not accepted yet: the department does not process it yet.
    token = csrf_token(head, f"/letters/{letter.id}")
    assert "complement-request-form" not in page_of(head, f"/letters/{letter.id}")
    response = head.post(
        f"/letters/{letter.id}/complement-request", data={"csrf_token": token, "message": MESSAGE}
    )
    assert response.status_code == 403
    accepted(client_for, letter)

    officer = client_for("officer")  # the registry sees the letter, but does not process it
    page = page_of(officer, f"/letters/{letter.id}")
    assert "E-counter" in page and "complement-request-form" not in page
    assert ask(officer, letter).status_code == 403
    stranger = client_for("head.other")  # another department does not even see it
    token = csrf_token(stranger, "/inbox")
    response = stranger.post(
        f"/letters/{letter.id}/complement-request", data={"csrf_token": token, "message": MESSAGE}
    )
    assert response.status_code == 404

    letter, submission = fresh(letter)
    assert submission.complement_requested_at is None and submission.complement_request == ""
    assert letter.clock_pauses == []
    assert events(letter, "portal.complement_requested") == []


@pytest.mark.parametrize("message", ["Trop bref", "   court     ", "x" * 2001])
def test_a_message_too_short_or_too_long_is_refused(app, pausable, client_for, message):
    _citizen, submission = submit(app, REQUEST_FORM)
    letter = submission.letter
    head = accepted(client_for, letter)
    response = ask(head, letter, message)
    assert response.status_code == 302
    assert TOO_SHORT in page_of(head, f"/letters/{letter.id}")
    letter, submission = fresh(letter)
    assert submission.complement_requested_at is None
    assert letter.clock_pauses == [] and letter.due_on is not None
    assert events(letter, "portal.complement_requested") == []


def test_a_letter_from_the_desk_has_no_box_and_cannot_be_asked(
    app, world, portal_world, client_for
):
    with app.test_request_context():
        letter = register(world.officer, subject="Lettre reçue au guichet")
    officer = client_for("officer")
    response = _post(
        officer, letter, "route", {"action_department_id": str(portal_world.department.id)}
    )
    assert response.status_code == 302
    head = accepted(client_for, letter)
    page = page_of(head, f"/letters/{letter.id}")
    assert "E-counter" not in page and "complement-request-form" not in page
    assert "Close the letter" in page  # the head does process it
    response = ask(head, letter)
    assert response.status_code == 302
    assert "This letter did not come from the e-counter." in page_of(head, f"/letters/{letter.id}")
    letter, _submission = fresh(letter)
    assert letter.clock_pauses == []
    assert events(letter, "portal.complement_requested") == []


# -- the rating and the reopening, in the box ----------------------------------------------


def rate(client, submission, stars, comment=""):
    url = f"/portal/requests/{submission.public_id}"
    data = {"csrf_token": csrf_token(client, url), "stars": str(stars), "comment": comment}
    return client.post(f"{url}/rate", data=data)


def test_the_box_shows_the_citizen_s_rating_and_the_reopening(app, portal_world, client_for):
    citizen, submission = submit(app)
    first = submission.letter
    head = accepted(client_for, first)
    assert "Not rated" in page_of(head, f"/letters/{first.id}")
    response = _post(head, first, "close", {"outcome": "answered", "comment": "Traité."})
    assert response.status_code == 302
    assert rate(citizen, submission, 4, "Clair et rapide.").status_code == 302
    page = page_of(head, f"/letters/{first.id}")
    assert "★★★★☆" in page and "Clair et rapide." in page and "Not rated" not in page

    url = f"/portal/requests/{submission.public_id}"
    reason = "La réponse ne traite pas de ma demande de certificat."
    citizen.post(f"{url}/reopen", data={"csrf_token": csrf_token(citizen, url), "reason": reason})
    first, submission = fresh(first)
    second = submission.reopened_letter
    assert second is not None
    page = page_of(head, f"/letters/{first.id}")
    assert "Reopened by the citizen as" in page and second.number in page
    second_page = page_of(head, f"/letters/{second.id}")
    assert "Reopens" in second_page and first.number in second_page
    # The rating was of the first letter, not of its reopening.
    assert "★★★★☆" not in second_page and "Not rated" in second_page


def test_the_citizens_answer_leaves_a_clock_the_department_stopped_itself(
    app, pausable, client_for
):
    client, submission = submit(app, REQUEST_FORM)
    head = accepted(client_for, submission.letter)
    _post(head, submission.letter, "clock/stop")
    letter, _ = fresh(submission.letter)
    assert letter.clock_pauses and letter.clock_pauses[-1][1] is None
    ask(head, letter)
    letter, submission = fresh(letter)
    assert submission.complement_stopped_clock is False
    complement(client, submission, "Voici la copie demandée.", [pdf_upload("cin.pdf")])
    letter, submission = fresh(letter)
    assert submission.complement_requested_at is None
    assert letter.clock_pauses[-1][1] is None  # still stopped: the department restarts it


def test_a_request_left_unanswered_does_not_follow_the_reopened_complaint(
    app, portal_world, client_for
):
    client, submission = submit(app)
    head = accepted(client_for, submission.letter)
    ask(head, submission.letter)
    _post(head, submission.letter, "close", {"outcome": "answered", "comment": ""})
    url = f"/portal/requests/{submission.public_id}"
    data = {
        "csrf_token": csrf_token(client, url),
        "reason": "La réponse ne traite pas de ma demande de certificat.",
    }
    client.post(f"{url}/reopen", data=data)
    _, submission = fresh(submission.letter)
    assert submission.reopened_letter_id is not None
    assert submission.complement_requested_at is None
    assert "Send the complement" not in page_of(client, url)


def test_a_refused_complement_says_why(app, pausable, client_for):
    client, submission = submit(app, REQUEST_FORM)
    head = accepted(client_for, submission.letter)
    ask(head, submission.letter)
    response = complement(client, submission, "x" * 20_001, [])
    page = page_of(client, response.location)
    assert "Field cannot be longer than 20000 characters." in page
    _, submission = fresh(submission.letter)
    assert submission.complement_requested_at is not None  # still awaited
