"""The organisation's public PKI endpoints: CRL, CA certificate and RFC 3161 time-stamps."""

from __future__ import annotations

import hashlib
import secrets
from typing import ClassVar

import pytest
from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app.extensions import db
from app.services import organisations as orgs
from app.services import pki
from app.services.actor import Actor

TSA_QUERY = "application/timestamp-query"


@pytest.fixture(autouse=True)
def _fresh_key_cache(monkeypatch):
    # The service keeps opened keys per process by row id; every test has a new database whose
    # rows reuse the same ids with different keys.
    monkeypatch.setattr(pki, "_opened", {})


def settings(app) -> pki.PkiSettings:
    return pki.PkiSettings.from_config(app.config)


@pytest.fixture(autouse=True)
def _organisation_pki(app, world):
    """Both organisations have their PKI (made at a first signature or seal; never by a GET)."""
    pki.ensure_organisation_pki(db.session, world.org, settings(app))
    pki.ensure_organisation_pki(db.session, world.other_org, settings(app))


def test_an_organisation_without_pki_is_not_served_and_gets_none(app, world):
    third = orgs.create_organisation(
        db.session, None, code="third", name_ar="بلدية", name_fr="Commune"
    )
    client = app.test_client()
    for path in ("crl", "ca.pem"):
        assert client.get(f"/pki/third/{path}").status_code == 404
    assert client.post("/pki/third/tsa", data=b"x", content_type=TSA_QUERY).status_code == 404
    assert not pki.has_pki(db.session, third)


def served_ca(client, code: str = "mtn") -> x509.Certificate:
    response = client.get(f"/pki/{code}/ca.pem")
    assert response.status_code == 200
    assert response.mimetype == "application/x-pem-file"
    return x509.load_pem_x509_certificate(response.data)


def served_crl(client, code: str = "mtn") -> x509.CertificateRevocationList:
    response = client.get(f"/pki/{code}/crl")
    assert response.status_code == 200
    assert response.mimetype == "application/pkix-crl"
    return x509.load_der_x509_crl(response.data)


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def timestamp_request(data: bytes, *, nonce: int | None = None, cert_req: bool = True) -> bytes:
    fields = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": hashlib.sha256(data).digest(),
        },
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


class TimeStampResp(core.Sequence):
    """RFC 3161's TimeStampResp: asn1crypto's omits OPTIONAL on the token, so it cannot read a
    rejection (which has none)."""

    _fields: ClassVar = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def tsa_certificate_of(signed_data) -> x509.Certificate:
    """The certificate the token's SignerInfo names (the set of certificates has no order)."""
    sid = signed_data["signer_infos"][0]["sid"].chosen
    for choice in signed_data["certificates"]:
        certificate = choice.chosen
        if certificate.serial_number == sid["serial_number"].native:
            return x509.load_der_x509_certificate(certificate.dump())
    raise AssertionError("the signer's certificate is not in the token")


def post_tsa(client, body: bytes, content_type: str = TSA_QUERY, code: str = "mtn"):
    return client.post(f"/pki/{code}/tsa", data=body, content_type=content_type)


# -- CRL and CA certificate ----------------------------------------------------------------------


def test_crl_is_signed_by_the_served_ca_and_cached_until_its_next_update(app, world):
    client = app.test_client()
    ca = served_ca(client)
    response = client.get("/pki/mtn/crl")
    crl = x509.load_der_x509_crl(response.data)
    assert crl.is_signature_valid(ca.public_key())
    assert crl.issuer == ca.subject
    assert len(crl) == 0
    max_age = int(response.headers["Cache-Control"].split("max-age=")[1])
    seconds_left = (crl.next_update_utc - crl.last_update_utc).total_seconds()
    assert 0 < max_age <= seconds_left
    # the CA is a CA, and the same one on the next request (not created again)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert served_ca(client) == ca


def test_revocation_puts_the_serial_on_a_newer_crl(app, world):
    client = app.test_client()
    before = served_crl(client)
    row = pki.enrol_signatory(
        db.session,
        Actor(world.officer),
        secret="a long secret",
        confirmation="a long secret",
        settings=settings(app),
    )
    serial = int(row.serial, 16)
    assert before.get_revoked_certificate_by_serial_number(serial) is None
    pki.revoke(db.session, Actor(world.officer), row, reason="key lost", settings=settings(app))

    after = served_crl(client)
    assert crl_number(after) > crl_number(before)
    assert after.get_revoked_certificate_by_serial_number(serial) is not None
    assert after.is_signature_valid(served_ca(client).public_key())


def test_each_organisation_has_its_own_ca(app, world):
    client = app.test_client()
    mine, theirs = served_ca(client, "mtn"), served_ca(client, "other")
    assert mine != theirs
    assert not served_crl(client, "other").is_signature_valid(mine.public_key())


@pytest.mark.parametrize("path", ["crl", "ca.pem"])
def test_unknown_organisation_is_404(app, world, path):
    assert app.test_client().get(f"/pki/nosuchorg/{path}").status_code == 404


# -- time-stamp authority ------------------------------------------------------------------------


def test_tsa_grants_a_token_for_the_request_imprint_signed_by_the_org_tsa(app, world):
    client = app.test_client()  # anonymous, and no CSRF token: it is an API
    nonce = secrets.randbits(63)
    response = post_tsa(client, timestamp_request(b"the document", nonce=nonce))
    assert response.status_code == 200
    assert response.mimetype == "application/timestamp-reply"
    reply = TimeStampResp.load(response.data)
    assert reply["status"]["status"].native == "granted"

    signed_data = reply["time_stamp_token"]["content"]
    info = signed_data["encap_content_info"]["content"].parsed
    assert (
        info["message_imprint"]["hashed_message"].native == hashlib.sha256(b"the document").digest()
    )
    assert info["nonce"].native == nonce

    # The token is signed by a certificate the organisation's CA issued for time-stamping.
    tsa_certificate = tsa_certificate_of(signed_data)
    tsa_certificate.verify_directly_issued_by(served_ca(client))
    usage = tsa_certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.TIME_STAMPING in usage
    signer_info = signed_data["signer_infos"][0]
    tsa_certificate.public_key().verify(
        signer_info["signature"].native,
        signer_info["signed_attrs"].untag().dump(),  # signed as a SET OF, not as [0]
        ec.ECDSA(hashes.SHA256()),
    )


def test_tsa_of_another_organisation_signs_with_its_own_identity(app, world):
    client = app.test_client()
    reply = TimeStampResp.load(post_tsa(client, timestamp_request(b"x"), code="other").data)
    tsa_certificate = tsa_certificate_of(reply["time_stamp_token"]["content"])
    tsa_certificate.verify_directly_issued_by(served_ca(client, "other"))
    with pytest.raises(ValueError):  # not issued by the first organisation's CA
        tsa_certificate.verify_directly_issued_by(served_ca(client, "mtn"))


def test_tsa_answers_garbage_with_a_rejection_not_an_error(app, world):
    response = post_tsa(app.test_client(), b"\x30\x03garbage, not DER")
    assert response.status_code == 200
    reply = TimeStampResp.load(response.data)
    assert reply["status"]["status"].native == "rejection"
    assert reply["status"]["status"].dump() == tsp.PKIStatus(2).dump()
    assert isinstance(reply["time_stamp_token"], core.Void)


def test_tsa_refuses_sha1_imprints_with_a_rejection(app, world):
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha1"},
                "hashed_message": hashlib.sha1(b"x").digest(),  # noqa: S324 - the point
            },
        }
    ).dump()
    reply = TimeStampResp.load(post_tsa(app.test_client(), request).data)
    assert reply["status"]["status"].native == "rejection"
    assert reply["status"]["fail_info"].native == {"bad_alg"}


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", ""])
def test_tsa_refuses_other_content_types_with_415(app, world, content_type):
    response = post_tsa(app.test_client(), timestamp_request(b"x"), content_type=content_type)
    assert response.status_code == 415


def test_tsa_refuses_bodies_over_64_kib_with_413(app, world):
    response = post_tsa(app.test_client(), b"\x30" * (64 * 1024 + 1))
    assert response.status_code == 413
    # exactly the limit is read and answered (as a rejection: it is not a request)
    reply = TimeStampResp.load(post_tsa(app.test_client(), b"\x30" * (64 * 1024)).data)
    assert reply["status"]["status"].native == "rejection"


def test_tsa_unknown_organisation_404_and_get_not_allowed(app, world):
    client = app.test_client()
    assert post_tsa(client, timestamp_request(b"x"), code="nosuchorg").status_code == 404
    assert client.get("/pki/mtn/tsa").status_code == 405


def test_tsa_is_rate_limited(app, world):
    app.config["TSA_RATE_LIMIT"] = "2 per minute"
    client = app.test_client()
    for _ in range(2):
        assert post_tsa(client, timestamp_request(b"x")).status_code == 200
    assert post_tsa(client, timestamp_request(b"x")).status_code == 429
