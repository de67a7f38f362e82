"""The organisation's certificate authority: keys, names, certificates, CRLs and PKCS#12 import.

Profiles are deliberately conventional (SKI/AKI, critical basicConstraints and keyUsage, a CRL
distribution point on every leaf) so that signatures verify both with pyhanko_certvalidator and
with NSS (poppler's `pdfsig`).
"""

from __future__ import annotations

import stringprep
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

MAX_PKCS12_BYTES = 1024 * 1024
# X.520 upper bound for the directory string attributes we write (CN, O, OU, title).
MAX_NAME_ATTRIBUTE_LENGTH = 64
# Certificates start slightly in the past so a verifier whose clock lags a little accepts them.
CLOCK_SKEW = timedelta(minutes=1)
PURPOSES = ("signatory", "seal", "timestamping")


def _utc_now(now: datetime | None) -> datetime:
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return moment.astimezone(UTC).replace(microsecond=0)


# --- keys -----------------------------------------------------------------------------------------


def generate_key(kind: str = "ec-p256") -> PrivateKey:
    """A fresh private key: "ec-p256", "rsa-2048" or "rsa-3072"."""
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind in ("rsa-2048", "rsa-3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    raise ValueError(f"unknown key kind {kind!r}: use 'ec-p256', 'rsa-2048' or 'rsa-3072'")


# --- names ----------------------------------------------------------------------------------------


class MixedScriptName(ValueError):
    """A name attribute that certificate validators would choke on (mixed or unsupported script)."""

    def __init__(self, value: str, reason: str, attribute: str = "") -> None:
        self.value = value
        self.reason = reason
        self.attribute = attribute
        where = f"{attribute}: " if attribute else ""
        super().__init__(f"{where}{reason} ({value!r})")

    def for_attribute(self, attribute: str) -> MixedScriptName:
        return MixedScriptName(self.value, self.reason, attribute)


# Ordinal indicators are Latin letters in use ("Nº 12") whose Unicode names do not say LATIN.
_LATIN_WITHOUT_THE_NAME = frozenset("ªº")


def _letter_script(char: str) -> str | None:
    """ "arabic", "latin" or "other" for a letter; None for anything that is not a letter."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    if name.startswith("ARABIC "):
        return "arabic"
    if name.startswith("LATIN ") or char in _LATIN_WITHOUT_THE_NAME:
        return "latin"
    return "other"


def _rfc4518_prepare(text: str) -> str:
    """asn1crypto's string preparation, as used when pyhanko_certvalidator compares names."""
    attribute = asn1_x509.NameTypeAndValue(
        {"type": "common_name", "value": asn1_x509.DirectoryString(name="utf8_string", value=text)}
    )
    return attribute.prepped_value


def check_script(value: str) -> None:
    """Accept a value written wholly in Arabic or wholly in Latin letters (digits, spaces and
    punctuation allowed in both); raise MixedScriptName otherwise, ValueError when empty.

    Why: pyhanko_certvalidator compares names with asn1crypto, which applies RFC 4518 string
    preparation and raises on a value mixing right-to-left and left-to-right letters, or on a
    right-to-left value that does not begin and end with a right-to-left letter.
    """
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise ValueError("a name attribute cannot be empty")
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Cn"):
            raise MixedScriptName(
                value, f"contains an invisible or control character U+{ord(char):04X}"
            )
    scripts = {_letter_script(char) for char in text} - {None}
    if "other" in scripts:
        raise MixedScriptName(value, "contains letters that are neither Arabic nor Latin")
    if scripts == {"arabic", "latin"}:
        raise MixedScriptName(value, "mixes Arabic and Latin letters; write it in one script")
    if scripts == {"arabic"}:
        prepared = unicodedata.normalize("NFKC", text)
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise MixedScriptName(
                value,
                "an Arabic value must begin and end with an Arabic letter "
                "(not a digit, punctuation mark or diacritic)",
            )
    # The very check pyHanko's validator will run, as a backstop for anything missed above.
    try:
        _rfc4518_prepare(text)
    except ValueError as error:
        raise MixedScriptName(value, str(error)) from error


def _ascii_email(email: str) -> str:
    local, at, domain = email.strip().partition("@")
    if not (at and local and "." in domain and email.isascii() and " " not in email.strip()):
        raise ValueError(f"email: not an ASCII e-mail address ({email!r})")
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Subject:
    common_name: str
    organisation: str | None = None
    organisational_unit: str | None = None
    title: str | None = None
    country: str | None = None  # two ASCII letters
    email: str | None = None  # written into subjectAltName, as RFC 5280 asks, not into the name

    def to_name(self) -> x509.Name:
        """The distinguished name, most general attribute first (C, O, OU, title, CN)."""
        attributes = []
        if self.country is not None:
            country = self.country.strip().upper()
            if not (len(country) == 2 and country.isascii() and country.isalpha()):
                raise ValueError(f"country: must be two ASCII letters ({self.country!r})")
            attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
        for attribute, oid, value in (
            ("organisation", NameOID.ORGANIZATION_NAME, self.organisation),
            ("organisational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME, self.organisational_unit),
            ("title", NameOID.TITLE, self.title),
            ("common_name", NameOID.COMMON_NAME, self.common_name),
        ):
            if value is None:
                continue
            try:
                check_script(value)
            except MixedScriptName as error:
                raise error.for_attribute(attribute) from None
            except ValueError as error:
                raise ValueError(f"{attribute}: {error}") from None
            text = unicodedata.normalize("NFC", value.strip())
            if len(text) > MAX_NAME_ATTRIBUTE_LENGTH:
                raise ValueError(
                    f"{attribute}: longer than {MAX_NAME_ATTRIBUTE_LENGTH} characters ({value!r})"
                )
            # cryptography encodes these as UTF8String, which Arabic needs.
            attributes.append(x509.NameAttribute(oid, text))
        return x509.Name(attributes)


# --- authority and certificates -------------------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    certificate: x509.Certificate
    key: PrivateKey


def _serial_number() -> int:
    # 159 random bits: positive, at most 20 octets, as RFC 5280 and the CA/B forum ask.
    while True:
        serial = x509.random_serial_number()
        if serial > 0:
            return serial


def create_authority(
    subject: Subject,
    *,
    key: PrivateKey | None = None,
    valid_for: timedelta = timedelta(days=3650),
    now: datetime | None = None,
) -> Authority:
    """A self-signed root that issues end-entity certificates only (path length 0)."""
    moment = _utc_now(now)
    key = key if key is not None else generate_key("ec-p256")
    name = subject.to_name()
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(_serial_number())
        .not_valid_before(moment - CLOCK_SKEW)
        .not_valid_after(moment + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate=certificate, key=key)


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_identifier(authority: Authority) -> x509.AuthorityKeyIdentifier:
    ski = authority.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def issue_certificate(
    authority: Authority,
    subject: Subject,
    public_key: PublicKey,
    *,
    purpose: str,
    crl_url: str | None,
    valid_for: timedelta = timedelta(days=3 * 365),
    now: datetime | None = None,
) -> x509.Certificate:
    """An end-entity certificate: "signatory" and "seal" may sign documents (digitalSignature +
    nonRepudiation), "timestamping" may only sign time-stamps (critical timeStamping EKU).

    It never outlives the authority, and cannot be issued outside the authority's validity."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}: use one of {', '.join(PURPOSES)}")
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise TypeError("the public key must be an EC or RSA public key")
    moment = _utc_now(now)
    ca = authority.certificate
    if not ca.not_valid_before_utc <= moment <= ca.not_valid_after_utc:
        raise ValueError(f"the authority is not valid on {moment.isoformat()}")
    not_after = min(moment + valid_for, ca.not_valid_after_utc)

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject.to_name())
        .issuer_name(ca.subject)
        .public_key(public_key)
        .serial_number(_serial_number())
        .not_valid_before(max(moment - CLOCK_SKEW, ca.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_identifier(authority), critical=False)
    )
    if purpose == "timestamping":
        builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
        # RFC 3161 §2.3: the TSA certificate's only EKU, and critical.
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    else:
        builder = builder.add_extension(
            _key_usage(digital_signature=True, content_commitment=True), critical=True
        )
    if crl_url is not None:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    if subject.email is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(_ascii_email(subject.email))]),
            critical=False,
        )
    return builder.sign(authority.key, hashes.SHA256())


# --- revocation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None


def build_crl(
    authority: Authority,
    revoked: Iterable[RevokedEntry],
    *,
    number: int,
    this_update: datetime | None = None,
    next_update: timedelta = timedelta(days=7),
) -> x509.CertificateRevocationList:
    """A complete CRL. `number` must grow with every CRL the authority publishes (RFC 5280
    §5.2.3); the caller keeps the counter."""
    if number < 0:
        raise ValueError("the CRL number cannot be negative")
    moment = _utc_now(this_update)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.certificate.subject)
        .last_update(moment)
        .next_update(moment + next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_authority_key_identifier(authority), critical=False)
    )
    for entry in revoked:
        revoked_builder = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(_utc_now(entry.revoked_at))
        )
        if entry.reason is not None:
            revoked_builder = revoked_builder.add_extension(
                x509.CRLReason(entry.reason), critical=False
            )
        builder = builder.add_revoked_certificate(revoked_builder.build())
    return builder.sign(authority.key, hashes.SHA256())


# --- fitness for signing --------------------------------------------------------------------------


class UnsuitableCertificate(ValueError):
    """A certificate that cannot be used to sign documents; the message says why."""


# Extended key usages that confine a certificate to something other than signing documents.
_NOT_FOR_DOCUMENTS = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


def check_signing_certificate(cert: x509.Certificate, *, now: datetime | None = None) -> None:
    """Raise UnsuitableCertificate unless `cert` may sign documents at `now`.

    nonRepudiation is required (it is what makes a signature an approval); digitalSignature is
    not, since qualified signature certificates often carry nonRepudiation alone."""
    moment = _utc_now(now)
    if moment > cert.not_valid_after_utc:
        raise UnsuitableCertificate(
            f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    if moment < cert.not_valid_before_utc:
        raise UnsuitableCertificate(
            f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        raise UnsuitableCertificate("this is a certificate authority's certificate, not a signer's")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise UnsuitableCertificate(
            "the certificate does not state its key usage, so nonRepudiation is missing"
        ) from None
    if not usage.content_commitment:
        raise UnsuitableCertificate(
            "the certificate's key usage lacks nonRepudiation (content commitment)"
        )
    try:
        purposes = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        purposes = set()
    if purposes and purposes <= _NOT_FOR_DOCUMENTS.keys():
        names = ", ".join(sorted(_NOT_FOR_DOCUMENTS[oid] for oid in purposes))
        raise UnsuitableCertificate(f"the certificate is restricted to {names}")
    if not isinstance(cert.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise UnsuitableCertificate("only RSA and elliptic-curve keys are supported")


# --- PKCS#12 import -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]


class BadPkcs12(ValueError):
    """Not a usable PKCS#12 file: wrong password, damaged, or without a key or certificate."""


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_pkcs12(data: bytes, password: str):
    # An empty password may mean "no password" or "the empty password" depending on the tool.
    candidates = [password.encode("utf-8")] if password else [None, b""]
    for candidate in candidates:
        try:
            return pkcs12.load_key_and_certificates(data, candidate)
        except ValueError:
            continue
    raise BadPkcs12("the file is not a PKCS#12 (.p12/.pfx) or the password is wrong")


def import_pkcs12(data: bytes, password: str, *, now: datetime | None = None) -> Identity:
    """The key, certificate and chain of a PKCS#12 issued by an outside CA, checked for signing."""
    if len(data) > MAX_PKCS12_BYTES:
        raise BadPkcs12("the file is larger than 1 MB, which no PKCS#12 for one signer needs")
    key, certificate, additional = _load_pkcs12(data, password)
    if key is None:
        raise BadPkcs12("the file contains no private key")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise BadPkcs12("only RSA and elliptic-curve keys are supported")
    key_der = _public_der(key.public_key())
    others = list(additional)
    if certificate is None:
        # Some tools store the signer's certificate among the others, without a key ID.
        matching = [cert for cert in others if _public_der(cert.public_key()) == key_der]
        if not matching:
            raise BadPkcs12("the file contains no certificate for its key")
        certificate = matching[0]
        others.remove(certificate)
    if _public_der(certificate.public_key()) != key_der:
        raise UnsuitableCertificate("the private key does not match the certificate")
    check_signing_certificate(certificate, now=now)
    return Identity(key=key, certificate=certificate, chain=tuple(others))


# --- encodings ------------------------------------------------------------------------------------


def pem(obj) -> bytes:
    """PEM of a certificate, CRL, CSR or public key. Private keys are refused on purpose: they
    leave this package only sealed (see keystore.seal_key)."""
    if isinstance(
        obj, x509.Certificate | x509.CertificateRevocationList | x509.CertificateSigningRequest
    ):
        return obj.public_bytes(serialization.Encoding.PEM)
    if isinstance(obj, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return obj.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    raise TypeError(f"cannot write {type(obj).__name__} as PEM")


def _is_pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN")


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes; ValueError if it is neither."""
    try:
        if _is_pem(data):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as error:
        raise ValueError(f"not an X.509 certificate in PEM or DER: {error}") from None


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from PEM or DER bytes; ValueError if it is neither."""
    try:
        if _is_pem(data):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as error:
        raise ValueError(f"not a certificate revocation list in PEM or DER: {error}") from None
