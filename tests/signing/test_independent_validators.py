"""Diwan's signatures judged by tools that share no code with pyHanko: poppler's pdfsig (NSS)
trusting Diwan's CA, and qpdf's structural check.

pdfsig needs an NSS certificate database. NSS's `certutil` (Debian libnss3-tools) is not needed:
the database is written through libnss3 itself, which pdfsig links, in a child process so NSS's
global state never touches the test process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from signing.pades import ValidationMaterial, add_document_timestamp, sign_pdf
from signing.signer import KeySigner
from signing.timestamps import LocalTimeStamper
from tests.signing.test_pades import STAMP, two_page_letter

pytestmark = pytest.mark.skipif(
    shutil.which("pdfsig") is None or shutil.which("qpdf") is None,
    reason="poppler-utils (pdfsig) and qpdf are needed: apt-get install poppler-utils qpdf",
)

# Creates (or opens) an NSS SQL database and imports each certificate given as a DER file, trusted
# as a CA for TLS, e-mail and object signing ("CT,C,C", what `certutil -A -t CT,C,C` does).
_NSS_IMPORT = r"""
import ctypes, sys

nss = ctypes.CDLL("libnss3.so")


class Item(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint), ("data", ctypes.c_char_p), ("len", ctypes.c_uint)]


class Trust(ctypes.Structure):
    _fields_ = [("ssl", ctypes.c_uint), ("email", ctypes.c_uint), ("objsign", ctypes.c_uint)]


nss.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
nss.PK11_NeedUserInit.argtypes = [ctypes.c_void_p]
nss.PK11_InitPin.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
nss.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
nss.CERT_GetDefaultCertDB.restype = ctypes.c_void_p
nss.CERT_NewTempCertificate.restype = ctypes.c_void_p
nss.CERT_NewTempCertificate.argtypes = [
    ctypes.c_void_p, ctypes.POINTER(Item), ctypes.c_char_p, ctypes.c_int, ctypes.c_int
]
nss.PK11_ImportCert.argtypes = [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int
]
nss.CERT_DecodeTrustString.argtypes = [ctypes.POINTER(Trust), ctypes.c_char_p]
nss.CERT_ChangeCertTrust.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(Trust)]
nss.CERT_DestroyCertificate.argtypes = [ctypes.c_void_p]


def check(status, what):
    if status != 0:
        sys.exit(f"NSS: {what} failed")


check(nss.NSS_InitReadWrite(b"sql:" + sys.argv[1].encode()), "NSS_InitReadWrite")
slot = nss.PK11_GetInternalKeySlot()
if nss.PK11_NeedUserInit(slot):
    check(nss.PK11_InitPin(slot, b"", b""), "PK11_InitPin")  # an empty password, as certutil -N
database = nss.CERT_GetDefaultCertDB()
for number, path in enumerate(sys.argv[2:]):
    der = open(path, "rb").read()
    item = Item(0, der, len(der))
    certificate = nss.CERT_NewTempCertificate(database, ctypes.byref(item), None, 0, 1)
    if not certificate:
        sys.exit(f"NSS: cannot decode {path}")
    check(nss.PK11_ImportCert(slot, certificate, 0, f"ca-{number}".encode(), 0), "PK11_ImportCert")
    trust = Trust()
    check(nss.CERT_DecodeTrustString(ctypes.byref(trust), b"CT,C,C"), "CERT_DecodeTrustString")
    check(nss.CERT_ChangeCertTrust(database, certificate, ctypes.byref(trust)), "trust")
    nss.CERT_DestroyCertificate(certificate)
nss.PK11_FreeSlot(slot)
check(nss.NSS_Shutdown(), "NSS_Shutdown")
"""


def make_nss_db(directory: Path, trusted_cas) -> Path:
    directory.mkdir()
    files = []
    for number, certificate in enumerate(trusted_cas):
        path = directory.parent / f"{directory.name}-ca-{number}.der"
        path.write_bytes(certificate.public_bytes(Encoding.DER))
        files.append(str(path))
    subprocess.run(
        [sys.executable, "-c", _NSS_IMPORT, str(directory), *files],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert (directory / "cert9.db").exists()
    return directory


def pdfsig(pdf: bytes, nss_db: Path, tmp_path: Path) -> list[dict[str, str]]:
    """pdfsig's report, one dict per signature ("Signature Validation" -> "Signature is Valid.")."""
    path = tmp_path / "checked.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        # No -no-ocsp: with it pdfsig 22.12 reports "Unknown issue with Certificate" for every
        # certificate. Diwan's certificates name no OCSP responder, so nothing is fetched anyway.
        ["pdfsig", "-nssdir", f"sql:{nss_db}", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    blocks = re.split(r"^Signature #\d+:$", result.stdout, flags=re.MULTILINE)[1:]
    reports = []
    for block in blocks:
        fields = dict(re.findall(r"^  - ([^:\n]+): (.*)$", block, flags=re.MULTILINE))
        reports.append(fields)
    return reports


def cades_reports(reports: list[dict[str, str]]) -> list[dict[str, str]]:
    # pdfsig 22.12 cannot verify RFC 3161 document time-stamps; it lists them as "unknown".
    return [r for r in reports if r.get("Signature Type") == "ETSI.CAdES.detached"]


def assert_valid_and_trusted(report: dict[str, str]) -> None:
    assert report.get("Signature Validation") == "Signature is Valid.", report
    assert report.get("Certificate Validation") == "Certificate is Trusted.", report


def qpdf_check(pdf: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "qpdf-checked.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def letter() -> bytes:
    return two_page_letter()


@pytest.fixture(scope="module")
def timestamper(pki) -> LocalTimeStamper:
    return LocalTimeStamper(pki.tsa.certificate, pki.tsa.key, pki.tsa.chain)


@pytest.fixture(scope="module")
def material(pki) -> ValidationMaterial:
    return ValidationMaterial(trust_roots=tuple(pki.trust_roots), crls=(pki.crl,))


@pytest.fixture
def trusting_db(pki, tmp_path) -> Path:
    return make_nss_db(tmp_path / "nss", pki.trust_roots)


def _signer(identity) -> KeySigner:
    return KeySigner(identity.key, identity.certificate, identity.chain)


@pytest.mark.parametrize(
    ("who", "level"),
    [
        ("signatory_ec", "B-B"),
        ("signatory_rsa", "B-B"),
        ("signatory_ec", "B-LT"),
        ("signatory_rsa", "B-LTA"),
    ],
)
def test_pdfsig_and_qpdf_accept_our_signatures(
    pki, letter, timestamper, material, trusting_db, tmp_path, who, level
):
    identity = getattr(pki, who)
    signed = sign_pdf(
        letter, _signer(identity), level=level, timestamper=timestamper, validation=material
    )

    [report] = cades_reports(pdfsig(signed, trusting_db, tmp_path))
    assert_valid_and_trusted(report)
    assert report["Signing Hash Algorithm"] == "SHA-256"
    assert report["Signature Field Name"] == "Signature1"
    check = qpdf_check(signed, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No syntax or stream encoding errors found" in check.stdout


@pytest.mark.parametrize("who", ["signatory_ec", "signatory_rsa"])
def test_pdfsig_and_qpdf_accept_a_visible_stamp(pki, letter, trusting_db, tmp_path, who):
    signed = sign_pdf(letter, _signer(getattr(pki, who)), stamp=STAMP)

    [report] = cades_reports(pdfsig(signed, trusting_db, tmp_path))
    assert_valid_and_trusted(report)
    assert report["Signature Field Name"] == "Signature1"
    assert qpdf_check(signed, tmp_path).returncode == 0


def test_pdfsig_accepts_both_signatures_of_a_twice_signed_renewed_document(
    pki, letter, timestamper, material, trusting_db, tmp_path
):
    first = sign_pdf(
        letter,
        _signer(pki.signatory_ec),
        level="B-LTA",
        timestamper=timestamper,
        validation=material,
    )
    second = sign_pdf(first, _signer(pki.signatory_rsa), level="B-T", timestamper=timestamper)
    renewed = add_document_timestamp(second, timestamper, material)

    reports = cades_reports(pdfsig(renewed, trusting_db, tmp_path))
    assert len(reports) == 2
    for report in reports:
        assert_valid_and_trusted(report)
    assert qpdf_check(renewed, tmp_path).returncode == 0


def test_pdfsig_does_not_trust_a_ca_it_was_not_given(pki, letter, tmp_path):
    # The control for the trust check above: same document, a database without Diwan's CA.
    untrusting_db = make_nss_db(tmp_path / "empty-nss", [])
    signed = sign_pdf(letter, _signer(pki.signatory_ec))

    [report] = cades_reports(pdfsig(signed, untrusting_db, tmp_path))

    assert report["Signature Validation"] == "Signature is Valid."
    assert report["Certificate Validation"] == "Certificate issuer isn't Trusted."


def test_pdfsig_sees_a_byte_changed_after_signing(pki, letter, trusting_db, tmp_path):
    signed = bytearray(sign_pdf(letter, _signer(pki.signatory_ec)))
    first_page_text = signed.index(b"stream") + 20  # inside the signed range, a content stream
    signed[first_page_text] ^= 0x01

    [report] = cades_reports(pdfsig(bytes(signed), trusting_db, tmp_path))

    assert report["Signature Validation"] != "Signature is Valid."


def test_qpdf_check_fails_on_a_truncated_signed_file(pki, letter, tmp_path):
    signed = sign_pdf(letter, _signer(pki.signatory_ec))

    assert qpdf_check(signed[: len(signed) // 2], tmp_path).returncode != 0
