"""Diwan's RFC 3161 authority: tokens that verify, rejections that follow the RFC, HTTP client."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asn1crypto import cms, tsp
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.pki import Identity, Subject, generate_key, issue_certificate
from signing.signer import to_asn1
from signing.timestamps import (
    DIWAN_TSA_POLICY,
    LocalTimeStamper,
    TimeStampResp,
    answer_request,
    http_timestamper,
)

NONCE = 0x1234_5678_9ABC_DEF0


def _request(
    digest: bytes,
    algorithm: str = "sha256",
    *,
    nonce: int | None = NONCE,
    cert_req: bool = True,
    **extra,
) -> bytes:
    fields = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
        "cert_req": cert_req,
        **extra,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


def _answer(identity: Identity, request_der: bytes, **kwargs) -> TimeStampResp:
    response_der = answer_request(
        request_der,
        certificate=identity.certificate,
        key=identity.key,
        chain=identity.chain,
        **kwargs,
    )
    return TimeStampResp.load(response_der)


def _verify(token: cms.ContentInfo, digest: bytes, trust_roots) -> TimestampSignatureStatus:
    context = ValidationContext(trust_roots=[to_asn1(c) for c in trust_roots], allow_fetching=False)
    kwargs = asyncio.run(
        validate_tst_signed_data(token["content"], context, expected_tst_imprint=lambda _: digest)
    )
    return TimestampSignatureStatus(**kwargs)


@pytest.fixture(scope="module")
def rsa_tsa(pki) -> Identity:
    key = generate_key("rsa-2048")
    certificate = issue_certificate(
        pki.authority,
        Subject(common_name="Diwan TSA RSA"),
        key.public_key(),
        purpose="timestamping",
        crl_url=pki.crl_url,
    )
    return Identity(key=key, certificate=certificate, chain=(pki.authority.certificate,))


@pytest.mark.parametrize("key_kind", ["ec", "rsa"])
def test_a_granted_token_verifies_and_echoes_the_request(pki, rsa_tsa, key_kind):
    tsa = pki.tsa if key_kind == "ec" else rsa_tsa
    digest = hashlib.sha256(b"the letter").digest()
    at = datetime(2026, 11, 23, 10, 30, 15, 123456, tzinfo=UTC)

    response = _answer(tsa, _request(digest), now=at)

    assert response["status"]["status"].native == "granted"
    token = response["time_stamp_token"]
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert tst_info["nonce"].native == NONCE
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    assert tst_info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert tst_info["policy"].dotted == DIWAN_TSA_POLICY
    assert tst_info["gen_time"].native == at.replace(microsecond=0)
    status = _verify(token, digest, pki.trust_roots)
    assert status.intact and status.valid and status.trusted
    # ESSCertIDv2 (RFC 5816) names the TSA certificate
    signer_info = token["content"]["signer_infos"][0]
    attribute_types = {a["type"].native for a in signer_info["signed_attrs"]}
    assert "signing_certificate_v2" in attribute_types


def test_the_token_does_not_verify_for_another_digest(pki):
    digest = hashlib.sha256(b"the letter").digest()
    token = _answer(pki.tsa, _request(digest))["time_stamp_token"]

    status = _verify(token, hashlib.sha256(b"another letter").digest(), pki.trust_roots)

    assert not status.intact


def test_a_token_from_an_untrusted_tsa_is_not_trusted(pki, rsa_tsa):
    digest = hashlib.sha256(b"x").digest()
    token = _answer(pki.tsa, _request(digest))["time_stamp_token"]

    status = _verify(token, digest, [rsa_tsa.certificate])

    assert status.intact and status.valid and not status.trusted


def test_serial_numbers_differ_and_certificates_follow_cert_req(pki):
    digest = hashlib.sha512(b"x").digest()
    first = _answer(pki.tsa, _request(digest, "sha512", cert_req=True))["time_stamp_token"]
    second = _answer(pki.tsa, _request(digest, "sha512", cert_req=False, nonce=None))[
        "time_stamp_token"
    ]

    first_info = first["content"]["encap_content_info"]["content"].parsed
    second_info = second["content"]["encap_content_info"]["content"].parsed
    assert first_info["serial_number"].native != second_info["serial_number"].native
    assert second_info["nonce"].native is None
    assert len(first["content"]["certificates"]) == 2  # the TSA and its CA
    assert second["content"]["certificates"].native is None


@pytest.mark.parametrize(
    ("request_der", "fail_info"),
    [
        pytest.param(b"", "bad_data_format", id="empty"),
        pytest.param(b"not DER at all", "bad_data_format", id="garbage"),
        pytest.param(os.urandom(64), "bad_data_format", id="random"),
        pytest.param(
            _request(hashlib.sha256(b"x").digest()) + b"\x00", "bad_data_format", id="trailing"
        ),
        pytest.param(
            _request(hashlib.sha256(b"x").digest())[:-5], "bad_data_format", id="truncated"
        ),
        pytest.param(_request(b"\x01" * 20, "sha1"), "bad_alg", id="sha1"),
        pytest.param(_request(b"\x01" * 16, "md5"), "bad_alg", id="md5"),
        pytest.param(_request(b"\x01" * 20, "sha256"), "bad_data_format", id="short-imprint"),
        pytest.param(
            _request(b"\x01" * 32, req_policy="1.2.3.4.5"), "unaccepted_policy", id="policy"
        ),
        pytest.param(
            _request(
                b"\x01" * 32,
                extensions=[{"extn_id": "1.2.3.4", "critical": False, "extn_value": b"x"}],
            ),
            "unaccepted_extensions",
            id="extensions",
        ),
        pytest.param(
            tsp.TimeStampReq(
                {
                    "version": 2,
                    "message_imprint": {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "hashed_message": b"\x01" * 32,
                    },
                }
            ).dump(),
            "bad_request",
            id="version-2",
        ),
    ],
)
def test_a_bad_request_gets_a_rejection_response(pki, request_der, fail_info):
    response = _answer(pki.tsa, request_der)

    assert response["status"]["status"].native == "rejection"
    assert response["status"]["fail_info"].native == {fail_info}
    assert response["status"]["status_string"].native  # a reason for humans
    assert response["time_stamp_token"].native is None


def test_our_own_policy_may_be_requested(pki):
    digest = hashlib.sha384(b"x").digest()
    response = _answer(pki.tsa, _request(digest, "sha384", req_policy=DIWAN_TSA_POLICY))

    assert response["status"]["status"].native == "granted"


def test_local_timestamper_serves_pyhanko(pki):
    stamper = LocalTimeStamper(pki.tsa.certificate, pki.tsa.key, pki.tsa.chain)
    digest = hashlib.sha256(b"document").digest()

    token = asyncio.run(stamper.async_timestamp(digest, "sha256"))

    status = _verify(token, digest, pki.trust_roots)
    assert status.intact and status.valid and status.trusted
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert abs(tst_info["gen_time"].native - datetime.now(UTC)) < timedelta(minutes=1)


def test_local_timestamper_refuses_a_key_it_cannot_use(pki):
    with pytest.raises(TypeError):
        LocalTimeStamper(pki.tsa.certificate, b"not a key")


def test_a_refusal_reaches_pyhanko_as_an_error(pki):
    stamper = LocalTimeStamper(pki.tsa.certificate, pki.tsa.key, pki.tsa.chain)

    with pytest.raises(TimestampRequestError, match="bad_alg"):
        asyncio.run(stamper.async_timestamp(hashlib.sha1(b"x").digest(), "sha1"))  # noqa: S324


class _TsaHandler(BaseHTTPRequestHandler):
    identity: Identity
    content_type = "application/timestamp-reply"
    body: bytes | None = None  # sent instead of the authority's answer

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers["Content-Type"] != "application/timestamp-query":
            self.send_error(415)
            return
        reply = self.body or answer_request(
            body,
            certificate=self.identity.certificate,
            key=self.identity.key,
            chain=self.identity.chain,
        )
        self.send_response(200)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def tsa_url(pki) -> Iterator[str]:
    handler = type("Handler", (_TsaHandler,), {"identity": pki.tsa})
    yield from _serve(handler)


@pytest.fixture
def wrong_content_type_url(pki) -> Iterator[str]:
    handler = type("Handler", (_TsaHandler,), {"identity": pki.tsa, "content_type": "text/html"})
    yield from _serve(handler)


@pytest.fixture
def garbage_reply_url(pki) -> Iterator[str]:
    handler = type("Handler", (_TsaHandler,), {"identity": pki.tsa, "body": b"<html>oops"})
    yield from _serve(handler)


def test_http_timestamper_gets_a_token_over_http(pki, tsa_url):
    digest = hashlib.sha256(b"over the wire").digest()

    token = asyncio.run(http_timestamper(tsa_url).async_timestamp(digest, "sha256"))

    status = _verify(token, digest, pki.trust_roots)
    assert status.intact and status.valid and status.trusted


def test_http_timestamper_refuses_a_reply_that_is_not_a_timestamp(wrong_content_type_url):
    stamper = http_timestamper(wrong_content_type_url, timeout=5)

    with pytest.raises(TimestampRequestError):
        asyncio.run(stamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256"))


def test_http_timestamper_reports_the_services_refusal_with_its_reason(tsa_url):
    stamper = http_timestamper(tsa_url)
    sha1 = hashlib.sha1(b"x").digest()  # noqa: S324 - a digest the authority must refuse

    with pytest.raises(TimestampRequestError, match="bad_alg"):
        asyncio.run(stamper.async_timestamp(sha1, "sha1"))


def test_http_timestamper_refuses_a_malformed_reply(garbage_reply_url):
    stamper = http_timestamper(garbage_reply_url)

    with pytest.raises(TimestampRequestError, match="malformed"):
        asyncio.run(stamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256"))


def test_http_timestamper_reports_an_unreachable_service():
    # Port 9 (discard) on localhost: nothing listens there in the test environment.
    stamper = http_timestamper("http://127.0.0.1:9/tsa", timeout=2)

    with pytest.raises(TimestampRequestError):
        asyncio.run(stamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256"))
