"""Keys that never leave a PKCS#11 token (smart card, HSM; tested with SoftHSM2).

pyHanko hashes and the token only signs the digest ("raw" mechanisms: ECDSA, and RSA_PKCS over a
DigestInfo), which every token supports, unlike the hash-and-sign mechanisms (SoftHSM2 has no
ECDSA_SHA256, for one).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pkcs11
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11 import exceptions as p11_errors
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key
from pkcs11.util.x509 import decode_x509_certificate
from pyhanko.sign.pkcs11 import PKCS11Signer

from signing.keystore import WrongSecret
from signing.pki import PublicKey, UnsuitableCertificate

KEY_KINDS = ("ec-p256", "rsa-2048", "rsa-3072")
_ID_BYTES = 16


def _library(module_path: str):
    if not Path(module_path).is_file():
        raise LookupError(f"no PKCS#11 module at {module_path}")
    try:
        return pkcs11.lib(module_path)
    except p11_errors.PKCS11Error as error:
        raise LookupError(f"cannot load the PKCS#11 module {module_path}: {error}") from None


def _open_session(module_path: str, token_label: str, pin: str, *, rw: bool = False):
    library = _library(module_path)
    try:
        token = library.get_token(token_label=token_label)
    except p11_errors.NoSuchToken:
        raise LookupError(f"no token labelled {token_label!r} in {module_path}") from None
    except p11_errors.MultipleTokensReturned:
        raise LookupError(f"several tokens are labelled {token_label!r}") from None
    try:
        return token.open(rw=rw, user_pin=pin)
    except p11_errors.PinLocked:
        raise WrongSecret(f"the PIN of token {token_label!r} is locked") from None
    except (p11_errors.PinIncorrect, p11_errors.PinLenRange, p11_errors.PinInvalid):
        raise WrongSecret(f"wrong PIN for token {token_label!r}") from None


@contextmanager
def _session(module_path: str, token_label: str, pin: str, *, rw: bool = False):
    session = _open_session(module_path, token_label, pin, rw=rw)
    try:
        yield session
    finally:
        session.close()


def _private_key(session, key_label: str):
    try:
        return session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key_label)
    except p11_errors.NoSuchKey:
        raise LookupError(f"no private key labelled {key_label!r} in the token") from None
    except p11_errors.MultipleObjectsReturned:
        raise LookupError(f"several private keys are labelled {key_label!r}") from None


def _public_key(session, key_label: str) -> PublicKey | None:
    """The public half stored beside the key, if the token keeps one (most do)."""
    try:
        handle = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=key_label)
    except (p11_errors.NoSuchKey, p11_errors.MultipleObjectsReturned):
        return None
    if handle.key_type == KeyType.EC:
        return serialization.load_der_public_key(encode_ec_public_key(handle))
    if handle.key_type == KeyType.RSA:
        return serialization.load_der_public_key(encode_rsa_public_key(handle))
    return None


def _same_key(a: PublicKey, b: PublicKey) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(serialization.Encoding.DER, spki) == b.public_bytes(
        serialization.Encoding.DER, spki
    )


def _check_certificate_matches(session, key_label: str, certificate: x509.Certificate) -> None:
    stored = _public_key(session, key_label)
    if stored is not None and not _same_key(stored, certificate.public_key()):
        raise UnsuitableCertificate(
            f"the certificate does not belong to the key labelled {key_label!r}"
        )


def _stored_certificate(session, key_label: str) -> x509.Certificate:
    found = list(
        session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: key_label})
    )
    if not found:
        raise LookupError(f"no certificate labelled {key_label!r} beside the key in the token")
    if len(found) > 1:
        raise LookupError(f"several certificates are labelled {key_label!r}")
    return x509.load_der_x509_certificate(found[0][Attribute.VALUE])


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def generate_keypair(
    module_path: str, *, token_label: str, pin: str, key_label: str, kind: str = "ec-p256"
) -> PublicKey:
    """Create a non-extractable signing key pair in the token; returns its public key, for the
    CA to certify."""
    if kind not in KEY_KINDS:
        raise ValueError(f"unknown key kind {kind!r}: use one of {', '.join(KEY_KINDS)}")
    with _session(module_path, token_label, pin, rw=True) as session:
        existing = session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: key_label}
        )
        if list(existing):
            raise ValueError(f"the token already holds a key labelled {key_label!r}")
        options = {
            "id": os.urandom(_ID_BYTES),
            "label": key_label,
            "store": True,
            "private_template": {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        }
        if kind == "ec-p256":
            parameters = session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            public, _ = parameters.generate_keypair(**options)
            return serialization.load_der_public_key(encode_ec_public_key(public))
        public, _ = session.generate_keypair(KeyType.RSA, int(kind[4:]), **options)
        return serialization.load_der_public_key(encode_rsa_public_key(public))


def store_certificate(
    module_path: str, *, token_label: str, pin: str, key_label: str, certificate: x509.Certificate
) -> None:
    """Write `certificate` beside the key (same label and ID), replacing an older one."""
    with _session(module_path, token_label, pin, rw=True) as session:
        key = _private_key(session, key_label)
        _check_certificate_matches(session, key_label, certificate)
        for old in list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: key_label}
            )
        ):
            old.destroy()
        attributes = decode_x509_certificate(certificate.public_bytes(serialization.Encoding.DER))
        attributes.update(
            {Attribute.TOKEN: True, Attribute.LABEL: key_label, Attribute.ID: key[Attribute.ID]}
        )
        session.create_object(attributes)


def open_signer(
    module_path: str,
    *,
    token_label: str,
    pin: str,
    key_label: str,
    certificate: x509.Certificate | None = None,
    chain: Iterable[x509.Certificate] = (),
) -> PKCS11Signer:
    """A pyHanko signer over the token's key. Its session stays open for signing: close it with
    `signer.pkcs11_session.close()` afterwards, or use `token_signer`, which does.

    Without `certificate`, the one stored beside the key is used."""
    session = _open_session(module_path, token_label, pin)
    try:
        key = _private_key(session, key_label)
        if key.key_type not in (KeyType.EC, KeyType.RSA):
            raise LookupError(f"the key labelled {key_label!r} is neither EC nor RSA")
        if certificate is None:
            certificate = _stored_certificate(session, key_label)
        if not isinstance(certificate.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise UnsuitableCertificate("only RSA and elliptic-curve certificates are supported")
        _check_certificate_matches(session, key_label, certificate)
        return PKCS11Signer(
            session,
            key_label=key_label,
            signing_cert=_asn1(certificate),
            ca_chain=[_asn1(cert) for cert in chain],
            use_raw_mechanism=True,
        )
    except BaseException:
        session.close()
        raise


@contextmanager
def token_signer(
    module_path: str,
    *,
    token_label: str,
    pin: str,
    key_label: str,
    certificate: x509.Certificate | None = None,
    chain: Iterable[x509.Certificate] = (),
) -> Iterator[PKCS11Signer]:
    """`open_signer` whose session is closed when the block ends."""
    signer = open_signer(
        module_path,
        token_label=token_label,
        pin=pin,
        key_label=key_label,
        certificate=certificate,
        chain=chain,
    )
    try:
        yield signer
    finally:
        signer.pkcs11_session.close()
