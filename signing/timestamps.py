"""RFC 3161 time-stamps: Diwan's own time-stamping authority, in-process or behind HTTP.

`answer_request` turns a DER TimeStampReq into a DER TimeStampResp (what an HTTP endpoint serving
application/timestamp-query needs); `LocalTimeStamper` gives pyHanko the same authority without a
network round trip; `http_timestamper` talks to any external RFC 3161 service.

pyHanko's DummyTimeStamper is a test device (RSA only, re-parses its key per token, accepts any
request, SHA-1 certificate reference): this authority checks the request, signs with RSA or
ECDSA and identifies its certificate with ESSCertIDv2 (RFC 5816).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError

from signing.signer import PrivateKey, to_asn1

# The TSA policy every token names. An OID under 2.25 is derived from a UUID (ITU-T X.667), so
# Diwan can own one without registering an arc.
DIWAN_TSA_POLICY = "2.25.315806905885846994774173134840537714918"

# Message-imprint algorithms accepted, with the digest length each must have. SHA-1 is refused.
ACCEPTED_IMPRINTS = {"sha256": 32, "sha384": 48, "sha512": 64}


class TimeStampResp(core.Sequence):
    """RFC 3161 TimeStampResp. asn1crypto's tsp.TimeStampResp makes the token mandatory, so it can
    neither build nor read a rejection, which by the RFC carries no token."""

    _fields = [  # noqa: RUF012 - asn1crypto's schema declaration
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class Rejected(Exception):
    """A request this authority refuses; carries the RFC 3161 failure bit and a reason."""

    def __init__(self, fail_info: str, reason: str) -> None:
        super().__init__(reason)
        self.fail_info = fail_info
        self.reason = reason


@dataclass(frozen=True)
class _Authority:
    """Everything about the TSA that is the same for every token, prepared once.

    The ASN.1 parts are kept in parsed form: asn1crypto re-encodes a value built from Python
    data every time a structure containing it is encoded, but copies the bytes of a parsed one.
    """

    key: PrivateKey
    certificates: tuple[asn1_x509.Certificate, ...]
    signing_certificate: cms.CMSAttribute
    signer_identifier: cms.SignerIdentifier
    tsa_name: asn1_x509.GeneralName
    signature_algorithm: str

    @classmethod
    def build(
        cls, certificate: x509.Certificate, key: PrivateKey, chain: Sequence[x509.Certificate]
    ) -> _Authority:
        if isinstance(key, rsa.RSAPrivateKey):
            signature_algorithm = "sha256_rsa"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            signature_algorithm = "sha256_ecdsa"
        else:
            raise TypeError(f"a TSA key must be RSA or EC, not {type(key).__name__}")
        tsa_certificate = to_asn1(certificate)
        signing_certificate = simple_cms_attribute(
            "signing_certificate_v2", as_signing_certificate_v2(tsa_certificate)
        )
        signer_identifier = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={
                "issuer": tsa_certificate.issuer,
                "serial_number": tsa_certificate.serial_number,
            },
        )
        tsa_name = asn1_x509.GeneralName(name="directory_name", value=tsa_certificate.subject)
        return cls(
            key=key,
            certificates=(tsa_certificate, *(to_asn1(c) for c in chain)),
            signing_certificate=_parsed(signing_certificate),
            signer_identifier=_parsed(signer_identifier),
            tsa_name=_parsed(tsa_name),
            signature_algorithm=signature_algorithm,
        )

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, PKCS1v15(), hashes.SHA256())
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def token(self, request: tsp.TimeStampReq, now: datetime) -> cms.ContentInfo:
        """The signed TimeStampToken answering an accepted request."""
        tst_info = {
            "version": "v1",
            "policy": DIWAN_TSA_POLICY,
            "message_imprint": request["message_imprint"],
            # RFC 3161 asks for serial numbers unique per TSA; 127 random bits are.
            "serial_number": secrets.randbits(127) | 1,
            "gen_time": now.replace(microsecond=0),
            "accuracy": {"seconds": 1},
            "tsa": self.tsa_name,
        }
        if request["nonce"].native is not None:
            tst_info["nonce"] = request["nonce"]
        tst_info_der = tsp.TSTInfo(tst_info).dump()
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("message_digest", _sha256(tst_info_der)),
                self.signing_certificate,
            ]
        )
        digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"})
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": self.signer_identifier,
                "digest_algorithm": digest_algorithm,
                "signed_attrs": signed_attrs,
                "signature_algorithm": {"algorithm": self.signature_algorithm},
                "signature": self.sign(signed_attrs.dump()),
            }
        )
        signed_data = {
            "version": "v3",
            "digest_algorithms": [digest_algorithm],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(tst_info_der),
            },
            "signer_infos": [signer_info],
        }
        # RFC 3161 2.4.1: the certificates field is present only when the request asks for it.
        if request["cert_req"].native:
            signed_data["certificates"] = list(self.certificates)
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        return _parsed(token)  # pyHanko embeds it in the signature: encoded once, here


def _parsed(value):
    """`value` re-read from its DER: the same ASN.1 value, cheap to encode from now on."""
    return type(value).load(value.dump())


def _sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def check_request(request: tsp.TimeStampReq) -> None:
    """Raise Rejected unless this authority can answer `request` as RFC 3161 says."""
    if request["version"].native != "v1":
        raise Rejected("bad_request", "only version 1 requests are understood")
    imprint = request["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    if algorithm not in ACCEPTED_IMPRINTS:
        raise Rejected("bad_alg", f"hash algorithm {algorithm} is not accepted")
    if len(imprint["hashed_message"].native) != ACCEPTED_IMPRINTS[algorithm]:
        raise Rejected("bad_data_format", f"the imprint is not a {algorithm} digest")
    policy = request["req_policy"].native
    if policy is not None and policy != DIWAN_TSA_POLICY:
        raise Rejected("unaccepted_policy", f"policy {policy} is not offered")
    if request["extensions"].native:
        raise Rejected("unaccepted_extensions", "request extensions are not supported")


def parse_request(request_der: bytes) -> tsp.TimeStampReq:
    """The parsed request, or Rejected(bad_data_format) for anything that is not one."""
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        request.native  # noqa: B018 - asn1crypto parses lazily: force every field now
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError... on bad DER
        raise Rejected("bad_data_format", "the request is not a DER TimeStampReq") from exc
    return request


def _response(authority: _Authority, request: tsp.TimeStampReq, now: datetime) -> TimeStampResp:
    try:
        check_request(request)
    except Rejected as rejected:
        return rejection(rejected)
    return TimeStampResp(
        {"status": {"status": "granted"}, "time_stamp_token": authority.token(request, now)}
    )


def rejection(rejected: Rejected) -> TimeStampResp:
    return TimeStampResp(
        {
            "status": {
                "status": "rejection",
                "status_string": [rejected.reason],
                "fail_info": {rejected.fail_info},
            }
        }
    )


def answer_request(
    request_der: bytes,
    *,
    certificate: x509.Certificate,
    key: PrivateKey,
    chain: Sequence[x509.Certificate] = (),
    now: datetime | None = None,
) -> bytes:
    """DER TimeStampResp for a DER TimeStampReq; a bad request gets a rejection, not an error."""
    try:
        request = parse_request(request_der)
    except Rejected as rejected:
        return rejection(rejected).dump()
    authority = _Authority.build(certificate, key, chain)
    return _response(authority, request, now or datetime.now(UTC)).dump()


class LocalTimeStamper(TimeStamper):
    """Diwan's own authority answering pyHanko in-process (no HTTP round trip)."""

    def __init__(
        self,
        certificate: x509.Certificate,
        key: PrivateKey,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        super().__init__()
        self._authority = _Authority.build(certificate, key, chain)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> TimeStampResp:
        return _response(self._authority, req, datetime.now(UTC))


class _RejectionAwareHTTPTimeStamper(HTTPTimeStamper):
    """pyHanko's HTTP client, reading the reply with a schema where the token is optional: with
    asn1crypto's, a service's rejection surfaced as a ValueError instead of its reason."""

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> TimeStampResp:
        try:
            reply = await super().async_request_tsa_response(req)
            response = TimeStampResp.load(reply.dump())
            response.native  # noqa: B018 - parse now, so a malformed reply fails here
        except TimestampRequestError:
            raise
        except Exception as exc:  # asn1crypto raises ValueError, TypeError... on bad DER
            raise TimestampRequestError("the time-stamping service sent a malformed reply") from exc
        return response


def http_timestamper(url: str, *, timeout: float = 10) -> TimeStamper:
    """A client for an RFC 3161 service over HTTP(S) (pyHanko's HTTPTimeStamper)."""
    return _RejectionAwareHTTPTimeStamper(url, timeout=timeout)
