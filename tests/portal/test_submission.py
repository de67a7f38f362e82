"""Submitting on the e-counter: registered at once without e-mail, routed by the rules, receipt
sealed; with an e-mail, only once the link is opened."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Letter, PortalSubmission
from tests.conftest import csrf_token
from tests.portal.conftest import pdf_upload, submission_form, tracking_code

FORM = "/portal/mtn/plainte"


def test_a_complaint_without_email_is_registered_at_once_and_routed(app, portal_world):
    client = app.test_client()
    data = submission_form(csrf_token=csrf_token(client, FORM), attachments=[pdf_upload()])
    response = client.post(FORM, data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.location).get_data(as_text=True)
    code = tracking_code(page)
    letter = db.session.scalar(select(Letter))
    assert letter.channel == "portal" and letter.number in page
    assert [a.department_id for a in letter.assignments] == [portal_world.department.id]
    submission = db.session.scalar(select(PortalSubmission))
    assert submission.receipt_sha256 and submission.pending_code is None
    assert len(code) == 19
    receipt = client.get(f"/portal/requests/{submission.public_id}/receipt")
    assert receipt.status_code == 200 and receipt.data.startswith(b"%PDF")
