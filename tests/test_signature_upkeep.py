# ruff: noqa: F811 - pytest fixtures imported from test_parapheur are redefined as arguments
"""The worker's signature upkeep: archive time-stamps renewed before their certificate expires
(B-LTA), and revocation lists issued again before they go stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models.signing import Circuit, RevocationList
from app.services import signatures
from app.uploads import file_store
from app.worker import run_once
from signing.validation import validate
from tests.test_parapheur import (  # noqa: F401
    _ca,
    _sign,
    _visa,
    departments,
    director,
    enrol,
    reply_in_circuit,
)


def _completed(reply_in_circuit, client_for) -> Circuit:
    _letter, circuit, head = reply_in_circuit
    boss = client_for("director")
    enrol(boss)
    _visa(head, circuit)
    _sign(boss, circuit)
    db.session.expire_all()
    circuit = db.session.get(Circuit, circuit.id)
    assert circuit.status == "completed" and circuit.archive_expires_at is not None
    return circuit


def test_archive_timestamps_are_renewed_before_they_expire(
    app, world, reply_in_circuit, director, client_for
):
    circuit = _completed(reply_in_circuit, client_for)
    settings = signatures.SignatureSettings.from_config(app.config)
    # Far from expiry: nothing to do.
    assert (
        signatures.renew_archive_timestamps(db.session, store=file_store(), settings=settings) == 0
    )
    # Within the renewal window of the time-stamp authority's certificate: a new time-stamp.
    near = circuit.archive_expires_at.replace(tzinfo=UTC) - timedelta(days=10)
    renewed = signatures.renew_archive_timestamps(
        db.session, store=file_store(), settings=settings, now=near
    )
    assert renewed == 1
    db.session.expire_all()
    circuit = db.session.get(Circuit, circuit.id)
    assert [v.reason for v in circuit.versions][-2:] == ["timestamped", "timestamped"]
    pdf = file_store().open_verified(circuit.current_version.sha256)
    report = validate(pdf, trust_roots=[_ca(world)])
    assert report["verdict"] == "VALID", report
    assert len(report["document_timestamps"]) == 2


def test_the_worker_issues_a_crl_before_the_old_one_goes_stale(
    app, world, reply_in_circuit, director, client_for
):
    _completed(reply_in_circuit, client_for)
    db.session.commit()  # end this test's read transaction: the worker writes (SQLite WAL)
    first = run_once(app, check_deadlines=True)
    assert first["crls_issued"] == 0 and first["timestamps_renewed"] == 0
    newest = db.session.scalar(select(RevocationList).order_by(RevocationList.number.desc()))
    number = newest.number
    newest.next_update = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    db.session.commit()
    report = run_once(app, check_deadlines=True)
    db.session.commit()
    assert report["crls_issued"] == 1
    db.session.expire_all()
    assert (
        db.session.scalar(select(RevocationList.number).order_by(RevocationList.number.desc()))
        == number + 1
    )
