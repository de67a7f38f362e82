"""The register PDF export leaves sealed by the organisation; the CSV does not change."""

from __future__ import annotations

import io

import pytest
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pypdf import PdfReader

from app.extensions import db
from app.services import pki
from signing.validation import validate
from tests.factories import register

EXPORT = "/registry/incoming/export.pdf"


@pytest.fixture(autouse=True)
def _fresh_key_cache(monkeypatch):
    # The service keeps opened keys per process by row id; every test has a new database whose
    # rows reuse the same ids with different keys.
    monkeypatch.setattr(pki, "_opened", {})


def organisation_ca(app, organisation) -> x509.Certificate:
    settings = pki.PkiSettings.from_config(app.config)
    return pki.ensure_organisation_pki(db.session, organisation, settings).authority.certificate


def test_pdf_export_carries_one_valid_seal_of_the_organisation(app, world, client_for):
    with app.test_request_context():
        letter = register(world.officer, subject="Demande de permis")
    response = client_for("officer").get(EXPORT)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = response.data
    assert letter.number in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()

    signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(signatures) == 1
    seal_subject = signatures[0].signer_cert.subject.human_friendly
    assert "Seal" in seal_subject and "Ministère" in seal_subject

    report = validate(pdf, trust_roots=[organisation_ca(app, world.org)])
    assert report["verdict"] == "VALID", report
    # The seal carries a time-stamp from the organisation's authority (B-T).
    assert report["signatures"][0]["timestamp_time"]


def test_seal_is_not_trusted_under_another_organisations_ca(app, world, client_for):
    with app.test_request_context():
        register(world.officer)
    pdf = client_for("officer").get(EXPORT).data
    report = validate(pdf, trust_roots=[organisation_ca(app, world.other_org)])
    assert report["verdict"] != "VALID"


def test_a_changed_byte_in_the_sealed_register_is_detected(app, world, client_for):
    with app.test_request_context():
        register(world.officer)
    pdf = bytearray(client_for("officer").get(EXPORT).data)
    position = pdf.index(b"/MediaBox")  # inside the signed range: the page's geometry
    pdf[position + 1] = ord("N")  # /MediaBox -> /NediaBox
    report = validate(bytes(pdf), trust_roots=[organisation_ca(app, world.org)])
    assert report["verdict"] == "INVALID"


def test_csv_export_is_not_sealed(app, world, client_for):
    with app.test_request_context():
        register(world.officer)
    response = client_for("officer").get("/registry/incoming/export.csv")
    assert response.status_code == 200 and b"/ByteRange" not in response.data


def test_pdf_export_over_its_cap_is_still_refused_whole(app, world, client_for, monkeypatch):
    from app.services import register_export

    monkeypatch.setitem(register_export.MAX_ROWS, "pdf", 2)
    with app.test_request_context():
        for i in range(3):
            register(world.officer, subject=f"Courrier {i}")
    client = client_for("officer")
    response = client.get(EXPORT)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "More than 2 letters in this period" in page


def test_a_register_that_cannot_be_sealed_is_not_handed_out(app, world, client_for):
    # An outside time-stamp authority that does not answer: no seal, so no file.
    app.config["TSA_URL"] = "http://127.0.0.1:9/tsa"
    with app.test_request_context():
        register(world.officer)
    client = client_for("officer")
    response = client.get(EXPORT)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The register could not be sealed" in page


def test_export_still_needs_the_right_to_see_the_register(app, world, client_for):
    assert client_for("agent").get(EXPORT).status_code == 403
