"""The organisation CA: names, certificate profiles, revocation, PKCS#12 import, encodings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    pkcs12,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import PathValidationError, RevokedError

from signing.pki import (
    BadPkcs12,
    MixedScriptName,
    RevokedEntry,
    Subject,
    UnsuitableCertificate,
    build_crl,
    check_script,
    check_signing_certificate,
    create_authority,
    generate_key,
    import_pkcs12,
    issue_certificate,
    load_certificate,
    load_crl,
    pem,
)
from tests.signing.conftest import as_asn1


def validate(certificate, context, *, key_usage=frozenset({"non_repudiation"}), eku=None):
    validator = CertificateValidator(as_asn1(certificate), validation_context=context)
    return asyncio.run(validator.async_validate_usage(set(key_usage), eku))


def extension(certificate, kind):
    return certificate.extensions.get_extension_for_class(kind)


# --- keys -----------------------------------------------------------------------------------------


def test_generate_key_kinds():
    assert isinstance(generate_key(), ec.EllipticCurvePrivateKey)
    assert generate_key("ec-p256").curve.name == "secp256r1"
    assert generate_key("rsa-3072").key_size == 3072


@pytest.mark.parametrize("kind", ["ec-p384", "rsa-1024", "", "RSA-2048"])
def test_generate_key_refuses_unknown_kinds(kind):
    with pytest.raises(ValueError, match="unknown key kind"):
        generate_key(kind)


# --- name scripts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "فاطمة الزهراء",
        "وزارة الاختبار",
        "مكتب ٣ - الطابق 2 ب",  # Arabic-Indic and Western digits, hyphen, inside the value
        "قسم ۱۲، الرباط",  # Extended Arabic-Indic digits and the Arabic comma
        "Ministère de l'Essai",
        "Jean-Éloïse Œuvre",
        "Bureau d'ordre Nº 12",
        "2024",
    ],
)
def test_pure_arabic_or_pure_latin_values_are_accepted(value):
    check_script(value)
    assert Subject(common_name=value).to_name().get_attributes_for_oid(NameOID.COMMON_NAME)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("Direction الموارد", "mixes Arabic and Latin"),
        ("مديرية DRH", "mixes Arabic and Latin"),
        ("Иван Петров", "neither Arabic nor Latin"),
        ("مكتب 3", "begin and end with an Arabic letter"),
        ("3 مكتب", "begin and end with an Arabic letter"),
        ("وزارة (الرباط)", "begin and end with an Arabic letter"),
        ("Jean\u200fDupont", "invisible or control character"),
    ],
)
def test_values_validators_would_reject_are_refused(value, why):
    with pytest.raises(MixedScriptName, match=why) as caught:
        check_script(value)
    assert caught.value.value == value


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_empty_values_are_refused(value):
    with pytest.raises(ValueError, match="empty") as caught:
        check_script(value)
    assert not isinstance(caught.value, MixedScriptName)


@pytest.mark.parametrize(
    ("subject", "attribute"),
    [
        (Subject(common_name="Direction الموارد"), "common_name"),
        (Subject(common_name="فاطمة", organisation="Ministère الاختبار"), "organisation"),
        (Subject(common_name="Jean", organisational_unit="DRH قسم"), "organisational_unit"),
        (Subject(common_name="فاطمة", title="Directrice مديرة"), "title"),
    ],
)
def test_a_mixed_attribute_is_named(subject, attribute):
    with pytest.raises(MixedScriptName) as caught:
        subject.to_name()
    assert caught.value.attribute == attribute
    assert str(caught.value).startswith(f"{attribute}: ")


def _raw_leaf(pki, common_name: str) -> x509.Certificate:
    """A signatory certificate built around Subject.to_name, so any name gets through."""
    now = datetime.now(UTC)
    key = pki.signatory_ec.key
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(pki.authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            pki.signatory_ec.certificate.extensions.get_extension_for_class(x509.KeyUsage).value,
            critical=True,
        )
        .add_extension(
            extension(pki.signatory_ec.certificate, x509.CRLDistributionPoints).value,
            critical=False,
        )
        .add_extension(
            extension(pki.signatory_ec.certificate, x509.AuthorityKeyIdentifier).value,
            critical=False,
        )
        .sign(pki.authority.key, hashes.SHA256())
    )


def test_why_the_rule_a_pure_name_validates_in_pyhanko(pki, validation_context):
    # Control for the two tests below: the same certificate with a one-script name is fine.
    assert validate(_raw_leaf(pki, "فاطمة الزهراء"), validation_context())


@pytest.mark.parametrize("common_name", ["Direction الموارد", "مكتب 3"])
def test_why_the_rule_pyhanko_cannot_validate_such_a_name(pki, validation_context, common_name):
    # asn1crypto's RFC 4518 preparation raises while pyhanko_certvalidator indexes the
    # certificate by name: validation does not even fail cleanly, it crashes with ValueError.
    certificate = _raw_leaf(pki, common_name)
    with pytest.raises(ValueError, match="malformed bidirectional sequence"):
        validate(certificate, validation_context())


def test_subject_attributes_order_and_encoding():
    name = Subject(
        common_name="فاطمة الزهراء",
        organisation="وزارة الاختبار",
        organisational_unit="مديرية الموارد",
        title="مديرة",
        country="ma",
    ).to_name()
    assert [attribute.oid for attribute in name] == [
        NameOID.COUNTRY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.TITLE,
        NameOID.COMMON_NAME,
    ]
    parsed = asn1_x509.Name.load(name.public_bytes())
    kinds = {pair["type"].native: pair["value"].name for rdn in parsed.chosen for pair in rdn}
    assert kinds["country_name"] == "printable_string"
    assert kinds["common_name"] == kinds["title"] == "utf8_string"
    assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "MA"


@pytest.mark.parametrize("country", ["MAR", "M", "م ر", "1A"])
def test_country_must_be_two_ascii_letters(country):
    with pytest.raises(ValueError, match="country"):
        Subject(common_name="Jean", country=country).to_name()


def test_overlong_attribute_is_refused():
    with pytest.raises(ValueError, match="organisation: longer than 64"):
        Subject(common_name="Jean", organisation="Ministère " * 7).to_name()


# --- certificate profiles -------------------------------------------------------------------------


def test_authority_profile(pki):
    ca = pki.authority.certificate
    constraints = extension(ca, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = extension(ca, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = extension(ca, x509.SubjectKeyIdentifier).value
    assert extension(ca, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)
    assert 0 < ca.serial_number < 2**159


@pytest.mark.parametrize("holder", ["signatory_ec", "signatory_rsa", "seal"])
def test_document_signing_profile(pki, holder):
    certificate = getattr(pki, holder).certificate
    constraints = extension(certificate, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = extension(certificate, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.key_encipherment)
    with pytest.raises(x509.ExtensionNotFound):
        extension(certificate, x509.ExtendedKeyUsage)
    (point,) = extension(certificate, x509.CRLDistributionPoints).value
    assert [uri.value for uri in point.full_name] == [pki.crl_url]
    ca_ski = extension(pki.authority.certificate, x509.SubjectKeyIdentifier).value.digest
    assert extension(certificate, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert extension(certificate, x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())
    )
    certificate.verify_directly_issued_by(pki.authority.certificate)
    assert 0 < certificate.serial_number < 2**159


def test_email_goes_into_subject_alt_name(pki):
    certificate = pki.signatory_rsa.certificate
    names = extension(certificate, x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.RFC822Name) == ["jean.dupont@example.org"]
    with pytest.raises(ValueError, match="email"):
        issue_certificate(
            pki.authority,
            Subject(common_name="Jean", email="jean dupont@"),
            pki.signatory_rsa.key.public_key(),
            purpose="signatory",
            crl_url=None,
        )


def test_timestamping_profile(pki, validation_context):
    certificate = pki.tsa.certificate
    purposes = extension(certificate, x509.ExtendedKeyUsage)
    assert purposes.critical and list(purposes.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    usage = extension(certificate, x509.KeyUsage).value
    assert usage.digital_signature and not usage.content_commitment
    validate(
        certificate,
        validation_context(),
        key_usage={"digital_signature"},
        eku={"time_stamping"},
    )


def test_without_crl_url_there_is_no_distribution_point(pki):
    certificate = issue_certificate(
        pki.authority,
        Subject(common_name="Jean"),
        pki.signatory_ec.key.public_key(),
        purpose="seal",
        crl_url=None,
    )
    with pytest.raises(x509.ExtensionNotFound):
        extension(certificate, x509.CRLDistributionPoints)


def test_issuing_refuses_bad_requests(pki):
    public_key = pki.signatory_ec.key.public_key()
    with pytest.raises(ValueError, match="unknown purpose"):
        issue_certificate(pki.authority, Subject("Jean"), public_key, purpose="tls", crl_url=None)
    with pytest.raises(ValueError, match="authority is not valid"):
        issue_certificate(
            pki.authority,
            Subject("Jean"),
            public_key,
            purpose="signatory",
            crl_url=None,
            now=datetime.now(UTC) - timedelta(days=400),
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_certificate(
            pki.authority,
            Subject("Jean"),
            public_key,
            purpose="signatory",
            crl_url=None,
            now=datetime.now(),  # naive: refused
        )


def test_a_certificate_never_outlives_its_authority():
    now = datetime.now(UTC)
    authority = create_authority(Subject("Courte"), valid_for=timedelta(days=10), now=now)
    key = generate_key()
    certificate = issue_certificate(
        authority, Subject("Jean"), key.public_key(), purpose="signatory", crl_url=None, now=now
    )
    assert certificate.not_valid_after_utc == authority.certificate.not_valid_after_utc


# --- path validation and revocation ---------------------------------------------------------------


@pytest.mark.parametrize("holder", ["signatory_ec", "signatory_rsa", "seal"])
def test_chain_validates_in_pyhanko_with_the_crl(pki, validation_context, holder):
    path = validate(getattr(pki, holder).certificate, validation_context())
    assert path.first.dump() == as_asn1(pki.authority.certificate).dump()


def test_hard_fail_needs_the_crl(pki, validation_context):
    # Proves the CRL is really consulted: without it the same chain does not validate.
    with pytest.raises(PathValidationError):
        validate(pki.signatory_ec.certificate, validation_context(crls=[]))


def test_revoked_certificate_fails_validation(
    pki, validation_context, revoked_signatory, crl_with_revocation
):
    assert validate(revoked_signatory.certificate, validation_context())
    with pytest.raises(RevokedError):
        validate(revoked_signatory.certificate, validation_context([crl_with_revocation]))
    # Others stay valid under the new CRL.
    assert validate(pki.signatory_ec.certificate, validation_context([crl_with_revocation]))


def test_expired_certificate_fails_validation(validation_context, expired_signatory):
    with pytest.raises(PathValidationError, match="expired"):
        validate(expired_signatory.certificate, validation_context())


def test_crl_contents_and_signature(pki, revoked_signatory, crl_with_revocation):
    authority_key = pki.authority.certificate.public_key()
    assert pki.crl.is_signature_valid(authority_key)
    assert crl_with_revocation.is_signature_valid(authority_key)
    assert not crl_with_revocation.is_signature_valid(generate_key().public_key())
    assert crl_with_revocation.issuer == pki.authority.certificate.subject
    assert len(pki.crl) == 0
    entry = crl_with_revocation.get_revoked_certificate_by_serial_number(
        revoked_signatory.certificate.serial_number
    )
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    assert (
        crl_with_revocation.get_revoked_certificate_by_serial_number(
            pki.signatory_ec.certificate.serial_number
        )
        is None
    )
    first = extension(pki.crl, x509.CRLNumber).value.crl_number
    second = extension(crl_with_revocation, x509.CRLNumber).value.crl_number
    assert (first, second) == (1, 2)
    assert crl_with_revocation.next_update_utc - crl_with_revocation.last_update_utc == (
        timedelta(days=7)
    )


def test_crl_number_cannot_be_negative(pki):
    with pytest.raises(ValueError, match="negative"):
        build_crl(pki.authority, [], number=-1)


def test_crl_entry_without_reason(pki):
    crl = build_crl(
        pki.authority, [RevokedEntry(serial=42, revoked_at=datetime.now(UTC))], number=3
    )
    (entry,) = crl
    assert entry.serial_number == 42
    assert len(entry.extensions) == 0


# --- fitness for signing --------------------------------------------------------------------------


@pytest.mark.parametrize("holder", ["signatory_ec", "signatory_rsa", "seal"])
def test_document_certificates_are_suitable(pki, holder):
    check_signing_certificate(getattr(pki, holder).certificate)


def test_unsuitable_certificates_say_why(pki, expired_signatory):
    with pytest.raises(UnsuitableCertificate, match="expired on"):
        check_signing_certificate(expired_signatory.certificate)
    with pytest.raises(UnsuitableCertificate, match="not valid before"):
        check_signing_certificate(
            pki.signatory_ec.certificate, now=datetime.now(UTC) - timedelta(days=2)
        )
    with pytest.raises(UnsuitableCertificate, match="nonRepudiation"):
        check_signing_certificate(pki.tsa.certificate)
    with pytest.raises(UnsuitableCertificate, match="certificate authority"):
        check_signing_certificate(pki.authority.certificate)


def _certificate_with(authority, public_key, *extensions) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(Subject("Jean").to_name())
        .issuer_name(authority.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
    )
    for value in extensions:
        builder = builder.add_extension(value, critical=True)
    return builder.sign(authority.key, hashes.SHA256())


_KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(**flags) -> x509.KeyUsage:
    return x509.KeyUsage(**{name: flags.get(name, False) for name in _KEY_USAGE_NAMES})


def test_key_usage_rules(pki):
    public_key = pki.signatory_ec.key.public_key()
    no_usage = _certificate_with(pki.authority, public_key)
    with pytest.raises(UnsuitableCertificate, match="does not state its key usage"):
        check_signing_certificate(no_usage)
    digital_only = _certificate_with(pki.authority, public_key, _key_usage(digital_signature=True))
    with pytest.raises(UnsuitableCertificate, match="lacks nonRepudiation"):
        check_signing_certificate(digital_only)
    # Qualified signature certificates often carry nonRepudiation alone: accepted.
    check_signing_certificate(
        _certificate_with(pki.authority, public_key, _key_usage(content_commitment=True))
    )
    server = _certificate_with(
        pki.authority,
        public_key,
        _key_usage(digital_signature=True, content_commitment=True),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
    )
    with pytest.raises(UnsuitableCertificate, match="restricted to serverAuth"):
        check_signing_certificate(server)
    check_signing_certificate(
        _certificate_with(
            pki.authority,
            public_key,
            _key_usage(content_commitment=True),
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
            ),
        )
    )


# --- PKCS#12 from an outside CA -------------------------------------------------------------------


@pytest.fixture(scope="module")
def outside_ca():
    return create_authority(
        Subject("Outside Trust Services", organisation="Outside", country="FR"),
        now=datetime.now(UTC) - timedelta(days=365),
    )


def _p12(key, certificate, cas, password: bytes | None = b"s3cret-p12") -> bytes:
    encryption = BestAvailableEncryption(password) if password else NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"signer", key, certificate, cas, encryption)


def _outside_identity(outside_ca, **options):
    key = generate_key()
    certificate = issue_certificate(
        outside_ca,
        Subject("Claire Martin"),
        key.public_key(),
        purpose="signatory",
        crl_url="http://crl.outside.example/ca.crl",
        **options,
    )
    return key, certificate


def test_pkcs12_from_an_outside_ca_imports(outside_ca):
    key, certificate = _outside_identity(outside_ca)
    identity = import_pkcs12(_p12(key, certificate, [outside_ca.certificate]), "s3cret-p12")
    assert identity.certificate == certificate
    assert identity.chain == (outside_ca.certificate,)
    assert identity.key.private_numbers() == key.private_numbers()


def test_pkcs12_with_rsa_key_and_no_password(pki):
    identity = pki.signatory_rsa
    data = _p12(identity.key, identity.certificate, [], password=None)
    imported = import_pkcs12(data, "")
    assert isinstance(imported.key, rsa.RSAPrivateKey)
    assert imported.chain == ()


def test_pkcs12_wrong_password(outside_ca):
    key, certificate = _outside_identity(outside_ca)
    with pytest.raises(BadPkcs12, match="password is wrong"):
        import_pkcs12(_p12(key, certificate, []), "not-the-password")


@pytest.mark.parametrize("data", [b"", b"garbage" * 10, b"-----BEGIN CERTIFICATE-----\n"])
def test_pkcs12_garbage(data):
    with pytest.raises(BadPkcs12):
        import_pkcs12(data, "s3cret-p12")


def test_pkcs12_too_large():
    with pytest.raises(BadPkcs12, match="1 MB"):
        import_pkcs12(b"\x30" * (1024 * 1024 + 1), "s3cret-p12")


def test_pkcs12_without_key(outside_ca):
    _, certificate = _outside_identity(outside_ca)
    data = pkcs12.serialize_key_and_certificates(
        b"signer", None, certificate, None, BestAvailableEncryption(b"pw")
    )
    with pytest.raises(BadPkcs12, match="no private key"):
        import_pkcs12(data, "pw")


def test_pkcs12_with_the_certificate_only_among_the_others(outside_ca):
    key, certificate = _outside_identity(outside_ca)
    data = pkcs12.serialize_key_and_certificates(
        b"signer",
        key,
        None,
        [outside_ca.certificate, certificate],
        BestAvailableEncryption(b"pw"),
    )
    identity = import_pkcs12(data, "pw")
    assert identity.certificate == certificate
    assert identity.chain == (outside_ca.certificate,)


def test_pkcs12_without_any_certificate_for_the_key(outside_ca):
    key, _ = _outside_identity(outside_ca)
    data = pkcs12.serialize_key_and_certificates(
        b"signer",
        key,
        None,
        [outside_ca.certificate],
        BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(BadPkcs12, match="no certificate for its key"):
        import_pkcs12(data, "pw")


def test_pkcs12_expired(outside_ca):
    key, certificate = _outside_identity(
        outside_ca, now=datetime.now(UTC) - timedelta(days=40), valid_for=timedelta(days=30)
    )
    with pytest.raises(UnsuitableCertificate, match="expired"):
        import_pkcs12(_p12(key, certificate, [outside_ca.certificate]), "s3cret-p12")


def test_pkcs12_without_non_repudiation(outside_ca):
    key = generate_key()
    certificate = _certificate_with(
        outside_ca, key.public_key(), _key_usage(digital_signature=True)
    )
    with pytest.raises(UnsuitableCertificate, match="nonRepudiation"):
        import_pkcs12(_p12(key, certificate, []), "s3cret-p12")


def test_pkcs12_key_that_does_not_match(outside_ca, monkeypatch):
    # OpenSSL will not write such a file, so hand the loader a mismatched pair directly.
    _, certificate = _outside_identity(outside_ca)
    other = generate_key()
    monkeypatch.setattr(
        pkcs12, "load_key_and_certificates", lambda data, password: (other, certificate, [])
    )
    with pytest.raises(UnsuitableCertificate, match="does not match"):
        import_pkcs12(b"stand-in", "s3cret-p12")


# --- encodings ------------------------------------------------------------------------------------


def test_certificate_pem_and_der_round_trip(pki):
    certificate = pki.signatory_ec.certificate
    assert pem(certificate).startswith(b"-----BEGIN CERTIFICATE-----")
    assert load_certificate(pem(certificate)) == certificate
    assert load_certificate(b"\n" + pem(certificate)) == certificate
    assert load_certificate(certificate.public_bytes(Encoding.DER)) == certificate


def test_crl_pem_and_der_round_trip(pki):
    assert pem(pki.crl).startswith(b"-----BEGIN X509 CRL-----")
    assert load_crl(pem(pki.crl)) == pki.crl
    assert load_crl(pki.crl.public_bytes(Encoding.DER)) == pki.crl


def test_public_key_pem(pki):
    assert pem(pki.signatory_ec.key.public_key()).startswith(b"-----BEGIN PUBLIC KEY-----")


def test_private_keys_never_leave_as_pem(pki):
    with pytest.raises(TypeError):
        pem(pki.signatory_ec.key)


@pytest.mark.parametrize("data", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nxx"])
def test_loading_garbage_fails_clearly(data):
    with pytest.raises(ValueError, match=r"not an X\.509 certificate"):
        load_certificate(data)
    with pytest.raises(ValueError, match="not a certificate revocation list"):
        load_crl(data)
