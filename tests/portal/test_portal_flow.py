"""A request's life on the e-counter: e-mail confirmation, the sealed receipt (on screen and by
e-mail), the timeline, the answer, the rating, the reopening of a complaint, the account."""

from __future__ import annotations

import email
import io
import socket
from datetime import timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    CitizenAccount,
    Letter,
    LetterLink,
    OutgoingEmail,
    PortalRating,
    PortalSubmission,
)
from app.services import pki
from app.worker import run_once
from signing.validation import validate
from tests.conftest import csrf_token
from tests.portal.conftest import answer, pdf_upload, submission_form, tracking_code

FORM = "/portal/mtn/plainte"
PASSWORD = "un mot de passe sûr"


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp(app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, BASE_URL="http://diwan.test")
    yield inbox
    controller.stop()


def deliver(app) -> None:
    db.session.commit()
    run_once(app, check_deadlines=False)


def post_form(client, url=FORM, **fields):
    data = submission_form(csrf_token=csrf_token(client, url), **fields)
    data.setdefault("attachments", [pdf_upload()])
    return client.post(url, data=data, content_type="multipart/form-data")


def organisation_ca(app, organisation):
    settings = pki.PkiSettings.from_config(app.config)
    return pki.ensure_organisation_pki(db.session, organisation, settings).authority.certificate


def link_in(message, prefix: str) -> str:
    text = message.get_body(("plain",)).get_content()
    line = next(line for line in text.splitlines() if line.startswith(prefix))
    return line.removeprefix("http://diwan.test")


def letters() -> int:
    db.session.commit()
    return db.session.scalar(select(func.count(Letter.id)))


# -- e-mail confirmation ------------------------------------------------------------------------


def test_with_an_email_nothing_is_registered_until_the_link_is_confirmed(
    app, world, portal_world, smtp
):
    client = app.test_client()
    response = post_form(client, email="Fatima@Example.ma")
    assert response.status_code == 302 and "/portal/sent" in response.location
    assert letters() == 0
    deliver(app)
    [message] = smtp.messages
    assert message["To"] == "fatima@example.ma"
    link = link_in(message, "http://diwan.test/portal/confirm/")

    # Opening the link (a mail scanner does) registers nothing: the citizen presses the button.
    assert "Confirm and register my request" in client.get(link).get_data(as_text=True)
    assert letters() == 0
    other_browser = app.test_client()
    response = other_browser.post(link, data={"csrf_token": csrf_token(other_browser, link)})
    assert response.status_code == 302
    page = other_browser.get(response.location).get_data(as_text=True)
    code = tracking_code(page)
    assert letters() == 1
    submission = db.session.scalar(select(PortalSubmission))
    assert submission.email_confirmed_at is not None and submission.letter.channel == "portal"

    # The receipt goes by e-mail, sealed, with the number and the code.
    deliver(app)
    receipt_mail = smtp.messages[-1]
    assert submission.letter.number in receipt_mail["Subject"]
    [attachment] = [part for part in receipt_mail.walk() if part.get_filename()]
    pdf = attachment.get_payload(decode=True)
    assert f"Tracking code: {code}" in receipt_mail.get_body(("plain",)).get_content()
    report = validate(pdf, trust_roots=[organisation_ca(app, world.org)])
    assert report["verdict"] == "VALID", report

    # A second click finds it registered and registers nothing more.
    response = other_browser.post(link, data={"csrf_token": csrf_token(other_browser, link)})
    assert response.status_code == 302 and letters() == 1


def test_an_expired_or_unknown_link_registers_nothing(app, portal_world, smtp):
    client = app.test_client()
    post_form(client, email="late@example.ma")
    deliver(app)
    link = link_in(smtp.messages[0], "http://diwan.test/portal/confirm/")
    submission = db.session.scalar(select(PortalSubmission))
    submission.confirm_expires_at -= timedelta(days=3)
    db.session.commit()
    response = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert response.status_code == 404 and "not valid" in response.get_data(as_text=True)
    bad = "/portal/confirm/not-a-token"
    assert client.post(bad, data={"csrf_token": csrf_token(client, bad)}).status_code == 404
    assert letters() == 0


# -- the receipt ----------------------------------------------------------------------------


def test_the_receipt_names_everything_and_is_sealed_by_the_administration(app, world, portal_world):
    client = app.test_client()
    client.set_cookie("diwan_locale", "fr")
    response = post_form(client, attachments=[pdf_upload("preuve.pdf")])
    page = client.get(response.location).get_data(as_text=True)
    code = tracking_code(page)
    submission = db.session.scalar(select(PortalSubmission))
    pdf = client.get(f"/portal/requests/{submission.public_id}/receipt").data
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    letter = submission.letter
    for expected in (letter.number, code, "Accusé de réception", "preuve.pdf", "Plainte"):
        assert expected in text, expected
    for item in submission.files:  # every document with its SHA-256 (printed in two halves)
        assert item["original_sha256"][:32] in text and item["original_sha256"][32:] in text
    assert letter.due_on.isoformat() in text
    report = validate(pdf, trust_roots=[organisation_ca(app, world.org)])
    assert report["verdict"] == "VALID", report
    assert report["signatures"][0]["timestamp_time"]
    assert validate(pdf, trust_roots=[organisation_ca(app, world.other_org)])["verdict"] != "VALID"
    # The verification page says so too.
    check = app.test_client()
    token = csrf_token(check, "/verify")
    result = check.post(
        "/verify",
        data={"csrf_token": token, "document": (io.BytesIO(pdf), "receipt.pdf")},
        content_type="multipart/form-data",
    )
    assert "All signatures are valid" in result.get_data(as_text=True)


def test_an_arabic_receipt_for_an_arabic_citizen(app, portal_world):
    client = app.test_client()
    client.set_cookie("diwan_locale", "ar")
    response = post_form(client)
    client.get(response.location)
    submission = db.session.scalar(select(PortalSubmission))
    text = PdfReader(
        io.BytesIO(client.get(f"/portal/requests/{submission.public_id}/receipt").data)
    )
    content = text.pages[0].extract_text()
    assert submission.locale == "ar" and submission.letter.number in content
    assert "رمز التتبع" in content


def test_a_receipt_the_seal_could_not_make_is_made_by_the_worker(app, portal_world, monkeypatch):
    from app.services import signatures

    def unavailable(*args, **kwargs):
        raise RuntimeError("time-stamp authority unreachable")

    monkeypatch.setattr(signatures, "seal", unavailable)
    app.logger.disabled = True
    client = app.test_client()
    response = post_form(client)
    page = client.get(response.location).get_data(as_text=True)
    code = tracking_code(page)  # the registration stands and the code is shown
    submission = db.session.scalar(select(PortalSubmission))
    assert submission.receipt_sha256 is None and submission.pending_code == code
    monkeypatch.undo()
    report = run_once(app, check_deadlines=False)
    assert report["receipts_made"] == 1
    db.session.commit()
    submission = db.session.scalar(select(PortalSubmission))
    assert submission.receipt_sha256 and submission.pending_code is None
    pdf = client.get(f"/portal/requests/{submission.public_id}/receipt").data
    assert code in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


# -- following, answering, rating, reopening -------------------------------------------------


def submitted(app, url=FORM, **fields):
    client = app.test_client()
    response = post_form(client, url, **fields)
    client.get(response.location)
    submission = db.session.scalar(select(PortalSubmission).order_by(PortalSubmission.id.desc()))
    return client, submission


def test_the_timeline_tells_the_citizen_what_happened_and_nothing_internal(
    app, portal_world, client_for
):
    client, submission = submitted(app)
    letter = submission.letter
    head = client_for("head.src")
    from tests.test_routing import _post

    _post(head, letter, "notes", {"body": "Dossier sensible: voir M. X", "visibility": "all"})
    page = client.get(f"/portal/requests/{submission.public_id}").get_data(as_text=True)
    assert "Received and registered" in page
    assert "In progress: Relations usagers" in page
    assert "Dossier sensible" not in page and "Head Src" not in page
    answer(client_for, letter)
    page = client.get(f"/portal/requests/{submission.public_id}").get_data(as_text=True)
    timeline = page.split("What happened")[1]
    assert timeline.index("Answered") < timeline.index("Closed")
    assert "Anyone can check a signed document" in page and "&lt;a" not in page
    outgoing = db.session.scalar(select(Letter).where(Letter.register == "outgoing"))
    document = outgoing.documents[0]
    download = client.get(f"/portal/requests/{submission.public_id}/answers/{document.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    # Another request's answer is not reachable through this one.
    other_client, other = submitted(app)
    url = f"/portal/requests/{other.public_id}/answers/{document.id}"
    assert other_client.get(url).status_code == 404


def rate(client, submission, stars, comment=""):
    url = f"/portal/requests/{submission.public_id}"
    data = {"csrf_token": csrf_token(client, url), "stars": str(stars), "comment": comment}
    return client.post(f"{url}/rate", data=data)


def test_the_citizen_rates_the_answer_once(app, portal_world, client_for):
    client, submission = submitted(app)
    rate(client, submission, 4)
    assert db.session.scalar(select(func.count(PortalRating.id))) == 0  # not answered yet
    answer(client_for, submission.letter)
    rate(client, submission, 4, "Réponse claire, un peu tardive.")
    rate(client, submission, 1, "second try")
    db.session.commit()
    [rating] = db.session.scalars(select(PortalRating)).all()
    assert (rating.stars, rating.comment) == (4, "Réponse claire, un peu tardive.")
    page = client.get(f"/portal/requests/{submission.public_id}").get_data(as_text=True)
    assert "★★★★☆" in page and "Rate the answer" not in page


def test_a_rating_outside_one_to_five_is_refused(app, portal_world, client_for):
    client, submission = submitted(app)
    answer(client_for, submission.letter)
    rate(client, submission, 9)
    rate(client, submission, 0)
    assert db.session.scalar(select(func.count(PortalRating.id))) == 0


def reopen(client, submission, reason):
    url = f"/portal/requests/{submission.public_id}"
    data = {"csrf_token": csrf_token(client, url), "reason": reason}
    return client.post(f"{url}/reopen", data=data)


def test_a_complaint_is_reopened_once_to_the_department_that_answered(
    app, portal_world, client_for
):
    client, submission = submitted(app)
    first = submission.letter
    reopen(client, submission, "Trop tôt pour rouvrir")
    assert db.session.get(PortalSubmission, submission.id).reopened_letter_id is None
    answer(client_for, first)
    page = client.get(f"/portal/requests/{submission.public_id}").get_data(as_text=True)
    assert "You may reopen this complaint once" in page
    assert reopen(client, submission, "court").status_code == 302  # too short: refused
    db.session.commit()
    assert db.session.get(PortalSubmission, submission.id).reopened_letter_id is None
    reopen(client, submission, "La réponse ne traite pas de ma demande de certificat.")
    db.session.commit()
    submission = db.session.get(PortalSubmission, submission.id)
    second = submission.reopened_letter
    assert second is not None and second.channel == "portal" and second.is_open
    assert second.correspondent_id == first.correspondent_id
    assert [a.department_id for a in second.assignments] == [portal_world.department.id]
    assert db.session.scalar(select(LetterLink).where(LetterLink.letter_id == second.id))
    assert first.is_closed  # the register keeps what happened
    page = client.get(f"/portal/requests/{submission.public_id}").get_data(as_text=True)
    assert "Reopened at your request" in page and second.number in page
    assert "You may reopen" not in page
    reopen(client, submission, "Encore une fois, s'il vous plaît, merci.")
    assert letters() == 3  # first, its answer, the reopening: no second reopening


def test_reopening_is_closed_after_the_allowed_period(app, portal_world, client_for):
    client, submission = submitted(app)
    answer(client_for, submission.letter)
    letter = submission.letter
    letter.closed_at -= timedelta(days=31)
    db.session.commit()
    page = client.get(f"/portal/requests/{submission.public_id}").get_data(as_text=True)
    assert "You may reopen" not in page
    reopen(client, submission, "La réponse ne traite pas de ma demande de certificat.")
    assert db.session.get(PortalSubmission, submission.id).reopened_letter_id is None


def test_a_request_type_without_reopening_cannot_be_reopened(app, portal_world, client_for):
    portal_world.letter.email_mode = "optional"
    portal_world.letter.letter_type_id = portal_world.complaint_type.id  # routed to SRC
    db.session.commit()
    client, submission = submitted(app, url="/portal/mtn/courrier")
    assert submission.request_type.code == "courrier"
    answer(client_for, submission.letter)
    page = client.get(f"/portal/requests/{submission.public_id}").get_data(as_text=True)
    assert "Rate the answer" in page and "You may reopen" not in page
    reopen(client, submission, "La réponse ne traite pas de ma demande de certificat.")
    assert db.session.get(PortalSubmission, submission.id).reopened_letter_id is None


# -- the optional account ---------------------------------------------------------------------


def sign_up(client, address, password=PASSWORD):
    url = "/portal/account/sign-up"
    data = {"csrf_token": csrf_token(client, url), "email": address, "password": password}
    return client.post(url, data=data)


def sign_in(client, address, password=PASSWORD):
    url = "/portal/account/sign-in"
    data = {"csrf_token": csrf_token(client, url), "email": address, "password": password}
    return client.post(url, data=data)


def test_an_account_lists_the_requests_made_with_its_confirmed_address(
    app, world, portal_world, smtp
):
    client = app.test_client()
    assert sign_up(client, "Citoyen@Example.ma").status_code == 302
    assert sign_in(client, "citoyen@example.ma").status_code == 422  # not confirmed yet
    deliver(app)
    link = link_in(smtp.messages[0], "http://diwan.test/portal/account/confirm/")
    assert client.get(link).status_code == 302
    assert sign_in(client, "citoyen@example.ma").status_code == 302

    # Signed in, a request with the account's address is registered at once.
    response = post_form(client, email="citoyen@example.ma")
    assert "/portal/requests/" in response.location
    page = client.get("/portal/account").get_data(as_text=True)
    submission = db.session.scalar(select(PortalSubmission))
    assert submission.letter.number in page

    # Someone else's request (another address) is not listed, and cannot be opened.
    _stranger, other = submitted(app)
    page = client.get("/portal/account").get_data(as_text=True)
    assert other.letter.number not in page
    assert client.get(f"/portal/requests/{other.public_id}").status_code == 404


def test_signing_up_with_a_known_address_reveals_nothing(app, portal_world, smtp):
    first = sign_up(app.test_client(), "known@example.ma")
    again = sign_up(app.test_client(), "known@example.ma", "un autre mot de passe")
    assert first.status_code == again.status_code == 302
    assert first.location == again.location
    deliver(app)
    assert len(smtp.messages) == 2
    assert "has one already" in smtp.messages[1].get_body(("plain",)).get_content()
    assert db.session.scalar(select(func.count(CitizenAccount.id))) == 1


def test_a_weak_password_is_refused(app, portal_world):
    response = sign_up(app.test_client(), "weak@example.ma", "court")
    assert response.status_code == 422
    assert "at least 10 characters" in response.get_data(as_text=True)
    db.session.commit()
    assert db.session.scalar(select(func.count(CitizenAccount.id))) == 0


def test_wrong_passwords_slow_down(app, portal_world, smtp):
    app.config["PORTAL_ACCOUNT_RATE_LIMIT"] = "1000 per minute"
    client = app.test_client()
    sign_up(client, "slow@example.ma")
    deliver(app)
    client.get(link_in(smtp.messages[0], "http://diwan.test/portal/account/confirm/"))
    for _ in range(3):
        assert sign_in(client, "slow@example.ma", "mauvais mot de passe").status_code == 422
    assert sign_in(client, "slow@example.ma").status_code == 429


def test_the_confirmation_email_is_queued_in_the_submissions_transaction(app, portal_world):
    post_form(app.test_client(), email="queued@example.ma")
    db.session.commit()
    [queued] = db.session.scalars(select(OutgoingEmail)).all()
    assert queued.to_address == "queued@example.ma" and "/portal/confirm/" in queued.body
    assert queued.organisation_id == portal_world.complaint.organisation_id


def test_sign_up_e_mails_to_one_address_are_limited(app, portal_world):
    for _ in range(3):
        assert sign_up(app.test_client(), "target@example.ma").status_code == 302
    response = sign_up(app.test_client(), "Target@Example.ma")
    assert response.status_code == 422
    assert "Too many e-mails were sent to this address" in response.get_data(as_text=True)
    db.session.commit()
    assert db.session.scalar(select(func.count(OutgoingEmail.id))) == 3
