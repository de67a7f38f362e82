"""RFC 3161 time-stamps anchoring the audit chains: stamping, and `diwan verify-audit` catching
a rewrite the hash chain alone cannot see."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, AuditHead, AuditTimestamp
from app.models.signing import CertificatePurpose, SigningCertificate
from app.services import audit, audit_timestamps, pki, signatures
from signing import asyncio_bridge
from signing import pki as signing_pki
from signing.timestamps import LocalTimeStamper, answer_request
from tests.factories import register


@pytest.fixture(autouse=True)
def _fresh_key_cache(monkeypatch):
    # Opened keys are cached per process by certificate; every test makes new ones.
    monkeypatch.setattr(pki, "_opened", {})


def _settings(app, **changes) -> signatures.SignatureSettings:
    config = {**app.config, **changes}
    return signatures.SignatureSettings.from_config(config)


def _stamp(app, **changes) -> int:
    return audit_timestamps.stamp_audit_heads(db.session, _settings(app, **changes))


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["verify-audit", *args])


def _letters(app, world, n=2):
    with app.test_request_context():
        return [register(world.officer, subject=f"Lettre {i}") for i in range(n)]


def _stamps(organisation_id: int) -> list[AuditTimestamp]:
    return list(
        db.session.scalars(
            select(AuditTimestamp)
            .where(AuditTimestamp.organisation_id == organisation_id)
            .order_by(AuditTimestamp.seq)
        )
    )


def _head(organisation_id: int) -> AuditHead:
    db.session.expire_all()
    return db.session.get(AuditHead, organisation_id)


def _imprint(token_der: bytes) -> bytes:
    token = cms.ContentInfo.load(token_der)
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert tst_info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    return tst_info["message_imprint"]["hashed_message"].native


def _rewrite(organisation_id: int, seq: int, data: dict) -> None:
    """What someone with write access to the database can do: change an event and recompute
    every later hash and the head, so the chain is whole again."""
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.organisation_id == organisation_id)
        .order_by(AuditEvent.seq)
    ).all()
    previous = audit.GENESIS
    for event in events:
        if event.seq == seq:
            event.data = data
        event.prev_hash = previous
        event.hash = audit.event_hash(event)
        previous = event.hash
    db.session.get(AuditHead, organisation_id).last_hash = previous
    db.session.commit()


def _registered_seq(organisation_id: int) -> int:
    return db.session.scalar(
        select(func.min(AuditEvent.seq)).where(
            AuditEvent.organisation_id == organisation_id,
            AuditEvent.action == "letter.registered",
        )
    )


# --- stamping -------------------------------------------------------------------------------------


def _count_requests(monkeypatch) -> list[str]:
    """The organisation codes a time-stamp was asked for, in order."""
    asked: list[str] = []
    real = signatures.timestamper

    def timestamper(session, organisation, settings):
        stamper = real(session, organisation, settings)
        original, code = stamper.async_timestamp, organisation.code

        async def counted(digest, algorithm):
            asked.append(code)
            return await original(digest, algorithm)

        stamper.async_timestamp = counted
        return stamper

    monkeypatch.setattr(signatures, "timestamper", timestamper)
    return asked


def test_the_head_is_stamped_once_then_again_when_it_moves(app, world, monkeypatch):
    asked = _count_requests(monkeypatch)
    _letters(app, world)
    assert _stamp(app) == 2  # both organisations have events
    assert sorted(asked) == ["mtn", "other"]
    [stamp] = _stamps(world.org.id)
    head = _head(world.org.id)
    # The organisation's PKI was created for its TSA (one event) before the head was read.
    assert (
        db.session.scalar(
            select(AuditEvent.seq).where(
                AuditEvent.organisation_id == world.org.id, AuditEvent.action == "pki.created"
            )
        )
        == head.last_seq
    )
    assert (stamp.seq, stamp.event_hash, stamp.authority) == (
        head.last_seq,
        head.last_hash,
        "organisation",
    )
    assert _imprint(stamp.token) == hashlib.sha256(head.last_hash.encode("ascii")).digest()
    assert abs(stamp.stamped_at - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)

    # The head did not move: no request, no new token, and stamping wrote no event itself.
    assert _stamp(app) == 0
    assert len(asked) == 2
    first = stamp.seq
    assert _head(world.org.id).last_seq == first
    assert len(_stamps(world.org.id)) == 1

    _letters(app, world, 1)
    assert _stamp(app) == 1  # only the organisation whose chain moved
    assert asked[2:] == ["mtn"]
    assert [s.seq for s in _stamps(world.org.id)] == [first, _head(world.org.id).last_seq]
    assert len(_stamps(world.other_org.id)) == 1

    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 0, result.output
    newest = _stamps(world.org.id)[-1]
    assert (
        f"mtn: {_head(world.org.id).last_seq} events, ok, anchored by 2 time-stamps "
        f"(newest {newest.stamped_at:%Y-%m-%d %H:%M} UTC, seq {newest.seq})"
    ) in result.output


def test_an_organisation_never_stamped_says_so(app, world):
    _letters(app, world, 1)
    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 0 and "events, ok, not time-stamped" in result.output


def test_a_failing_tsa_does_not_stop_the_other_organisations(app, world, monkeypatch, caplog):
    _letters(app, world, 1)
    real = signatures.timestamper

    class Down(TimeStamper):
        async def async_request_tsa_response(self, req):
            raise TimestampRequestError("the service is down")

    def timestamper(session, organisation, settings):
        return Down() if organisation.code == "mtn" else real(session, organisation, settings)

    monkeypatch.setattr(signatures, "timestamper", timestamper)
    with caplog.at_level(logging.ERROR, logger="app.services.audit_timestamps"):
        assert _stamp(app) == 1
    assert _stamps(world.org.id) == [] and len(_stamps(world.other_org.id)) == 1
    assert f"audit chain of organisation {world.org.id}: no time-stamp" in caplog.text
    assert "the service is down" in caplog.text

    monkeypatch.setattr(signatures, "timestamper", real)
    assert _stamp(app) == 1  # the next round catches up
    assert len(_stamps(world.org.id)) == 1


def test_a_token_over_another_imprint_is_not_stored(app, world, monkeypatch, caplog):
    _letters(app, world, 1)
    real = signatures.timestamper

    def timestamper(session, organisation, settings):
        stamper = real(session, organisation, settings)
        original = stamper.async_timestamp

        async def elsewhere(digest, algorithm):
            return await original(hashlib.sha256(b"something else").digest(), algorithm)

        stamper.async_timestamp = elsewhere
        return stamper

    monkeypatch.setattr(signatures, "timestamper", timestamper)
    with caplog.at_level(logging.ERROR, logger="app.services.audit_timestamps"):
        assert _stamp(app) == 0
    assert "covers another imprint than requested" in caplog.text
    assert db.session.scalar(select(func.count(AuditTimestamp.id))) == 0


def test_two_workers_at_once_store_one_token_per_head(app, world, monkeypatch, caplog):
    _letters(app, world, 1)
    for organisation in (world.org, world.other_org):  # made once, not raced here
        pki.ensure_organisation_pki(db.session, organisation, _settings(app).pki)
    results = _race(app, monkeypatch, caplog)
    assert sorted(results) == [0, 2] or sorted(results) == [1, 1]
    assert db.session.scalar(select(func.count(AuditTimestamp.id))) == 2
    assert verify(world.org.id).ok


def _race(app, monkeypatch, caplog) -> list[int]:
    """Two threads stamping at once, both past the "is it stamped yet" check before either
    stores its token."""
    barrier = threading.Barrier(2, timeout=30)
    real = signatures.timestamper

    def timestamper(session, organisation, settings):
        stamper = real(session, organisation, settings)
        original = stamper.async_timestamp

        async def together(digest, algorithm):
            barrier.wait()  # both threads read the head and the newest stamp already
            return await original(digest, algorithm)

        stamper.async_timestamp = together
        return stamper

    monkeypatch.setattr(signatures, "timestamper", timestamper)
    settings = _settings(app)
    results: list[int] = []

    def work():
        with app.app_context():
            try:
                results.append(audit_timestamps.stamp_audit_heads(db.session, settings))
            finally:
                db.session.remove()

    with caplog.at_level(logging.ERROR, logger="app.services.audit_timestamps"):
        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert caplog.text == ""  # a conflict is not an error
    assert sum(results) == 2  # one stored token per organisation, whoever stored it
    db.session.commit()  # this thread's snapshot predates theirs
    return results


@pytest.mark.postgres
def test_two_workers_at_once_store_one_token_per_head_on_postgresql(pg_app, monkeypatch, caplog):
    from app.services import organisations as orgs

    for code in ("pga", "pgb"):
        organisation = orgs.create_organisation(
            db.session, None, code=code, name_ar="وزارة", name_fr="Ministère"
        )
        pki.ensure_organisation_pki(db.session, organisation, _settings(pg_app).pki)
    _race(pg_app, monkeypatch, caplog)
    rows = db.session.execute(select(AuditTimestamp.organisation_id, AuditTimestamp.seq)).all()
    assert len(rows) == 2 and len({row[0] for row in rows}) == 2
    trust = audit_timestamps.StampTrust.from_config(pg_app.config)
    for organisation_id, _seq in rows:
        assert audit_timestamps.verify_timestamps(db.session, organisation_id, trust).ok


# --- verification ---------------------------------------------------------------------------------


def verify(organisation_id: int) -> audit_timestamps.TimestampReport:
    from flask import current_app

    trust = audit_timestamps.StampTrust.from_config(current_app.config)
    return audit_timestamps.verify_timestamps(db.session, organisation_id, trust)


def test_a_full_rewrite_the_chain_cannot_see_fails_on_its_time_stamp(app, world):
    _letters(app, world, 3)
    assert _stamp(app) == 2
    [stamp] = _stamps(world.org.id)
    _letters(app, world, 1)  # events after the stamp, not stamped yet
    target = _registered_seq(world.org.id)
    assert target < stamp.seq

    _rewrite(world.org.id, target, {"subject": "falsified"})
    # The plain hash chain is whole again: it cannot tell.
    assert audit.verify_chain(db.session, world.org.id).ok
    report = verify(world.org.id)
    assert report.chain.ok and not report.ok
    result = _cli(app)
    assert result.exit_code == 1
    assert "mtn: " in result.output and "BROKEN, 1 of 1 time-stamps failing" in result.output
    assert (
        f"time-stamp of {stamp.stamped_at:%Y-%m-%d %H:%M} UTC on event {stamp.seq} "
        f"(organisation): the token does not cover event {stamp.seq} as it is now"
    ) in result.output
    assert "other: " in result.output and "ok, anchored by 1 time-stamp " in result.output


def test_a_rewrite_after_the_newest_stamp_is_not_covered(app, world):
    """What the anchor does not do: events after the newest stamp wait for the next round."""
    _letters(app, world, 1)
    _stamp(app)
    _letters(app, world, 1)
    newest = max(s.seq for s in _stamps(world.org.id))
    _rewrite(world.org.id, _head(world.org.id).last_seq, {"subject": "falsified"})
    assert verify(world.org.id).ok
    assert _stamp(app) == 1  # the rewritten head is stamped as it now is
    assert max(s.seq for s in _stamps(world.org.id)) > newest


def test_an_edit_without_recomputing_breaks_the_chain_and_its_stamps(app, world):
    _letters(app, world, 1)
    _stamp(app)
    event = db.session.get(
        AuditEvent,
        db.session.scalar(
            select(AuditEvent.id).where(
                AuditEvent.organisation_id == world.org.id,
                AuditEvent.seq == _registered_seq(world.org.id),
            )
        ),
    )
    event.data = {"subject": "falsified"}
    db.session.commit()
    report = verify(world.org.id)
    assert not report.chain.ok
    assert any("the chain is broken at or before event" in p for p in report.problems)
    assert _cli(app, "--org", "mtn").exit_code == 1


def _corrupt_signature(token_der: bytes) -> bytes:
    token = cms.ContentInfo.load(token_der)
    signature = token["content"]["signer_infos"][0]["signature"].native
    position = token_der.index(signature) + len(signature) // 2
    corrupted = bytearray(token_der)
    corrupted[position] ^= 0x01
    return bytes(corrupted)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda der: b"not a token at all", "the token cannot be read"),
        (lambda der: der[: len(der) // 2], "the token cannot be read"),
        (_corrupt_signature, "the token's signature is not valid"),
    ],
    ids=["garbage", "truncated", "bad-signature"],
)
def test_a_damaged_token_fails(app, world, damage, message):
    _letters(app, world, 1)
    _stamp(app)
    [stamp] = _stamps(world.org.id)
    stamp.token = damage(stamp.token)
    db.session.commit()
    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 1
    assert f"on event {stamp.seq} (organisation): {message}" in result.output


def _foreign_tsa(name: str = "Outside TSA") -> signing_pki.Identity:
    """A time-stamp authority that is not this installation's (an attacker's, or a real
    outside service): its key, its certificate, and the root above it."""
    ca = signing_pki.create_authority(signing_pki.Subject(common_name=f"{name} Root"))
    key = signing_pki.generate_key()
    certificate = signing_pki.issue_certificate(
        ca,
        signing_pki.Subject(common_name=name),
        key.public_key(),
        purpose="timestamping",
        crl_url=None,
    )
    return signing_pki.Identity(key, certificate, (ca.certificate,))


def _forge(tsa: signing_pki.Identity, event_hash: str) -> bytes:
    stamper = LocalTimeStamper(tsa.certificate, tsa.key, tsa.chain)
    imprint = hashlib.sha256(event_hash.encode("ascii")).digest()
    return asyncio_bridge.run(lambda: stamper.async_timestamp(imprint, "sha256")).dump()


def test_a_forged_token_over_a_rewritten_chain_fails(app, world):
    """The attacker rewrites the chain and replaces the token with one of their own TSA, then
    also plants their TSA's certificate as the organisation's, with the real sealed key."""
    _letters(app, world, 2)
    _stamp(app)
    [stamp] = _stamps(world.org.id)
    _rewrite(world.org.id, _registered_seq(world.org.id), {"subject": "falsified"})
    rewritten = db.session.scalar(
        select(AuditEvent.hash).where(
            AuditEvent.organisation_id == world.org.id, AuditEvent.seq == stamp.seq
        )
    )
    forger = _foreign_tsa("Forger")
    stamp.token, stamp.event_hash = _forge(forger, rewritten), rewritten
    db.session.commit()
    assert audit.verify_chain(db.session, world.org.id).ok
    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 1
    assert "(organisation): not signed by the organisation's time-stamp authority" in result.output

    # Relabelled as coming from an outside authority: its signer is still nobody trusted.
    stamp.authority = "https://tsa.example.org"
    db.session.commit()
    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 1
    assert "which is not a time-stamp authority of this installation" in result.output

    # A certificate row planted for the forger, carrying the real TSA's sealed key.
    real = db.session.scalar(
        select(SigningCertificate).where(
            SigningCertificate.organisation_id == world.org.id,
            SigningCertificate.purpose == CertificatePurpose.TIMESTAMPING,
        )
    )
    forged_der = cms.ContentInfo.load(stamp.token)["content"]["certificates"]
    forged_certificate = next(
        c.chosen for c in forged_der if c.chosen.subject.native["common_name"] == "Forger"
    )
    db.session.add(
        SigningCertificate(
            organisation_id=world.org.id,
            purpose=CertificatePurpose.TIMESTAMPING,
            serial="f0f0",
            subject="CN=Forger",
            issuer="CN=Forger Root",
            not_before=real.not_before,
            not_after=real.not_after,
            certificate_der=forged_certificate.dump(),
            key_storage=real.key_storage,
            encrypted_key=real.encrypted_key,
        )
    )
    stamp.authority = "organisation"
    db.session.commit()
    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 1
    assert "not signed by the organisation's time-stamp authority (Common Name: Forger)" in (
        result.output
    )


def test_stamps_from_an_rfc3161_service_over_http(app, world, live_server):
    """TSA_URL pointing at Diwan's own HTTP endpoint (the mtn organisation's authority): both
    organisations are stamped by it, and its signer is a TSA of this installation."""
    pki.ensure_organisation_pki(db.session, world.org, _settings(app).pki)
    _letters(app, world, 1)
    url = f"{live_server}/pki/mtn/tsa"
    assert _stamp(app, TSA_URL=url) == 2
    assert {s.authority for s in _stamps(world.org.id) + _stamps(world.other_org.id)} == {url}
    result = _cli(app)
    assert result.exit_code == 0, result.output
    assert result.output.count("ok, anchored by 1 time-stamp ") == 2

    # A service that cannot be reached: nothing stored, nothing raised.
    _letters(app, world, 1)
    assert _stamp(app, TSA_URL="http://127.0.0.1:9/tsa") == 0


@pytest.fixture
def outside_tsa() -> Iterator[tuple[str, x509.Certificate]]:
    """An RFC 3161 service outside the installation, over HTTP; and its root certificate."""
    tsa = _foreign_tsa()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = answer_request(body, certificate=tsa.certificate, key=tsa.key, chain=tsa.chain)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa", tsa.chain[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_outside_tsa_is_trusted_through_tsa_trust_roots(app, world, outside_tsa, tmp_path):
    url, root = outside_tsa
    _letters(app, world, 1)
    assert _stamp(app, TSA_URL=url) == 2
    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 1
    assert "signed by Common Name: Outside TSA, which is not a time-stamp authority" in (
        result.output
    )

    roots = tmp_path / "tsa-roots.pem"
    roots.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    app.config["TSA_TRUST_ROOTS"] = str(roots)
    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 0, result.output
    assert "ok, anchored by 1 time-stamp " in result.output

    # ... but never as the organisation's own authority.
    stamp = _stamps(world.org.id)[0]
    stamp.authority = "organisation"
    db.session.commit()
    assert _cli(app, "--org", "mtn").exit_code == 1

    app.config["TSA_TRUST_ROOTS"] = str(tmp_path / "missing.pem")
    result = _cli(app, "--org", "mtn")
    assert result.exit_code != 0 and "TSA_TRUST_ROOTS" in result.output


def test_a_stamped_event_removed_is_named_and_not_stamped_again(app, world, caplog):
    _letters(app, world, 1)
    _stamp(app)
    [stamp] = _stamps(world.org.id)
    last = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.organisation_id == world.org.id, AuditEvent.seq == stamp.seq
        )
    )
    db.session.delete(last)
    db.session.commit()
    result = _cli(app, "--org", "mtn")
    assert result.exit_code == 1
    assert f"on event {stamp.seq} (organisation): event {stamp.seq} is missing" in result.output

    # The head still names the removed event: nothing to stamp, and the job says why.
    _head(world.org.id).last_seq = stamp.seq + 1
    db.session.commit()
    with caplog.at_level(logging.WARNING, logger="app.services.audit_timestamps"):
        assert _stamp(app) == 0
    assert f"its head names event {stamp.seq + 1}, which is missing" in caplog.text
