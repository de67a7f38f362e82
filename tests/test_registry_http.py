"""Registering letters through HTTP, as a registry officer's browser does."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

from app.extensions import db
from app.models import Contact, Letter
from tests.conftest import csrf_token
from tests.helpers import blank_pdf, letter_form, png_image
from tests.testdata import needs_testdata

NEW_URL = "/registry/incoming/new"


def post_letter(client, files=(), url=NEW_URL, **fields):
    data = letter_form(**fields)
    data["csrf_token"] = csrf_token(client, url)
    data["documents"] = [(io.BytesIO(content), name) for name, content in files]
    # Close the builder: for a large body it spools to a temporary file the client leaves open.
    builder = EnvironBuilder(path=url, method="POST", data=data)
    try:
        return client.open(builder)
    finally:
        builder.close()


def letter_count() -> int:
    return db.session.scalar(select(func.count(Letter.id)))


def test_officer_registers_incoming_letter_with_pdf(world, client_for):
    client = client_for("officer")
    response = post_letter(client, files=[("scan.pdf", blank_pdf(2))])
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    year = date.today().year
    assert f"{year}/A/000001" in page
    assert "طلب الحصول على نسخة من القرار الإداري" in page
    assert "scan.pdf" in page
    letter = db.session.scalar(select(Letter))
    assert letter.number == f"{year}/A/000001"
    assert letter.correspondent.national_id == "BE123456"
    [document] = letter.documents
    assert document.current.page_count == 2
    assert document.current.media_type == "application/pdf"


def test_numbers_follow_each_other_per_register(world, client_for):
    client = client_for("officer")
    year = date.today().year
    for _ in range(2):
        assert post_letter(client, files=[("a.pdf", blank_pdf())]).status_code == 302
    response = post_letter(client, files=[("reply.pdf", blank_pdf())], url="/registry/outgoing/new")
    assert response.status_code == 302
    numbers = sorted(db.session.scalars(select(Letter.number)))
    assert numbers == [f"{year}/A/000001", f"{year}/A/000002", f"{year}/D/000001"]


def test_image_is_kept_and_converted_to_pdf(world, client_for):
    client = client_for("officer")
    assert post_letter(client, files=[("photo.png", png_image())]).status_code == 302
    version = db.session.scalar(select(Letter)).documents[0].current
    assert version.media_type == "image/png"
    assert version.pdf_sha256 and version.pdf_sha256 != version.original_sha256
    assert version.page_count == 1


def test_missing_subject_keeps_input_and_uploaded_file(world, client_for):
    client = client_for("officer")
    response = post_letter(client, files=[("scan.pdf", blank_pdf())], subject="")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Fatima Zahra El Amrani" in page  # the rest of the form is kept
    assert "scan.pdf" in page  # and the file does not have to be uploaded again
    assert letter_count() == 0
    kept = page.split('name="kept_files" type="hidden" value="')[1].split('"')[0]
    response = post_letter(client, kept_files=kept)
    assert response.status_code == 302
    assert db.session.scalar(select(Letter)).documents[0].title == "scan.pdf"


def test_file_that_is_not_a_document_is_refused_by_content(world, client_for):
    client = client_for("officer")
    response = post_letter(client, files=[("report.pdf", b"MZ\x90\x00 this is a program")])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    # the file name is direction-isolated (U+2068 ... U+2069) inside the sentence
    assert "\u2068report.pdf\u2069 is not a PDF, JPEG, PNG or TIFF file." in page
    assert "طلب الحصول على نسخة من القرار الإداري" in page
    assert letter_count() == 0
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def test_letter_without_document_is_refused(world, client_for):
    response = post_letter(client_for("officer"))
    assert response.status_code == 422
    assert "Attach the scanned letter" in response.get_data(as_text=True)
    assert letter_count() == 0


def test_file_over_the_size_limit_is_refused_with_message(app, world, client_for):
    # Kept under 500 KB: above that the test client spools the body to a file it never closes.
    app.config["MAX_UPLOAD_MB"] = 0.25
    client = client_for("officer")
    big = blank_pdf() + b"%" + b"x" * 300_000
    response = post_letter(client, files=[("big.pdf", big)])
    assert response.status_code == 422
    assert "\u2068big.pdf\u2069 is larger than 0.25 MB." in response.get_data(as_text=True)
    assert letter_count() == 0


def test_request_over_the_body_limit_gets_translated_413(app, world, client_for):
    client = client_for("officer")
    token = csrf_token(client, NEW_URL)
    app.config["MAX_CONTENT_LENGTH"] = 1024
    data = letter_form(csrf_token=token)
    data["documents"] = [(io.BytesIO(b"%PDF-" + b"x" * 5000), "a.pdf")]
    response = client.post(NEW_URL, data=data)
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert letter_count() == 0


def test_user_filename_never_becomes_a_path(app, world, client_for):
    client = client_for("officer")
    assert post_letter(client, files=[("../../etc/passwd.pdf", blank_pdf())]).status_code == 302
    document = db.session.scalar(select(Letter)).documents[0]
    assert "/" not in document.title and ".." not in document.title


def test_post_without_csrf_token_is_refused(world, client_for):
    client = client_for("officer")
    data = letter_form()
    data["documents"] = [(io.BytesIO(blank_pdf()), "a.pdf")]
    response = client.post(NEW_URL, data=data)
    assert response.status_code == 400
    assert letter_count() == 0


def test_existing_correspondent_is_reused(world, client_for):
    client = client_for("officer")
    post_letter(client, files=[("a.pdf", blank_pdf())])
    contact = db.session.scalar(select(Contact))
    response = post_letter(
        client,
        files=[("b.pdf", blank_pdf())],
        correspondent_id=str(contact.id),
        correspondent_name="",
    )
    assert response.status_code == 302
    assert db.session.scalar(select(func.count(Contact.id))) == 1
    found = client.get("/registry/contacts.json?q=Fatima").get_json()
    assert found == [{"id": contact.id, "label": "Fatima Zahra El Amrani — BE123456"}]


def test_register_restarts_at_one_on_the_first_of_january_local_time(app, world, monkeypatch):
    from datetime import datetime

    from app.services import registration as registration_service
    from tests.factories import register

    # 23:30 UTC on 31 December is already 1 January in Algiers (UTC+1).
    world.org.timezone = "Africa/Algiers"
    db.session.commit()
    moments = iter([datetime(2026, 12, 31, 22, 0), datetime(2026, 12, 31, 23, 30)])
    monkeypatch.setattr(registration_service, "utcnow", lambda: next(moments))
    with app.test_request_context():
        last_of_year = register(world.officer)
        first_of_next = register(world.officer)
    assert last_of_year.number == "2026/A/000001"
    assert first_of_next.number == "2027/A/000001"


@needs_testdata
def test_password_protected_pdf_is_accepted_with_a_visible_flag(world, client_for):
    from tests.testdata import TESTDATA as SHARED_TESTDATA

    pdf = (SHARED_TESTDATA / "extraction/sample-files/libreoffice-writer-password.pdf").read_bytes()
    client = client_for("officer")
    response = post_letter(client, files=[("protected.pdf", pdf)])
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Protected by a password: cannot be previewed" in page
    version = db.session.scalar(select(Letter)).documents[0].current
    assert "password_protected" in version.flag_set and version.pdf_sha256 is None


@needs_testdata
def test_hostile_pdf_does_not_hang_the_registration(world, client_for):
    from tests.testdata import TESTDATA as SHARED_TESTDATA

    pdf = (SHARED_TESTDATA / "extraction/qpdf/pages-loop.pdf").read_bytes()
    client = client_for("officer")
    response = post_letter(client, files=[("loop.pdf", pdf)])
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Damaged PDF: cannot be previewed" in page
