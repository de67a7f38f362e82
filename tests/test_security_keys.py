"""Security keys (WebAuthn) without a browser: a software authenticator made here (an EC P-256
key from cryptography, authenticator data and client data built as a browser would, CBOR by
py_webauthn's cbor2) registers keys through the account page and answers signing challenges,
which the service verifies; every refusal leaves the keys, their counters and the audit trail
as they were."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from flask import session
from flask_login import login_user
from sqlalchemy import func, select, update
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, encode_cbor

from app.blueprints import security_keys as web
from app.extensions import db
from app.models import AuditEvent, SecurityKey, User
from app.models.base import utcnow
from app.services import audit, security_keys
from app.services.actor import Actor
from app.services.security_keys import SecurityKeyError

PAGE = "/account/security-keys"
RP_ID = "localhost"  # the Flask test client's host
ORIGIN = "http://localhost"
DOCUMENT = hashlib.sha256(b"the reply letter, as a PDF").hexdigest()

_OPTIONS = re.compile(r'data-webauthn-options="([^"]*)"')
_TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')

FLAG_USER_PRESENT = 0x01
FLAG_USER_VERIFIED = 0x04
FLAG_ATTESTED_DATA = 0x40


@dataclass
class SoftAuthenticator:
    """What a security key and the browser in front of it answer, for one credential."""

    rp_id: str = RP_ID
    sign_count: int = 0
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return encode_cbor(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, flags: int, rp_id: str | None, extra: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big") + extra

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin}).encode()

    def register(self, options_json: str, origin: str = ORIGIN, *, rp_id: str | None = None):
        """The answer to navigator.credentials.create, attestation "none"."""
        options = json.loads(options_json)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attested = (
            bytes(16)  # AAGUID
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self.cose_public_key()
        )
        flags = FLAG_USER_PRESENT | FLAG_USER_VERIFIED | FLAG_ATTESTED_DATA
        auth_data = self._auth_data(flags, rp_id or options["rp"]["id"], attested)
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": bytes_to_base64url(self.credential_id),
                "rawId": bytes_to_base64url(self.credential_id),
                "type": "public-key",
                "authenticatorAttachment": "cross-platform",
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "attestationObject": bytes_to_base64url(attestation),
                    "transports": ["usb", "nfc", "some-future-transport"],
                },
                "clientExtensionResults": {},
            }
        )

    def sign(
        self,
        challenge: bytes,
        origin: str = ORIGIN,
        *,
        rp_id: str | None = None,
        count_up: bool = True,
    ) -> str:
        """The answer to navigator.credentials.get for this challenge."""
        if count_up:
            self.sign_count += 1
        client_data = self._client_data("webauthn.get", bytes_to_base64url(challenge), origin)
        auth_data = self._auth_data(FLAG_USER_PRESENT | FLAG_USER_VERIFIED, rp_id)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": bytes_to_base64url(self.credential_id),
                "rawId": bytes_to_base64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "authenticatorData": bytes_to_base64url(auth_data),
                    "signature": bytes_to_base64url(signature),
                },
                "clientExtensionResults": {},
            }
        )


# --- helpers -----------------------------------------------------------------------------------


def _options_and_token(client) -> tuple[str, str]:
    page = client.get(PAGE)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    return html.unescape(_OPTIONS.search(text).group(1)), _TOKEN.search(text).group(1)


def _add_over_http(client, authenticator: SoftAuthenticator, name: str = "Blue key", **answer):
    options, token = _options_and_token(client)
    return client.post(
        PAGE,
        data={
            "csrf_token": token,
            "name": name,
            "webauthn_response": authenticator.register(options, **answer),
        },
    )


def _keys(user: User) -> list[SecurityKey]:
    db.session.expire_all()
    return list(db.session.scalars(select(SecurityKey).where(SecurityKey.user_id == user.id)))


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _event_count() -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)))


def _register(user: User, authenticator: SoftAuthenticator, name: str = "Blue key"):
    """A key registered through the service, as the page would."""
    challenge = os.urandom(32)
    options = security_keys.registration_options(db.session, user, challenge=challenge, rp_id=RP_ID)
    return security_keys.register_key(
        db.session,
        Actor(user),
        name=name,
        challenge=challenge,
        response_json=authenticator.register(options),
        rp_id=RP_ID,
        origin=ORIGIN,
    )


def _verify(user: User, challenge: bytes, response_json: str, origin: str = ORIGIN) -> dict:
    return security_keys.verify_assertion(
        db.session,
        user,
        challenge=challenge,
        response_json=response_json,
        rp_id=RP_ID,
        origin=origin,
    )


def _snapshot(key: SecurityKey) -> tuple:
    db.session.expire_all()
    return key.sign_count, key.last_used_at, key.disabled_at, _event_count()


# --- registration on the account page ----------------------------------------------------------


def test_account_page_links_to_the_security_keys(world, client_for):
    page = client_for("officer").get("/account").get_data(as_text=True)
    assert f'href="{PAGE}"' in page


def test_page_offers_registration_options_for_this_host(world, client_for):
    client = client_for("officer")
    options, _token = _options_and_token(client)
    options = json.loads(options)
    assert options["rp"]["id"] == RP_ID
    assert options["user"]["name"] == "officer"
    assert options["excludeCredentials"] == []
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    with client.session_transaction() as session:
        assert session[web.REGISTRATION_CHALLENGE] == options["challenge"]
    page = client.get(PAGE).get_data(as_text=True)
    assert "/static/js/webauthn.js" in page
    assert "<script>" not in page  # the CSP allows no inline script
    assert "You have registered no security key." in page


def test_a_key_is_registered_listed_and_audited(world, client_for):
    client = client_for("officer")
    authenticator = SoftAuthenticator()

    response = _add_over_http(client, authenticator, name="  Blue key  ")

    assert response.status_code == 302, response.get_data(as_text=True)
    (key,) = _keys(world.officer)
    assert key.name == "Blue key"
    assert key.credential_id == authenticator.credential_id
    assert key.public_key == authenticator.cose_public_key()
    assert key.organisation_id == world.org.id
    assert key.transports == ["nfc", "usb"]  # the unknown one is dropped
    assert key.sign_count == 0 and key.last_used_at is None and key.active
    (event,) = _events("security_key.registered")
    assert event.actor_id == world.officer.id and event.object_id == key.id
    assert event.data["credential_id"] == bytes_to_base64url(authenticator.credential_id)
    assert event.data["name"] == "Blue key" and event.data["user_verified"] is True
    page = client.get(PAGE).get_data(as_text=True)
    assert "Blue key" in page and "The security key was registered." in page
    assert security_keys.has_active_key(db.session, world.officer)
    assert not security_keys.has_active_key(db.session, world.agent)
    # The next registration excludes it, so the same authenticator says it is known.
    options = json.loads(_options_and_token(client)[0])
    assert [c["id"] for c in options["excludeCredentials"]] == [
        bytes_to_base64url(authenticator.credential_id)
    ]
    assert audit.verify_chain(db.session, world.org.id).ok


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"origin": "http://evil.example"}, "could not be verified"),
        ({"origin": "https://localhost"}, "could not be verified"),
        ({"rp_id": "evil.example"}, "could not be verified"),
    ],
)
def test_registration_for_another_site_is_refused(world, client_for, answer, expected):
    client = client_for("officer")
    response = _add_over_http(client, SoftAuthenticator(), **answer)
    assert response.status_code == 422
    assert expected in response.get_data(as_text=True)
    assert _keys(world.officer) == [] and _events("security_key.registered") == []


def test_registration_answers_only_the_latest_challenge_once(world, client_for):
    client = client_for("officer")
    stale_options, _ = _options_and_token(client)
    options, token = _options_and_token(client)  # a second page load: a new challenge
    authenticator = SoftAuthenticator()

    stale = client.post(
        PAGE,
        data={
            "csrf_token": token,
            "name": "Old tab",
            "webauthn_response": authenticator.register(stale_options),
        },
    )
    assert stale.status_code == 422 and _keys(world.officer) == []

    # The refused post used up that challenge (the page shown again brought a new one).
    late = client.post(
        PAGE,
        data={
            "csrf_token": token,
            "name": "Key",
            "webauthn_response": authenticator.register(options),
        },
    )
    assert late.status_code == 422
    assert "could not be verified" in late.get_data(as_text=True)
    assert _keys(world.officer) == []


def test_registration_without_a_challenge_expires(world, client_for):
    client = client_for("officer")
    page = client.get("/account").get_data(as_text=True)  # a token, but no registration begun
    token = _TOKEN.search(page).group(1)
    answer = SoftAuthenticator().register(json.dumps({"challenge": "AAAA", "rp": {"id": RP_ID}}))
    response = client.post(
        PAGE, data={"csrf_token": token, "name": "K", "webauthn_response": answer}
    )
    assert response.status_code == 422
    assert "The registration expired. Try again." in response.get_data(as_text=True)
    assert _keys(world.officer) == []


@pytest.mark.parametrize(
    "answer",
    ["", "not json", "[]", '{"id": "x"}', '{"id": "@@", "rawId": "@@", "type": "public-key"}'],
)
def test_malformed_registration_answers_are_refused(world, client_for, answer):
    client = client_for("officer")
    _options, token = _options_and_token(client)
    response = client.post(
        PAGE, data={"csrf_token": token, "name": "K", "webauthn_response": answer}
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "could not be read" in text or "sent no answer" in text
    assert _keys(world.officer) == []


def test_a_key_needs_a_name(world, client_for):
    client = client_for("officer")
    response = _add_over_http(client, SoftAuthenticator(), name="   ")
    assert response.status_code == 422 and _keys(world.officer) == []
    too_long = _add_over_http(client, SoftAuthenticator(), name="k" * 101)
    assert too_long.status_code == 422 and _keys(world.officer) == []


def test_the_same_credential_cannot_be_registered_twice(world, client_for):
    authenticator = SoftAuthenticator()
    assert _add_over_http(client_for("officer"), authenticator).status_code == 302
    again = _add_over_http(client_for("agent"), authenticator, name="Stolen")
    assert again.status_code == 422
    assert "This security key is already registered." in again.get_data(as_text=True)
    assert _keys(world.agent) == [] and len(_events("security_key.registered")) == 1


def test_registration_needs_the_csrf_token(world, client_for):
    client = client_for("officer")
    options, _token = _options_and_token(client)
    answer = SoftAuthenticator().register(options)
    response = client.post(PAGE, data={"name": "Key", "webauthn_response": answer})
    assert response.status_code == 400
    assert _keys(world.officer) == []


def test_active_keys_are_limited(world):
    for number in range(security_keys.MAX_ACTIVE_KEYS):
        _register(world.officer, SoftAuthenticator(), name=f"Key {number}")
    with pytest.raises(SecurityKeyError, match="10 active keys"):
        _register(world.officer, SoftAuthenticator(), name="One too many")
    assert len(_keys(world.officer)) == security_keys.MAX_ACTIVE_KEYS
    # A disabled key makes room again.
    security_keys.disable_key(db.session, Actor(world.officer), _keys(world.officer)[0])
    _register(world.officer, SoftAuthenticator(), name="Replacement")
    assert len(security_keys.active_keys(db.session, world.officer)) == 10


def test_the_rp_id_setting_binds_keys_to_that_domain(app, world, client_for):
    app.config["WEBAUTHN_RP_ID"] = "diwan.example.gov.ma"
    client = client_for("officer")
    options = json.loads(_options_and_token(client)[0])
    assert options["rp"]["id"] == "diwan.example.gov.ma"
    # A key made for the host name instead is refused.
    response = _add_over_http(client, SoftAuthenticator(), rp_id=RP_ID)
    assert response.status_code == 422 and _keys(world.officer) == []


# --- disabling ---------------------------------------------------------------------------------


def _disable(client, key: SecurityKey, with_token: bool = True):
    _options, token = _options_and_token(client)
    data = {"csrf_token": token} if with_token else {}
    return client.post(f"{PAGE}/{key.id}/disable", data=data)


def test_a_key_is_disabled_not_deleted_and_audited(world, client_for):
    client = client_for("officer")
    key = _register(world.officer, SoftAuthenticator())

    assert _disable(client, key).status_code == 302

    (key,) = _keys(world.officer)
    assert key.disabled_at is not None and not key.active
    (event,) = _events("security_key.disabled")
    assert event.actor_id == world.officer.id and event.object_id == key.id
    assert not security_keys.has_active_key(db.session, world.officer)
    page = client.get(PAGE).get_data(as_text=True)
    assert "Blue key" in page and "Disabled" in page
    assert f"{PAGE}/{key.id}/disable" not in page
    # Twice: refused with a message, nothing more recorded.
    again = _disable(client, key)
    assert again.status_code == 302
    assert "already disabled" in client.get(PAGE).get_data(as_text=True)
    assert len(_events("security_key.disabled")) == 1
    assert audit.verify_chain(db.session, world.org.id).ok


@pytest.mark.parametrize("intruder", ["agent", "other.officer"])
def test_another_users_key_cannot_be_disabled(world, client_for, intruder):
    key = _register(world.officer, SoftAuthenticator())
    response = _disable(client_for(intruder), key)
    assert response.status_code == 404
    assert _keys(world.officer)[0].active and _events("security_key.disabled") == []


def test_disabling_needs_the_csrf_token(world, client_for):
    key = _register(world.officer, SoftAuthenticator())
    response = _disable(client_for("officer"), key, with_token=False)
    assert response.status_code == 400
    assert _keys(world.officer)[0].active


def test_unknown_key_is_404(world, client_for):
    client = client_for("officer")
    _options, token = _options_and_token(client)
    assert client.post(f"{PAGE}/999/disable", data={"csrf_token": token}).status_code == 404


def test_only_the_owner_disables_through_the_service(world):
    key = _register(world.officer, SoftAuthenticator())
    with pytest.raises(SecurityKeyError, match="Only the owner"):
        security_keys.disable_key(db.session, Actor(world.agent), key)
    assert _keys(world.officer)[0].active


# --- confirming a signature --------------------------------------------------------------------


def test_signing_challenge_binds_the_document_and_the_nonce():
    nonce = bytes(range(16))
    challenge = security_keys.signing_challenge(DOCUMENT, nonce)
    expected = hashlib.sha256(b"diwan-sign-v1\0" + bytes.fromhex(DOCUMENT) + nonce).digest()
    assert challenge == expected
    other_document = hashlib.sha256(b"another").hexdigest()
    assert security_keys.signing_challenge(other_document, nonce) != challenge
    assert security_keys.signing_challenge(DOCUMENT, bytes(16)) != challenge
    for bad_digest in ("abcd", "zz" * 32, ""):
        with pytest.raises(ValueError):
            security_keys.signing_challenge(bad_digest, nonce)
    with pytest.raises(ValueError, match="16 bytes"):
        security_keys.signing_challenge(DOCUMENT, bytes(15))


def test_assertion_options_allow_only_the_users_active_keys(world):
    kept = _register(world.officer, SoftAuthenticator(), name="Kept")
    dropped = _register(world.officer, SoftAuthenticator(), name="Dropped")
    _register(world.agent, SoftAuthenticator(), name="Colleague's")
    security_keys.disable_key(db.session, Actor(world.officer), dropped)
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))

    options = json.loads(
        security_keys.assertion_options(db.session, world.officer, challenge=challenge, rp_id=RP_ID)
    )

    assert options["challenge"] == bytes_to_base64url(challenge)
    assert options["rpId"] == RP_ID
    assert options["userVerification"] == "preferred"
    assert options["allowCredentials"] == [
        {
            "id": bytes_to_base64url(kept.credential_id),
            "type": "public-key",
            "transports": ["nfc", "usb"],
        }
    ]


def test_assertion_is_verified_counted_and_kept_as_evidence(world):
    authenticator = SoftAuthenticator()
    key = _register(world.officer, authenticator)
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))

    evidence = _verify(world.officer, challenge, authenticator.sign(challenge))

    assert evidence["credential_id"] == bytes_to_base64url(authenticator.credential_id)
    assert evidence["key_name"] == "Blue key"
    assert evidence["challenge"] == bytes_to_base64url(challenge)
    assert evidence["sign_count"] == 1
    json.dumps(evidence)  # ready to store as JSON
    # The evidence stands on its own: the key's public key checks it without the server.
    client_data = base64url_to_bytes(evidence["client_data_json"])
    assert json.loads(client_data)["challenge"] == evidence["challenge"]
    authenticator.private_key.public_key().verify(
        base64url_to_bytes(evidence["signature"]),
        base64url_to_bytes(evidence["authenticator_data"]) + hashlib.sha256(client_data).digest(),
        ec.ECDSA(hashes.SHA256()),
    )
    db.session.expire_all()
    assert key.sign_count == 1 and key.last_used_at is not None
    (event,) = _events("security_key.used")
    assert event.actor_id == world.officer.id and event.object_id == key.id
    assert event.data["challenge"] == evidence["challenge"] and event.data["sign_count"] == 1
    # The next signature counts on.
    second = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    assert _verify(world.officer, second, authenticator.sign(second))["sign_count"] == 2
    assert audit.verify_chain(db.session, world.org.id).ok


def _refused(user: User, key: SecurityKey, challenge: bytes, answer: str, message: str, **kw):
    before = _snapshot(key)
    with pytest.raises(SecurityKeyError) as refusal:
        _verify(user, challenge, answer, **kw)
    assert message in str(refusal.value.message)
    assert _snapshot(key) == before  # counter, last use, status and audit trail unchanged


def test_an_answer_to_another_challenge_is_refused(world):
    authenticator = SoftAuthenticator()
    key = _register(world.officer, authenticator)
    nonce = os.urandom(16)
    challenge = security_keys.signing_challenge(DOCUMENT, nonce)
    other_document = security_keys.signing_challenge(hashlib.sha256(b"x").hexdigest(), nonce)
    answer = authenticator.sign(other_document)
    _refused(world.officer, key, challenge, answer, "could not be verified")


def test_an_answer_from_another_origin_or_site_is_refused(world):
    authenticator = SoftAuthenticator()
    key = _register(world.officer, authenticator)
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    phished = authenticator.sign(challenge, origin="https://diwan.evil.example")
    _refused(world.officer, key, challenge, phished, "could not be verified")
    other_site = authenticator.sign(challenge, rp_id="evil.example")
    _refused(world.officer, key, challenge, other_site, "could not be verified")
    # The right answer, checked against the wrong expected origin.
    right = authenticator.sign(challenge)
    _refused(world.officer, key, challenge, right, "could not be verified", origin="http://x")


def test_a_forged_signature_is_refused(world):
    authenticator = SoftAuthenticator()
    key = _register(world.officer, authenticator)
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    forger = SoftAuthenticator(credential_id=authenticator.credential_id)  # same id, other key
    _refused(world.officer, key, challenge, forger.sign(challenge), "could not be verified")


def test_a_replayed_or_backwards_counter_is_refused(world):
    authenticator = SoftAuthenticator()
    key = _register(world.officer, authenticator)
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    answer = authenticator.sign(challenge)
    _verify(world.officer, challenge, answer)

    _refused(world.officer, key, challenge, answer, "could not be verified")  # replayed
    authenticator.sign_count = 0  # a cloned key, behind the original
    cloned = authenticator.sign(challenge)
    _refused(world.officer, key, challenge, cloned, "could not be verified")


@pytest.mark.parametrize(
    ("meanwhile", "message"),
    [
        ({"sign_count": 1}, "could not be verified"),  # the same answer, accepted in between
        ({"disabled_at": utcnow()}, "was disabled"),  # the owner disabled it in between
    ],
)
def test_what_changed_during_verification_is_checked_again(world, monkeypatch, meanwhile, message):
    """Between py_webauthn's check and the write lock another request may have used or disabled
    the key: the service looks again under the lock."""
    authenticator = SoftAuthenticator()
    key = _register(world.officer, authenticator)
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    verify = security_keys.verify_authentication_response

    def verify_then_race(**kwargs):
        verified = verify(**kwargs)
        db.session.execute(update(SecurityKey).where(SecurityKey.id == key.id).values(meanwhile))
        db.session.commit()
        return verified

    monkeypatch.setattr(security_keys, "verify_authentication_response", verify_then_race)
    with pytest.raises(SecurityKeyError, match=message):
        _verify(world.officer, challenge, authenticator.sign(challenge))
    db.session.expire_all()
    assert key.last_used_at is None and _events("security_key.used") == []
    assert {name: getattr(key, name) for name in meanwhile} == meanwhile


def test_an_unknown_or_someone_elses_key_is_refused(world):
    mine = _register(world.officer, SoftAuthenticator())
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    stranger = SoftAuthenticator()  # never registered
    _refused(world.officer, mine, challenge, stranger.sign(challenge), "not registered to you")
    colleague = SoftAuthenticator()
    theirs = _register(world.agent, colleague)
    _refused(world.officer, theirs, challenge, colleague.sign(challenge), "not registered to you")
    foreign = SoftAuthenticator()
    other_org = _register(world.other_officer, foreign)
    _refused(world.officer, other_org, challenge, foreign.sign(challenge), "not registered to you")


def test_a_disabled_key_is_refused(world):
    authenticator = SoftAuthenticator()
    key = _register(world.officer, authenticator)
    security_keys.disable_key(db.session, Actor(world.officer), key)
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    _refused(world.officer, key, challenge, authenticator.sign(challenge), "was disabled")


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   ",
        "{",
        "null",
        '"a string"',
        "[1, 2]",
        '{"id": "AA", "rawId": "AA", "type": "public-key"}',
        '{"id": "AA", "rawId": "AA", "type": "other", "response": {}}',
        "[" * 50_000,  # nested deeper than the JSON parser's recursion allows
        "[" * 100_000,  # over the size limit
    ],
)
def test_malformed_answers_are_refused(world, answer):
    key = _register(world.officer, SoftAuthenticator())
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    before = _snapshot(key)
    with pytest.raises(SecurityKeyError):
        _verify(world.officer, challenge, answer)
    assert _snapshot(key) == before


def test_an_answer_with_broken_fields_is_refused(world):
    authenticator = SoftAuthenticator()
    key = _register(world.officer, authenticator)
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    answer = json.loads(authenticator.sign(challenge))
    for name, value in (
        ("clientDataJSON", bytes_to_base64url(b"not json")),
        ("authenticatorData", bytes_to_base64url(b"short")),
        ("signature", "!!not base64!!"),
    ):
        broken = json.loads(json.dumps(answer))
        broken["response"][name] = value
        _refused(world.officer, key, challenge, json.dumps(broken), "could not be")


# --- the web half of a signature's confirmation ------------------------------------------------


def test_signing_confirmation_through_the_session(app, world):
    authenticator = SoftAuthenticator()
    _register(world.officer, authenticator)
    user = db.session.get(User, world.officer.id)
    with app.test_request_context(base_url=ORIGIN):
        login_user(user)
        options = json.loads(web.signing_assertion_options(DOCUMENT))
        challenge = base64url_to_bytes(options["challenge"])
        answer = authenticator.sign(challenge)

        # Another document's confirmation cannot use it, and does not use up this one's nonce.
        with pytest.raises(SecurityKeyError, match="expired"):
            web.verify_signing_assertion(hashlib.sha256(b"other").hexdigest(), answer)
        evidence = web.verify_signing_assertion(DOCUMENT, answer)
        assert evidence["challenge"] == options["challenge"]

        # The nonce was used up: the same answer cannot confirm the document again.
        with pytest.raises(SecurityKeyError, match="expired"):
            web.verify_signing_assertion(DOCUMENT, authenticator.sign(challenge))


def test_a_failed_confirmation_uses_up_the_nonce(app, world):
    authenticator = SoftAuthenticator()
    _register(world.officer, authenticator)
    user = db.session.get(User, world.officer.id)
    with app.test_request_context(base_url=ORIGIN):
        login_user(user)
        options = json.loads(web.signing_assertion_options(DOCUMENT))
        with pytest.raises(SecurityKeyError, match="could not be verified"):
            web.verify_signing_assertion(DOCUMENT, authenticator.sign(os.urandom(32)))
        with pytest.raises(SecurityKeyError, match="expired"):
            web.verify_signing_assertion(
                DOCUMENT, authenticator.sign(base64url_to_bytes(options["challenge"]))
            )


def test_only_the_latest_confirmations_are_pending(app, world):
    _register(world.officer, SoftAuthenticator())
    user = db.session.get(User, world.officer.id)
    documents = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(7)]
    with app.test_request_context(base_url=ORIGIN):
        login_user(user)
        for document in documents:
            web.signing_assertion_options(document)
        assert list(session[web.SIGNING_NONCES]) == documents[-web.MAX_PENDING_SIGNINGS :]
