"""A demonstration PKI built once per test session, and a throw-away SoftHSM2 token per test.

Other signing tests (PAdES, time-stamps, stamps, validation) build on these fixtures: keep the
names and attributes stable.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import ValidationContext

from signing.pki import (
    Authority,
    Identity,
    RevokedEntry,
    Subject,
    build_crl,
    create_authority,
    generate_key,
    issue_certificate,
)

CRL_URL = "http://127.0.0.1:5000/pki/demo/crl.der"
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_TOKEN_LABEL = "diwan-test"
SOFTHSM_SO_PIN = "12345678"
SOFTHSM_USER_PIN = "246810"

# The CA starts a year in the past so that certificates can be issued "back then" (the expired
# signatory) while staying inside the CA's own validity period.
_CA_STARTED = timedelta(days=365)


@dataclass(frozen=True)
class DemoPki:
    authority: Authority
    signatory_ec: Identity
    signatory_rsa: Identity
    seal: Identity
    tsa: Identity
    crl: x509.CertificateRevocationList
    crl_url: str
    trust_roots: list[x509.Certificate]


def _identity(
    authority: Authority,
    subject: Subject,
    *,
    kind: str = "ec-p256",
    purpose: str = "signatory",
    now: datetime | None = None,
    valid_for: timedelta = timedelta(days=3 * 365),
) -> Identity:
    key = generate_key(kind)
    certificate = issue_certificate(
        authority,
        subject,
        key.public_key(),
        purpose=purpose,
        crl_url=CRL_URL,
        now=now,
        valid_for=valid_for,
    )
    return Identity(key=key, certificate=certificate, chain=(authority.certificate,))


def as_asn1(obj: x509.Certificate | x509.CertificateRevocationList):
    """The asn1crypto form pyHanko works with."""
    if isinstance(obj, x509.CertificateRevocationList):
        return asn1_crl.CertificateList.load(obj.public_bytes(Encoding.DER))
    return asn1_x509.Certificate.load(obj.public_bytes(Encoding.DER))


@pytest.fixture
def validation_context(pki: DemoPki):
    """A factory of strict validation contexts trusting the demo CA: the given CRLs (default: the
    empty demo CRL) and nothing fetched; a certificate without revocation data fails."""

    def make(crls: list[x509.CertificateRevocationList] | None = None) -> ValidationContext:
        return ValidationContext(
            trust_roots=[as_asn1(root) for root in pki.trust_roots],
            crls=[as_asn1(crl) for crl in (crls if crls is not None else [pki.crl])],
            allow_fetching=False,
            revocation_mode="hard-fail",
        )

    return make


@pytest.fixture(scope="session")
def pki() -> DemoPki:
    now = datetime.now(UTC)
    authority = create_authority(
        Subject(common_name="وزارة الاختبار", organisation="وزارة الاختبار", country="MA"),
        now=now - _CA_STARTED,
    )
    return DemoPki(
        authority=authority,
        signatory_ec=_identity(
            authority,
            Subject(
                common_name="فاطمة الزهراء",
                title="مديرة",
                organisation="وزارة الاختبار",
                country="MA",
            ),
        ),
        signatory_rsa=_identity(
            authority,
            Subject(
                common_name="Jean Dupont",
                organisation="Ministère de l'Essai",
                email="jean.dupont@example.org",
            ),
            kind="rsa-2048",
        ),
        seal=_identity(
            authority,
            Subject(
                common_name="Ministère de l'Essai — cachet", organisation="Ministère de l'Essai"
            ),
            purpose="seal",
        ),
        tsa=_identity(
            authority,
            Subject(common_name="Diwan TSA", organisation="Ministère de l'Essai"),
            purpose="timestamping",
        ),
        crl=build_crl(authority, [], number=1, this_update=now),
        crl_url=CRL_URL,
        trust_roots=[authority.certificate],
    )


@pytest.fixture(scope="session")
def revoked_signatory(pki: DemoPki) -> Identity:
    return _identity(pki.authority, Subject(common_name="Karim Révoqué"))


@pytest.fixture(scope="session")
def crl_with_revocation(
    pki: DemoPki, revoked_signatory: Identity
) -> x509.CertificateRevocationList:
    entry = RevokedEntry(
        serial=revoked_signatory.certificate.serial_number,
        revoked_at=datetime.now(UTC),
        reason=x509.ReasonFlags.key_compromise,
    )
    return build_crl(pki.authority, [entry], number=2)


@pytest.fixture(scope="session")
def expired_signatory(pki: DemoPki) -> Identity:
    # Valid for 30 days, ending yesterday.
    return _identity(
        pki.authority,
        Subject(common_name="سعيد المنتهي"),
        now=datetime.now(UTC) - timedelta(days=31),
        valid_for=timedelta(days=30),
    )


@pytest.fixture
def tmp_softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh, initialised SoftHSM2 token: yields (module_path, token_label, user_pin)."""
    if not Path(SOFTHSM_MODULE).exists() or shutil.which("softhsm2-util") is None:
        pytest.skip(f"SoftHSM2 is not installed ({SOFTHSM_MODULE}); `apt-get install softhsm2`")
    import pkcs11

    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            SOFTHSM_TOKEN_LABEL,
            "--so-pin",
            SOFTHSM_SO_PIN,
            "--pin",
            SOFTHSM_USER_PIN,
        ],
        check=True,
        capture_output=True,
    )
    # python-pkcs11 keeps one initialised library per process, and SoftHSM2 reads SOFTHSM2_CONF
    # only when initialised: unload it so the next use sees this test's token directory.
    pkcs11.unload(SOFTHSM_MODULE)
    yield SOFTHSM_MODULE, SOFTHSM_TOKEN_LABEL, SOFTHSM_USER_PIN
    pkcs11.unload(SOFTHSM_MODULE)
