"""`python -m signing validate`: one JSON report on stdout, the verdict in the exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from fpdf import FPDF

from signing.pades import sign_pdf
from signing.pki import pem
from signing.signer import KeySigner

PROJECT = Path(__file__).resolve().parents[2]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "signing", *map(str, args)],
        capture_output=True,
        cwd=PROJECT,
        timeout=60,
        check=False,
    )


def report_of(result: subprocess.CompletedProcess[bytes]) -> dict:
    return json.loads(result.stdout.decode("utf-8"))


@pytest.fixture(scope="module")
def files(pki, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    pdf = FPDF()
    pdf.set_compression(False)
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Objet : convocation")
    unsigned = bytes(pdf.output())
    identity = pki.signatory_ec
    signed = sign_pdf(unsigned, KeySigner(identity.key, identity.certificate, identity.chain))
    paths = {
        "signed": signed,
        "tampered": signed.replace(b"convocation", b"annulations"),  # same length
        "unsigned": unsigned,
        "ca.pem": pem(pki.authority.certificate),
        "ca.der": pki.authority.certificate.public_bytes(serialization.Encoding.DER),
        "crl.pem": pem(pki.crl),
        "not-a-cert.pem": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    }
    for name, data in paths.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in paths}


def test_a_trusted_signature_prints_valid_json_and_exits_0(files):
    result = run_cli("validate", files["signed"], "--trust", files["ca.pem"])

    assert result.returncode == 0, result.stderr
    report = report_of(result)
    assert report["verdict"] == "VALID"
    assert report["signatures"][0]["signer"]["common_name"] == "فاطمة الزهراء"


def test_der_roots_and_crls_are_accepted(files):
    result = run_cli(
        "validate", files["signed"], "--trust", files["ca.der"], "--crl", files["crl.pem"]
    )

    assert result.returncode == 0, result.stderr
    assert report_of(result)["signatures"][0]["revocation"] == "good"


def test_without_the_root_it_is_indeterminate_and_exits_2(files):
    result = run_cli("validate", files["signed"])

    assert result.returncode == 2
    assert report_of(result)["reasons"] == ["untrusted"]


def test_a_tampered_file_is_invalid_and_exits_1(files):
    result = run_cli("validate", files["tampered"], "--trust", files["ca.pem"])

    assert result.returncode == 1
    assert report_of(result)["verdict"] == "INVALID"


def test_an_unsigned_file_exits_2(files):
    result = run_cli("validate", files["unsigned"], "--trust", files["ca.pem"])

    assert result.returncode == 2
    assert report_of(result)["verdict"] == "UNSIGNED"


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "/nonexistent/letter.pdf"),
        ("validate", "@signed", "--trust", "/nonexistent/ca.pem"),
        ("validate", "@signed", "--trust", "@not-a-cert.pem"),
        ("validate", "@signed", "--crl", "@ca.pem"),
        ("validate", "@signed", "--timeout", "0"),
        ("validate",),
        ("frobnicate", "@signed"),
    ],
)
def test_what_prevents_running_is_a_message_and_exit_3(files, args):
    result = run_cli(*(files[a[1:]] if a.startswith("@") else a for a in args))

    assert result.returncode == 3
    assert result.stdout == b""
    assert result.stderr.strip()


def test_help_documents_the_exit_statuses():
    result = run_cli("validate", "--help")

    assert result.returncode == 0
    text = result.stdout.decode()
    for line in ("0  VALID", "1  INVALID", "2  REVIEW, INDETERMINATE or UNSIGNED", "3  could not"):
        assert line in text
