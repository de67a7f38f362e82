"""A pyHanko signer holding an already parsed private key, and reusing what does not change.

Where stock pyHanko (SimpleSigner) spends its time per PDF signature, and what KeySigner does:

* SimpleSigner keeps the key as DER and re-parses it for every signature; for RSA that includes
  the key-consistency check, which costs more than the signature. KeySigner keeps the
  `cryptography` key object: a signature costs one private-key operation.
* pyHanko builds the CMS twice: a dry run sizes the /Contents placeholder, then the real one.
  KeySigner answers a dry run with placeholder bytes as long as its longest signature (no key
  operation), and keeps the last dry-run CMS: for the same digest, time-stamper and attributes
  its size cannot change. Reusing it is safe: it only sizes the placeholder, and pyHanko refuses
  (never truncates) a real CMS that would not fit.
* asn1crypto re-encodes a constructed value, and everything in it, each time a parent is
  encoded; the signing-certificate-v2 attribute (certificate hash, issuer name, serial) was
  rebuilt and re-encoded a dozen times per signature. KeySigner builds it once, in parsed form,
  which asn1crypto encodes by copying its bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.sign.attributes import (
    CMSAttributeProvider,
    SignedAttributeProviderSpec,
    SigningCertificateV2Provider,
)
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from signing.pki import PrivateKey


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    """The asn1crypto form of a `cryptography` certificate (what pyHanko works with)."""
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _public_der(key) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def largest_signature(key: PrivateKey) -> bytes:
    """Placeholder bytes as long as the longest signature `key` can produce."""
    if isinstance(key, rsa.RSAPrivateKey):
        return bytes((key.key_size + 7) // 8)
    # An ECDSA signature is a DER SEQUENCE of two integers below the group order; all-ones
    # integers of the order's byte length need a leading zero byte, the longest encoding.
    largest = (1 << (8 * ((key.curve.key_size + 7) // 8))) - 1
    return algos.DSASignature({"r": largest, "s": largest}).dump()


class _PreparedAttribute(CMSAttributeProvider):
    def __init__(self, attribute: cms.CMSAttribute) -> None:
        self.attribute_type = attribute["type"].native
        self._attribute = attribute

    async def get_attribute(self, dry_run=False) -> cms.CMSAttribute:
        return self._attribute


class _WithPreparedSigningCertificate(SignedAttributeProviderSpec):
    """pyHanko's own attribute spec, with its signing-certificate-v2 provider swapped for ours."""

    def __init__(self, spec: SignedAttributeProviderSpec, attribute: cms.CMSAttribute) -> None:
        self._spec = spec
        self._attribute = attribute

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterable[CMSAttributeProvider]:
        for provider in self._spec.signed_attr_providers(data_digest, digest_algorithm):
            if isinstance(provider, SigningCertificateV2Provider):
                yield _PreparedAttribute(self._attribute)
            else:
                yield provider


class KeySigner(Signer):
    """Signs with an in-memory RSA (PKCS#1 v1.5) or ECDSA key; `chain` is embedded in the CMS."""

    def __init__(
        self,
        key: PrivateKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise TypeError(f"KeySigner supports RSA and EC keys, not {type(key).__name__}")
        if _public_der(key.public_key()) != _public_der(certificate.public_key()):
            raise ValueError("the private key does not belong to the certificate")
        registry = SimpleCertificateStore()
        registry.register_multiple([to_asn1(c) for c in chain])
        signing_cert = to_asn1(certificate)
        super().__init__(signing_cert=signing_cert, cert_registry=registry)
        self._key = key
        self._placeholder = largest_signature(key)
        built = simple_cms_attribute(
            "signing_certificate_v2", as_signing_certificate_v2(signing_cert)
        )
        self._signing_certificate_attribute = cms.CMSAttribute.load(built.dump())
        self._last_dry_run: tuple[tuple, cms.ContentInfo] | None = None

    def _signed_attr_provider_spec(self, *args, **kwargs) -> SignedAttributeProviderSpec:
        # pyHanko 0.38 internal hook, called once per CMS to pick the attribute providers.
        spec = super()._signed_attr_provider_spec(*args, **kwargs)
        return _WithPreparedSigningCertificate(spec, self._signing_certificate_attribute)

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run=False,
        use_pades=False,
        timestamper=None,
        signed_attr_settings=None,
        is_pdf_sig=True,
        encap_content_info=None,
    ) -> cms.ContentInfo:
        # Only a plain dry run is reused: extra signed attributes could change its size.
        settings = signed_attr_settings
        reusable = (
            dry_run
            and encap_content_info is None
            and (
                settings is None
                or (
                    getattr(settings, "adobe_revinfo_attr", None) is None
                    and settings.cades_signed_attrs is None
                )
            )
        )
        key = (digest_algorithm, use_pades, is_pdf_sig, timestamper)
        last = self._last_dry_run  # read once: another thread may replace it
        if reusable and last is not None and last[0] == key:
            return last[1]
        result = await super().async_sign(
            data_digest,
            digest_algorithm,
            dry_run=dry_run,
            use_pades=use_pades,
            timestamper=timestamper,
            signed_attr_settings=signed_attr_settings,
            is_pdf_sig=is_pdf_sig,
            encap_content_info=encap_content_info,
        )
        if reusable:
            self._last_dry_run = (key, result)
        return result

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        if dry_run:
            return self._placeholder
        return self.sign_raw(data, digest_algorithm)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        hash_algorithm = get_pyca_cryptography_hash(digest_algorithm)
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, PKCS1v15(), hash_algorithm)
        return self._key.sign(data, ec.ECDSA(hash_algorithm))
