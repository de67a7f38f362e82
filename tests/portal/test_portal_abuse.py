"""What the e-counter refuses, and how: bad uploads, missing fields, robots, floods and guessing.
Each refusal says why in the citizen's language, keeps what was typed, and registers nothing."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Letter, OutgoingEmail, PortalSubmission, PortalThrottle
from app.services import throttle
from tests.conftest import csrf_token
from tests.portal.conftest import pdf_upload, submission_form, tracking_code
from tests.testdata import TESTDATA, needs_testdata

FORM = "/portal/mtn/plainte"


def post_form(client, url=FORM, files=None, **fields):
    data = submission_form(csrf_token=csrf_token(client, url), **fields)
    data["attachments"] = files if files is not None else [pdf_upload()]
    return client.post(url, data=data, content_type="multipart/form-data")


def nothing_registered() -> bool:
    db.session.commit()
    letters = db.session.scalar(select(func.count(Letter.id)))
    submissions = db.session.scalar(select(func.count(PortalSubmission.id)))
    return letters == 0 and submissions == 0


def keeps_typed_input(page: str) -> bool:
    fields = submission_form()
    return fields["subject"] in page and fields["message"] in page and fields["name"] in page


# -- bad uploads --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("note.txt", b"just some text, not a document", "is not a PDF, JPEG or PNG file"),
        ("macro.docm", b"PK\x03\x04 not really a document", "is not a PDF, JPEG or PNG file"),
        ("empty.pdf", b"", "is empty"),
    ],
)
def test_a_file_of_the_wrong_kind_is_refused_and_the_form_kept(
    app, portal_world, name, data, message
):
    client = app.test_client()
    response = post_form(client, files=[(io.BytesIO(data), name)])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page and name in page
    assert keeps_typed_input(page)
    assert nothing_registered()


def test_a_tiff_is_refused_on_the_portal_though_the_registry_takes_it(app, portal_world):
    from PIL import Image

    tiff = io.BytesIO()
    Image.new("RGB", (50, 50), "white").save(tiff, "TIFF")
    response = post_form(app.test_client(), files=[(io.BytesIO(tiff.getvalue()), "scan.tif")])
    assert response.status_code == 422
    assert "is not a PDF, JPEG or PNG file" in response.get_data(as_text=True)
    assert nothing_registered()


def test_a_file_over_the_portal_limit_is_refused_with_the_limit(app, portal_world):
    app.config["PORTAL_MAX_UPLOAD_MB"] = 0.01  # 10 KB
    big = b"%PDF-1.4\n" + b"0" * 20_000
    response = post_form(app.test_client(), files=[(io.BytesIO(big), "big.pdf")])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is larger than 0.01 MB" in page and keeps_typed_input(page)
    assert nothing_registered()


def test_the_limits_are_shown_before_upload(app, portal_world):
    page = app.test_client().get(FORM).get_data(as_text=True)
    assert "PDF, JPEG or PNG; at most 10 MB per file and 5 files." in page
    assert 'data-max-bytes="10485760"' in page


def test_too_many_attachments_are_refused(app, portal_world):
    app.config["PORTAL_MAX_FILES"] = 2
    files = [pdf_upload(f"{n}.pdf") for n in range(3)]
    response = post_form(app.test_client(), files=files)
    assert response.status_code == 422
    assert "At most 2 attachments." in response.get_data(as_text=True)
    assert nothing_registered()


@needs_testdata
@pytest.mark.parametrize(
    "path",
    [
        "extraction/qpdf/pages-loop.pdf",
        "extraction/pyhanko/circular-page-tree.pdf",
        "extraction/sample-files/libreoffice-writer-password.pdf",
    ],
)
def test_a_hostile_or_locked_pdf_is_refused_and_nothing_registered(app, portal_world, path):
    data = (TESTDATA / path).read_bytes()
    response = post_form(app.test_client(), files=[(io.BytesIO(data), "piece.pdf")])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "cannot be opened (damaged, or protected by a password)" in page
    assert keeps_typed_input(page)
    assert nothing_registered()


def test_files_already_accepted_are_kept_when_the_form_comes_back(app, portal_world):
    client = app.test_client()
    response = post_form(client, subject="", files=[pdf_upload("preuve.pdf")])
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "preuve.pdf" in page and "already uploaded" in page
    kept = page.split('name="kept_files" type="hidden" value="')[1].split('"')[0]
    response = post_form(client, files=[], kept_files=kept)
    assert response.status_code == 302
    letter = db.session.scalar(select(Letter))
    assert [d.title for d in letter.documents][1:] == ["preuve.pdf"]


def test_files_kept_by_another_browser_are_ignored(app, portal_world):
    first = app.test_client()
    page = post_form(first, subject="").get_data(as_text=True)
    kept = page.split('name="kept_files" type="hidden" value="')[1].split('"')[0]
    post_form(app.test_client(), files=[], kept_files=kept)
    letter = db.session.scalar(select(Letter))
    assert len(letter.documents) == 1  # the message only: the other browser's file is not taken


# -- fields the request type requires ------------------------------------------------------------


def test_the_national_id_a_complaint_requires_is_asked_for(app, portal_world):
    response = post_form(app.test_client(), national_id="")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "This information is required for this request." in page
    assert keeps_typed_input(page) and nothing_registered()


def test_a_type_that_requires_an_email_refuses_without_one(app, portal_world):
    response = post_form(app.test_client(), url="/portal/mtn/courrier")
    assert response.status_code == 422
    assert "This information is required for this request." in response.get_data(as_text=True)
    assert nothing_registered()


def test_an_invalid_email_is_refused(app, portal_world):
    response = post_form(app.test_client(), email="not-an-address")
    assert response.status_code == 422
    assert "This e-mail address is not valid." in response.get_data(as_text=True)
    assert nothing_registered()


def test_the_refusal_is_in_the_citizens_language(app, portal_world):
    client = app.test_client()
    client.set_cookie("diwan_locale", "ar")
    page = post_form(client, national_id="").get_data(as_text=True)
    assert "هذه المعلومة مطلوبة لهذا الطلب." in page
    client.set_cookie("diwan_locale", "fr")
    page = post_form(client, national_id="").get_data(as_text=True)
    assert "Cette information est obligatoire pour cette demande." in page


def test_unpublished_or_unknown_types_and_administrations_are_not_found(app, portal_world):
    client = app.test_client()
    portal_world.letter.published = False
    db.session.commit()
    assert client.get("/portal/mtn/courrier").status_code == 404
    assert client.get("/portal/mtn/nope").status_code == 404
    assert client.get("/portal/other/").status_code == 404  # publishes nothing
    assert client.get("/portal/nowhere/").status_code == 404


# -- robots and floods ------------------------------------------------------------------------


def test_a_filled_honeypot_registers_nothing(app, portal_world):
    response = post_form(app.test_client(), website="http://spam.example")
    assert response.status_code == 400
    assert nothing_registered()


def test_the_form_needs_its_csrf_token(app, portal_world):
    data = submission_form(attachments=[pdf_upload()])
    response = app.test_client().post(FORM, data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and nothing_registered()


def test_submissions_are_rate_limited_per_address(app, portal_world):
    app.config["PORTAL_SUBMIT_RATE_LIMIT"] = "2 per hour"
    client = app.test_client()
    assert post_form(client).status_code == 302
    assert post_form(client).status_code == 302
    assert post_form(client).status_code == 429
    db.session.commit()
    assert db.session.scalar(select(func.count(Letter.id))) == 2


def test_submissions_are_limited_per_email_address(app, portal_world):
    app.config["PORTAL_SUBMISSIONS_PER_EMAIL_PER_DAY"] = 2
    for _ in range(2):
        assert post_form(app.test_client(), email="citizen@example.ma").status_code == 302
    response = post_form(app.test_client(), email="Citizen@Example.ma")
    assert response.status_code == 422
    assert "Too many requests from this e-mail address today" in response.get_data(as_text=True)
    db.session.commit()
    assert db.session.scalar(select(func.count(OutgoingEmail.id))) == 2  # no third link sent


# -- tracking codes --------------------------------------------------------------------------


def submit_and_get_code(app) -> tuple[str, str, str]:
    client = app.test_client()
    response = post_form(client)
    code = tracking_code(client.get(response.location).get_data(as_text=True))
    submission = db.session.scalar(select(PortalSubmission).order_by(PortalSubmission.id.desc()))
    return submission.letter.number, code, submission.public_id


def track(client, number, code):
    data = {"number": number, "code": code, "csrf_token": csrf_token(client, "/portal/track")}
    return client.post("/portal/track", data=data)


def test_a_tracking_code_carries_at_least_60_random_bits(app, portal_world):
    from app.services import portal

    assert len(portal.CODE_ALPHABET) ** portal.CODE_LENGTH >= 2**80
    codes = {portal.new_tracking_code() for _ in range(2000)}
    assert len(codes) == 2000


def test_number_and_code_open_the_request_and_nothing_else_does(app, portal_world):
    number, code, public_id = submit_and_get_code(app)
    stranger = app.test_client()
    assert stranger.get(f"/portal/requests/{public_id}").status_code == 404
    assert stranger.get(f"/portal/requests/{public_id}/receipt").status_code == 404
    response = track(stranger, number, code.lower().replace("-", " "))  # typed loosely
    assert response.status_code == 302
    page = stranger.get(response.location).get_data(as_text=True)
    assert number in page and "Received and registered" in page
    assert code not in page  # the code is shown once, after the registration only


def test_an_unknown_number_and_a_wrong_code_get_the_same_answer(app, portal_world):
    number, code, _ = submit_and_get_code(app)
    wrong_code = track(app.test_client(), number, "AAAA-BBBB-CCCC-DDDD")
    unknown = track(app.test_client(), "2026/A/999999", code)
    assert wrong_code.status_code == unknown.status_code == 422

    def message(response):
        page = response.get_data(as_text=True)
        return page.count("do not match any request"), "2026/A/999999" in page

    assert message(wrong_code)[0] == message(unknown)[0] == 1


def test_wrong_codes_slow_down_then_block_the_address(app, portal_world):
    app.config["PORTAL_TRACK_RATE_LIMIT"] = "1000 per minute"
    number, code, _ = submit_and_get_code(app)
    client = app.test_client()
    for _ in range(throttle.FREE_FAILURES):
        assert track(client, number, "AAAA-BBBB-CCCC-DDDD").status_code == 422
    blocked = track(client, number, code)  # even the right code must wait now
    assert blocked.status_code == 429
    assert "Too many wrong attempts: wait 2 seconds" in blocked.get_data(as_text=True)
    row = db.session.get(PortalThrottle, f"track:addr:{'127.0.0.1'}")
    assert row.failures == throttle.FREE_FAILURES


def test_the_waits_double_up_to_an_hour(app):
    waits = [throttle.wait_after(n) for n in range(1, 20)]
    assert waits[:3] == [0, 0, 2] and waits[3:6] == [4, 8, 16]
    assert waits[-1] == throttle.MAX_WAIT_S and waits == sorted(waits)


def test_a_right_code_after_the_wait_clears_the_failures(app, portal_world):
    from datetime import timedelta

    app.config["PORTAL_TRACK_RATE_LIMIT"] = "1000 per minute"
    number, code, _ = submit_and_get_code(app)
    client = app.test_client()
    for _ in range(throttle.FREE_FAILURES):
        track(client, number, "AAAA-BBBB-CCCC-DDDD")
    for row in db.session.scalars(select(PortalThrottle)):
        row.blocked_until -= timedelta(hours=2)
    db.session.commit()
    assert track(client, number, code).status_code == 302
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(PortalThrottle)) == 0


def test_tracking_is_rate_limited_per_address(app, portal_world):
    app.config["PORTAL_TRACK_RATE_LIMIT"] = "2 per minute"
    client = app.test_client()
    track(client, "2026/A/000001", "X")
    track(client, "2026/A/000001", "X")
    assert track(client, "2026/A/000001", "X").status_code == 429
