"""POST /api/v1/validate: the verdict of the verification page, as JSON, for files from the
shared test data (chosen through its manifest) and a PDF sealed by the organisation."""

from __future__ import annotations

import csv
import io

import pytest

from app.extensions import db
from app.services import signatures
from tests.api.conftest import assert_problem, bearer
from tests.helpers import blank_pdf
from tests.testdata import TESTDATA, needs_testdata


def _manifest() -> dict[str, dict]:
    with (TESTDATA / "manifest.tsv").open(newline="") as handle:
        return {row["path"]: row for row in csv.DictReader(handle, delimiter="\t")}


def _validate(app, secret: str, data: bytes, name: str = "doc.pdf"):
    return app.test_client().post(
        "/api/v1/validate", data={"file": (io.BytesIO(data), name)}, headers=bearer(secret)
    )


@needs_testdata
@pytest.mark.parametrize(
    ("path", "expected", "verdict", "reason"),
    [
        # intact and cryptographically valid, from a test PKI this installation does not trust
        ("signature/dss/pdf-signed-original.pdf", "ACCEPT-CRYPTO", "INDETERMINATE", "untrusted"),
        # the same document with a page added after signing
        ("signature/dss/pdf-signed-added-page.pdf", "REJECT", "INVALID", "modified-after-signing"),
    ],
)
def test_shared_test_files_get_their_verdict(
    app, world, token_for, path, expected, verdict, reason
):
    row = _manifest()[path]
    assert row["expected_mailroom_verdict"].startswith(expected)
    data = (TESTDATA / path).read_bytes()
    response = _validate(app, token_for(world.officer, scopes=["validate"]), data)
    assert response.status_code == 200, response.get_data(as_text=True)
    report = response.get_json()
    assert report["verdict"] == verdict and report["sha256"] == row["sha256"]
    reasons = set(report["reasons"]) | {r for s in report["signatures"] for r in s["reasons"]}
    assert reason in reasons


def test_a_pdf_sealed_by_the_organisation_is_valid(app, world, token_for):
    settings = signatures.SignatureSettings.from_config(app.config)
    pdf = signatures.seal(db.session, world.org, blank_pdf(), settings)
    report = _validate(app, token_for(world.agent, scopes=["validate"]), pdf).get_json()
    assert report["verdict"] == "VALID" and report["signatures"][0]["signer"] == "Ministère"


def test_refusals(app, world, token_for):
    secret = token_for(world.officer, scopes=["validate"])
    assert_problem(_validate(app, secret, b"hello", "a.txt"), 422, "validation_failed")
    response = app.test_client().post("/api/v1/validate", data={}, headers=bearer(secret))
    assert_problem(response, 422, "validation_failed")
    assert_problem(
        _validate(app, token_for(world.officer, scopes=["search"]), blank_pdf()),
        403,
        "scope_missing",
    )
    assert _validate(app, secret, blank_pdf()).get_json()["verdict"] == "UNSIGNED"
