# ruff: noqa: F811 - pytest fixtures imported from test_parapheur are redefined as arguments
"""The e-parapheur's other paths: a security key confirming a signature (its assertion kept as
evidence), a substitute signing "for" the absent director, parallel visas, sending back to the
previous step, an expired certificate."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from datetime import date, timedelta

from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from app.models import Role
from app.models.base import utcnow
from app.models.signing import Circuit, CircuitStep, SigningCertificate
from app.services import circuits
from app.services import delegations as delegation_service
from app.services.actor import Actor
from app.uploads import file_store
from signing.validation import validate
from tests.conftest import _CSRF, csrf_token
from tests.test_parapheur import (  # noqa: F401 - fixtures
    SECRET,
    _ca,
    _flash,
    _pdf,
    _sign,
    _step,
    _visa,
    departments,
    director,
    enrol,
    reply_in_circuit,
)
from tests.test_routing import _user
from tests.test_security_keys import SoftAuthenticator, _register


def _options(page: str) -> dict:
    match = re.search(r'data-webauthn-options="([^"]+)"', page)
    assert match, "no security key confirmation on the page"
    return json.loads(html.unescape(match.group(1)))


def _challenge(options: dict) -> bytes:
    value = options["challenge"]
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def test_a_security_key_confirms_the_signature_and_its_assertion_is_kept(
    app, world, reply_in_circuit, director, client_for
):
    _letter, circuit, head = reply_in_circuit
    _visa(head, circuit)
    boss = client_for("director")
    enrol(boss)
    key = SoftAuthenticator()
    _register(director, key)
    step = _step(circuit, "sign")
    version = db.session.get(Circuit, circuit.id).current_version

    def post(extra):
        # One page load: each load asks the key a new challenge.
        page = boss.get(f"/parapheur/{circuit.id}").get_data(as_text=True)
        match = _CSRF.search(page)
        token = match.group(1) or match.group(2)
        data = {"csrf_token": token, "version_id": version.id, "page": 1, "x": 300, "y": 60}
        return page, boss.post(
            f"/parapheur/steps/{step.id}/sign",
            data={**data, "secret": SECRET, **extra(page)},
            follow_redirects=True,
        )

    # Without the key's answer, nothing is signed.
    _page, response = post(lambda page: {})
    assert "Confirm with your security key" in _flash(response.get_data(as_text=True))
    # An answer to another challenge is refused.
    _page, response = post(lambda page: {"webauthn_response": key.sign(b"x" * 32)})
    assert _step(circuit, "sign").status == "pending"
    assert "The document is signed" not in _flash(response.get_data(as_text=True))
    # The answer to the page's challenge (bound to the document's digest) signs.
    _page, response = post(lambda page: {"webauthn_response": key.sign(_challenge(_options(page)))})
    assert "The document is signed" in _flash(response.get_data(as_text=True))
    evidence = _step(circuit, "sign").evidence
    assert evidence["document_sha256"] == version.sha256
    assert {"authenticator_data", "client_data_json", "signature"} <= evidence.keys()


def test_a_substitute_signs_for_the_absent_director(
    app, world, reply_in_circuit, director, departments, client_for
):
    _letter, circuit, head = reply_in_circuit
    deputy = _user(world.org, "deputy", Role.SIGNATORY, director.department)
    deputy.full_name = "Omar Tazi"
    db.session.commit()
    delegation_service.create_delegation(
        db.session,
        Actor(director),
        deputy.id,
        date.today(),
        date.today() + timedelta(days=5),
    )
    _visa(head, circuit)
    substitute = client_for("deputy")
    enrol(substitute)
    assert "Réponse : attestation" in substitute.get("/parapheur/").get_data(as_text=True)
    page = _sign(substitute, circuit).get_data(as_text=True)
    assert "The document is signed" in _flash(page)
    step = _step(circuit, "sign")
    assert step.acted_by.username == "deputy" and step.acted_for.username == "director"
    db.session.expire_all()
    signed = file_store().open_verified(db.session.get(Circuit, circuit.id).current_version.sha256)
    report = validate(signed, trust_roots=[_ca(world)])
    assert report["verdict"] == "VALID"
    assert report["signatures"][0]["signer"]["common_name"] == "Omar Tazi"
    # The stamp says whose place the substitute took.
    widget = next(
        annotation.get_object()
        for annotation in PdfReader(io.BytesIO(signed)).pages[0]["/Annots"]
        if annotation.get_object().get("/FT") == "/Sig"
    )
    assert "Pour Directrice générale" in widget["/Contents"] or (
        "For Directrice générale" in widget["/Contents"]
    )


def test_parallel_visas_both_come_before_the_signature(
    app, world, director, departments, client_for
):
    sha = file_store().put_bytes(_pdf())
    circuit = circuits.start(
        db.session,
        Actor(world.officer),
        title="Note",
        document_type="memo",
        pdf_sha256=sha,
        size=1,
        pages=2,
        steps=[
            circuits.StepInput(1, "visa", department_id=departments.drh.id, role="department_head"),
            circuits.StepInput(1, "visa", department_id=departments.dsi.id, role="department_head"),
            circuits.StepInput(2, "sign", assignee_id=director.id),
        ],
    )
    assert [s.status for s in circuit.steps] == ["pending", "pending", "waiting"]
    for username in ("head.dsi", "head.drh"):
        client = client_for(username)
        step = next(
            s
            for s in circuit.steps
            if s.status == "pending" and s.department.code == username[-3:].upper()
        )
        token = csrf_token(client, f"/parapheur/{circuit.id}")
        client.post(
            f"/parapheur/steps/{step.id}/approve",
            data={"csrf_token": token, "version_id": circuit.current_version.id},
        )
        db.session.expire_all()
        circuit = db.session.get(Circuit, circuit.id)
        if username == "head.dsi":
            assert _step(circuit, "sign").status == "waiting"
    assert _step(circuit, "sign").status == "pending"


def test_sending_back_to_the_previous_step(app, world, reply_in_circuit, director, client_for):
    _letter, circuit, head = reply_in_circuit
    _visa(head, circuit)
    boss = client_for("director")
    step = _step(circuit, "sign")
    token = csrf_token(boss, f"/parapheur/{circuit.id}")
    boss.post(
        f"/parapheur/steps/{step.id}/reject",
        data={
            "csrf_token": token,
            "version_id": circuit.current_version.id,
            "reason": "Ajouter la référence",
            "to": "previous",
        },
    )
    db.session.expire_all()
    circuit = db.session.get(Circuit, circuit.id)
    assert circuit.status == "in_progress" and circuit.position == 1
    assert _step(circuit, "visa").status == "pending"
    assert _step(circuit, "sign").status == "waiting"
    history = boss.get(f"/parapheur/{circuit.id}").get_data(as_text=True)
    assert "Ajouter la référence" in history


def test_an_expired_certificate_cannot_sign(app, world, reply_in_circuit, director, client_for):
    _letter, circuit, head = reply_in_circuit
    _visa(head, circuit)
    boss = client_for("director")
    enrol(boss)
    row = db.session.scalar(
        select(SigningCertificate).where(SigningCertificate.user_id == director.id)
    )
    row.not_after = utcnow() - timedelta(days=1)  # as if it had expired yesterday
    db.session.commit()
    page = _sign(boss, circuit).get_data(as_text=True)
    assert "no valid signing certificate" in _flash(page)
    assert (
        db.session.scalar(
            select(CircuitStep.status).where(CircuitStep.id == _step(circuit, "sign").id)
        )
        == "pending"
    )
