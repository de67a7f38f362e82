"""The public verification page: /verify (any PDF) and /verify/<token> (a circuit's document)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from app.extensions import db
from app.services import circuits, pki, signatures
from app.services.actor import Actor
from app.uploads import file_store
from tests.conftest import csrf_token
from tests.helpers import blank_pdf, png_image
from tests.testdata import TESTDATA, needs_testdata

VALID_SENTENCE = "All signatures are valid and the document was not changed after signing."
UNSIGNED_SENTENCE = "This document carries no electronic signature."


@pytest.fixture(autouse=True)
def _fresh_key_cache(monkeypatch):
    # The service keeps opened keys per process by row id; every test has a new database whose
    # rows reuse the same ids with different keys.
    monkeypatch.setattr(pki, "_opened", {})


def sealed(app, organisation, pdf: bytes | None = None) -> bytes:
    settings = signatures.SignatureSettings.from_config(app.config)
    return signatures.seal(db.session, organisation, pdf or blank_pdf(), settings)


def post_file(client, data: bytes | None, url: str = "/verify", filename: str = "doc.pdf"):
    form = {"csrf_token": csrf_token(client, url)}
    if data is not None:
        form["document"] = (io.BytesIO(data), filename)
    return client.post(url, data=form, content_type="multipart/form-data")


def stored_files(app) -> list[Path]:
    root = Path(app.config["FILE_STORE"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def flip_inside_first_signed_range(pdf: bytes) -> bytes:
    """Change one byte the first signature covers (its first /ByteRange part starts at 0)."""
    changed = bytearray(pdf)
    position = changed.index(b"/MediaBox")
    changed[position + 1] = ord("N")
    assert position < changed.index(b"/ByteRange")
    return bytes(changed)


# -- /verify --------------------------------------------------------------------------------------


def test_form_is_public_and_says_nothing_is_kept(app, world):
    response = app.test_client().get("/verify")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'name="csrf_token"' in page
    assert "Diwan keeps nothing you send here" in page


def test_pdf_sealed_by_an_organisation_is_valid_and_names_the_signer(app, world):
    pdf = sealed(app, world.org)
    before = stored_files(app)
    response = post_file(app.test_client(), pdf)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert VALID_SENTENCE in page
    assert 'data-verdict="VALID"' in page
    assert "Signer</dt><dd><bdi>Ministère</bdi>" in page  # the seal's common name
    assert hashlib.sha256(pdf).hexdigest() in page
    assert "Times are shown in UTC." in page
    assert stored_files(app) == before  # nothing kept


def test_a_byte_changed_inside_the_signed_range_is_invalid(app, world):
    pdf = flip_inside_first_signed_range(sealed(app, world.org))
    page = post_file(app.test_client(), pdf).get_data(as_text=True)
    assert 'data-verdict="INVALID"' in page
    assert "At least one signature is invalid" in page
    assert VALID_SENTENCE not in page


def test_unsigned_pdf_is_reported_unsigned(app, world):
    response = post_file(app.test_client(), blank_pdf())
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert UNSIGNED_SENTENCE in page and 'data-verdict="UNSIGNED"' in page


def test_a_file_that_is_not_a_pdf_is_refused_and_nothing_is_stored(app, world):
    before = stored_files(app)
    response = post_file(app.test_client(), png_image(), filename="scan.pdf")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This file is not a PDF." in page
    assert "data-verdict" not in page
    assert stored_files(app) == before


def test_no_file_and_an_empty_file_are_refused(app, world):
    client = app.test_client()
    missing = post_file(client, None)
    assert missing.status_code == 422
    assert "Choose the PDF file to check." in missing.get_data(as_text=True)
    empty = post_file(client, b"")
    assert empty.status_code == 422
    assert "The file is empty." in empty.get_data(as_text=True)


def test_a_file_over_the_upload_limit_is_refused_with_413(app, world):
    app.config["MAX_UPLOAD_MB"] = 0.001  # about 1 KB
    response = post_file(app.test_client(), blank_pdf() + b"%" * 2048)
    assert response.status_code == 413
    assert "The file is larger than" in response.get_data(as_text=True)


@needs_testdata
@pytest.mark.parametrize(
    ("name", "verdict", "reason"),
    [
        # bytes inside the signed range altered: the file no longer parses
        ("signature/dss/pdf-signed-corrupted.pdf", "INDETERMINATE", "cannot be read as a PDF"),
        # a page added after signing
        ("signature/dss/pdf-signed-added-page.pdf", "INVALID", "changed after this signature"),
        # intact, but from a PKI this installation does not trust
        ("signature/dss/pdf-signed-original.pdf", "INDETERMINATE", "authority this installation"),
    ],
)
def test_outside_test_files_get_their_verdict_and_reasons(app, world, name, verdict, reason):
    response = post_file(app.test_client(), (TESTDATA / name).read_bytes())
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'class="card verdict" data-verdict="{verdict}"' in page
    assert reason in page
    assert VALID_SENTENCE not in page


def test_the_page_follows_the_chosen_language_for_anonymous_visitors(app, world):
    client = app.test_client()
    token = csrf_token(client, "/verify")
    client.post("/locale", data={"locale": "ar", "csrf_token": token, "next": "/verify"})
    assert 'dir="rtl"' in client.get("/verify").get_data(as_text=True)
    page = post_file(client, blank_pdf()).get_data(as_text=True)
    assert 'lang="ar"' in page and 'dir="rtl"' in page
    assert 'data-verdict="UNSIGNED"' in page


def test_post_without_csrf_token_is_refused(app, world):
    response = app.test_client().post(
        "/verify",
        data={"document": (io.BytesIO(blank_pdf()), "doc.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "data-verdict" not in response.get_data(as_text=True)


def test_uploads_are_rate_limited(app, world):
    app.config["VERIFY_RATE_LIMIT"] = "2 per minute"
    client = app.test_client()
    for _ in range(2):
        assert post_file(client, b"not a pdf").status_code == 422
    assert post_file(client, b"not a pdf").status_code == 429
    assert client.get("/verify").status_code == 200  # reading the form is not limited


# -- /verify/<token> -----------------------------------------------------------------------------


def start_circuit(app, world, pdf: bytes, title: str = "Décision n° 12/2026"):
    sha = file_store().put_bytes(pdf)
    return circuits.start(
        db.session,
        Actor(world.officer),
        title=title,
        document_type="decision",
        pdf_sha256=sha,
        size=len(pdf),
        pages=1,
        steps=[circuits.StepInput(position=1, action="sign", assignee_id=world.admin.id)],
    )


def test_unknown_or_malformed_token_is_404(app, world):
    client = app.test_client()
    assert client.get("/verify/no-such-token").status_code == 404
    assert client.get("/verify/" + "a" * 65).status_code == 404


def test_known_token_shows_title_hash_and_verdict_without_a_download(app, world):
    pdf = sealed(app, world.org)
    circuit = start_circuit(app, world, pdf)
    response = app.test_client().get(f"/verify/{circuit.verification_token}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Décision n° 12/2026" in page
    assert hashlib.sha256(pdf).hexdigest() in page
    assert 'data-verdict="VALID"' in page and VALID_SENTENCE in page
    assert "Africa/Casablanca" in page  # times in the organisation's zone, and it says so
    assert "download" not in page.lower() and "/files/" not in page


def test_an_identical_copy_is_recognised(app, world):
    pdf = sealed(app, world.org)
    url = f"/verify/{start_circuit(app, world, pdf).verification_token}"
    page = post_file(app.test_client(), pdf, url=url).get_data(as_text=True)
    assert "Your copy is identical to the document Diwan holds." in page
    assert 'data-identical="yes"' in page and 'data-verdict="VALID"' in page


def test_a_different_copy_is_reported_different_and_validated(app, world):
    url = f"/verify/{start_circuit(app, world, sealed(app, world.org)).verification_token}"
    page = post_file(app.test_client(), blank_pdf(2), url=url).get_data(as_text=True)
    assert "Your copy differs from the document Diwan holds." in page
    assert 'data-identical="no"' in page and 'data-verdict="UNSIGNED"' in page


def test_a_copy_of_an_earlier_version_says_which(app, world):
    first = sealed(app, world.org)
    circuit = start_circuit(app, world, first)
    circuits.add_version(
        db.session,
        circuit,
        pdf=sealed(app, world.org, first),
        reason="timestamped",
        store=file_store(),
    )
    url = f"/verify/{circuit.verification_token}"
    page = post_file(app.test_client(), first, url=url).get_data(as_text=True)
    assert "it is its earlier version 1" in page and 'data-identical="no"' in page


def test_a_copy_that_is_not_a_pdf_is_refused(app, world):
    url = f"/verify/{start_circuit(app, world, sealed(app, world.org)).verification_token}"
    response = post_file(app.test_client(), png_image(), url=url)
    assert response.status_code == 422
    assert "This file is not a PDF." in response.get_data(as_text=True)


def test_the_document_page_is_rate_limited_too(app, world):
    # Every view validates the document in a child process.
    app.config["VERIFY_RATE_LIMIT"] = "1 per minute"
    url = f"/verify/{start_circuit(app, world, blank_pdf()).verification_token}"
    client = app.test_client()
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 429


def test_a_damaged_stored_document_is_said_so(app, world):
    pdf = sealed(app, world.org)
    circuit = start_circuit(app, world, pdf)
    stored = file_store().path(circuit.current_version.sha256)
    stored.chmod(0o644)
    stored.write_bytes(pdf[:-10])
    response = app.test_client().get(f"/verify/{circuit.verification_token}")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "damaged or missing" in page and "data-verdict" not in page


# -- the words of the report ---------------------------------------------------------------------


def test_every_reason_code_of_the_validator_has_a_message():
    from app.blueprints.verification import REASON_MESSAGES, VERDICT_SENTENCES
    from signing.validation import REASONS, VERDICTS

    assert set(REASONS) <= set(REASON_MESSAGES)
    assert set(VERDICTS) <= set(VERDICT_SENTENCES)


def test_unknown_codes_are_shown_raw_and_times_in_the_zone_asked(app):
    from app.blueprints.verification import present

    report = {
        "verdict": "INDETERMINATE",
        "reasons": ["brand-new-code", "untrusted"],
        "signatures": [
            {
                "field": "Signature1",
                "signer": {"common_name": "Amina Berrada", "subject": "CN=Amina Berrada"},
                "signing_time": "2026-03-01T12:00:00+00:00",
                "timestamp_time": None,
                "level": "B-T",
                "coverage": "entire-file",
                "modifications": "some-future-level",
                "chain": ["CN=Amina Berrada"],
                "trusted": False,
                "revocation": "not-checked",
                "verdict": "INDETERMINATE",
                "reasons": ["untrusted"],
            }
        ],
        "document_timestamps": [],
        "sha256": "ab" * 32,
        "pages": 1,
    }
    with app.test_request_context():
        view = present(report, "Africa/Cairo")
        assert view.reasons[0] == "brand-new-code"
        assert "authority this installation trusts" in view.reasons[1]
        signature = view.signatures[0]
        assert signature.signer == "Amina Berrada"
        assert "2:00:00" in signature.signing_time  # 12:00 UTC is 14:00 in Cairo in March
        assert signature.timestamp_time == "—"
        assert signature.modifications == "some-future-level"
        assert signature.level == "PAdES B-T"
        assert signature.coverage == "the whole file"
