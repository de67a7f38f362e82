"""The e-parapheur through HTTP: a reply goes into a circuit (visa by the head, signature by a
director), is signed with the director's own key and dispatched; and every way it can go wrong
gets a clear message and changes nothing."""

from __future__ import annotations

import html
import io
import re

import pytest
from cryptography import x509
from pypdf import PdfWriter
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Letter, Role
from app.models.signing import (
    Circuit,
    CircuitStep,
    CircuitTemplate,
    CircuitVersion,
    SigningCertificate,
)
from app.services import organisations as orgs
from app.services import pki as pki_service
from app.services.actor import Actor
from app.uploads import file_store
from tests.conftest import csrf_token
from tests.factories import register
from tests.test_routing import _action_assignment, _post, _route, _user, departments  # noqa: F401

SECRET = "director-secret-1"


@pytest.fixture
def director(app, world, departments):  # noqa: F811
    sg = orgs.create_department(
        db.session, None, world.org, code="SG", name_ar="الكتابة العامة", name_fr="Secrétariat"
    )
    user = _user(world.org, "director", Role.SIGNATORY, sg)
    user.full_name = "Nadia Benali"
    user.title = "Directrice générale"
    db.session.commit()
    return user


def enrol(client, secret=SECRET):
    token = csrf_token(client, "/account/certificates/")
    return client.post(
        "/account/certificates/new",
        data={"csrf_token": token, "secret": secret, "confirmation": secret},
    )


@pytest.fixture
def reply_in_circuit(app, world, departments, director, client_for):  # noqa: F811
    """A reply drafted by DRH's agent, sent into visa (DRH head) then signature (director)."""
    with app.test_request_context():
        letter = register(
            world.officer, subject="Demande d'attestation", correspondent="Mme Idrissi"
        )
    _route(client_for("officer"), letter, departments.drh)
    head = client_for("head.drh")
    _post(head, letter, f"assignments/{_action_assignment(letter).id}/accept")
    _post(head, letter, "reply/start", {"template_id": "None", "language": "fr"})
    token = csrf_token(head, f"/letters/{letter.id}/reply")
    head.post(
        f"/letters/{letter.id}/reply",
        data={"csrf_token": token, "subject": "Réponse : attestation", "body": "Texte."},
    )
    response = head.post(
        f"/letters/{letter.id}/reply/circuit",
        data={
            "csrf_token": token,
            "template_id": "None",
            "step_position": ["1", "2"],
            "step_action": ["visa", "sign"],
            "step_target": [f"r:{departments.drh.id}:department_head", f"u:{director.id}"],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    circuit = db.session.scalar(select(Circuit).where(Circuit.letter_id == letter.id))
    assert circuit is not None and circuit.document_type == "reply"
    return letter, circuit, head


def _visa(client, circuit):
    step = _step(circuit, "visa")
    token = csrf_token(client, f"/parapheur/{circuit.id}")
    return client.post(
        f"/parapheur/steps/{step.id}/approve",
        data={"csrf_token": token, "version_id": circuit.current_version.id, "comment": "Vu"},
        follow_redirects=True,
    )


def _sign(client, circuit, secret=SECRET, version_id=None, page=1, x=300, y=60):
    step = _step(circuit, "sign")
    token = csrf_token(client, f"/parapheur/{circuit.id}")
    return client.post(
        f"/parapheur/steps/{step.id}/sign",
        data={
            "csrf_token": token,
            "version_id": version_id or circuit.current_version.id,
            "page": page,
            "x": x,
            "y": y,
            "secret": secret,
        },
        follow_redirects=True,
    )


def _step(circuit, action) -> CircuitStep:
    db.session.expire_all()
    return next(s for s in db.session.get(Circuit, circuit.id).steps if s.action == action)


def _ca(world) -> x509.Certificate:
    row = db.session.scalar(
        select(SigningCertificate).where(
            SigningCertificate.organisation_id == world.org.id,
            SigningCertificate.purpose == "authority",
        )
    )
    return x509.load_der_x509_certificate(row.certificate_der)


def _flash(page: str) -> str:
    return html.unescape(" ".join(re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', page)))


def test_visa_then_signature_then_dispatch(app, world, reply_in_circuit, director, client_for):
    letter, circuit, head = reply_in_circuit
    boss = client_for("director")
    assert enrol(boss).status_code == 302
    # Not the director's turn yet: the basket is empty and a signature is refused.
    assert "Réponse : attestation" not in boss.get("/parapheur/").get_data(as_text=True)
    assert "not this step's turn yet" in _flash(_sign(boss, circuit).get_data(as_text=True))
    assert db.session.scalar(select(func.count(CircuitVersion.id))) == 1

    page = _visa(head, circuit).get_data(as_text=True)
    assert "Your visa was recorded" in page
    basket = boss.get("/parapheur/").get_data(as_text=True)
    assert "Réponse : attestation" in basket

    page = _sign(boss, circuit).get_data(as_text=True)
    assert "The document is signed" in page, _flash(page)
    db.session.expire_all()
    circuit = db.session.get(Circuit, circuit.id)
    assert circuit.status == "completed"
    reasons = [v.reason for v in circuit.versions]
    assert reasons == ["submitted", "signed", "timestamped"]
    signed = file_store().open_verified(circuit.current_version.sha256)
    from signing.validation import validate

    report = validate(signed, trust_roots=[_ca(world)])
    assert report["verdict"] == "VALID", report
    assert report["signatures"][0]["signer"]["common_name"] == "Nadia Benali"

    # The reply is dispatched as signed, byte for byte, with its outgoing number.
    token = csrf_token(head, f"/letters/{letter.id}/reply")
    response = head.post(
        f"/letters/{letter.id}/reply/dispatch", data={"csrf_token": token, "channel": "email"}
    )
    assert response.status_code == 302
    outgoing = db.session.scalar(select(Letter).where(Letter.reply_to_id == letter.id))
    assert outgoing.number.split("/")[1] == "D"
    dispatched = outgoing.documents[0].versions[0].original_sha256
    assert dispatched == circuit.current_version.sha256


def test_wrong_secret_revoked_and_missing_certificate_change_nothing(
    app, world, reply_in_circuit, director, client_for
):
    _letter, circuit, head = reply_in_circuit
    _visa(head, circuit)
    boss = client_for("director")
    page = _sign(boss, circuit).get_data(as_text=True)
    assert "no valid signing certificate" in _flash(page)
    enrol(boss)
    page = _sign(boss, circuit, secret="not-the-secret").get_data(as_text=True)
    assert "Wrong signing secret" in _flash(page)
    row = pki_service.signatory_certificate(db.session, director)
    pki_service.revoke(
        db.session,
        Actor(director),
        row,
        reason="key compromised",
        settings=pki_service.PkiSettings.from_config(app.config),
    )
    page = _sign(boss, circuit).get_data(as_text=True)
    assert "no valid signing certificate" in _flash(page)
    db.session.expire_all()
    assert len(db.session.get(Circuit, circuit.id).versions) == 1
    assert _step(circuit, "sign").status == "pending"
    # The CRL the organisation serves lists the revoked serial.
    crl = db.session.scalar(
        select(pki_service.RevocationList).order_by(pki_service.RevocationList.number.desc())
    )
    revoked = x509.load_der_x509_crl(crl.crl_der)
    assert revoked.get_revoked_certificate_by_serial_number(int(row.serial, 16)) is not None


def test_a_document_changed_after_the_visa_is_not_signed(
    app, world, reply_in_circuit, director, client_for
):
    _letter, circuit, head = reply_in_circuit
    boss = client_for("director")
    enrol(boss)
    seen = circuit.current_version.id
    _visa(head, circuit)
    # The author replaces the document after the visa: the visa is asked again.
    new_pdf = PdfWriter()
    new_pdf.add_blank_page(595, 842)
    buffer = io.BytesIO()
    new_pdf.write(buffer)
    token = csrf_token(head, f"/parapheur/{circuit.id}")
    head.post(
        f"/parapheur/{circuit.id}/replace",
        data={"csrf_token": token, "document": (io.BytesIO(buffer.getvalue()), "v2.pdf")},
        content_type="multipart/form-data",
    )
    page = _sign(boss, circuit, version_id=seen).get_data(as_text=True)
    assert "changed after you opened it" in _flash(page)
    assert _step(circuit, "visa").status == "pending"
    assert _step(circuit, "sign").status == "waiting"


def test_the_second_signature_of_one_step_is_refused(
    app, world, reply_in_circuit, director, client_for
):
    _letter, circuit, head = reply_in_circuit
    _visa(head, circuit)
    first, second = client_for("director"), client_for("director")
    enrol(first)
    token_first = csrf_token(first, f"/parapheur/{circuit.id}")
    token_second = csrf_token(second, f"/parapheur/{circuit.id}")
    step = _step(circuit, "sign")
    data = {"version_id": circuit.current_version.id, "page": 1, "x": 300, "y": 60}
    one = first.post(
        f"/parapheur/steps/{step.id}/sign",
        data={"csrf_token": token_first, "secret": SECRET, **data},
        follow_redirects=True,
    )
    two = second.post(
        f"/parapheur/steps/{step.id}/sign",
        data={"csrf_token": token_second, "secret": SECRET, **data},
        follow_redirects=True,
    )
    assert "The document is signed" in _flash(one.get_data(as_text=True))
    assert "already completed" in _flash(
        two.get_data(as_text=True)
    ) or "no longer in progress" in _flash(two.get_data(as_text=True))
    signed = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "circuit.signed")
    )
    assert signed == 1


def test_an_unparseable_pdf_is_refused_and_nothing_changes(
    app, world, reply_in_circuit, director, client_for
):
    _letter, circuit, head = reply_in_circuit
    _visa(head, circuit)
    boss = client_for("director")
    enrol(boss)
    # The stored version is replaced by bytes pyHanko cannot parse (as a hostile upload would be).
    broken = file_store().put_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF\n")
    version = db.session.get(Circuit, circuit.id).current_version
    version.sha256 = broken
    db.session.commit()
    page = _sign(boss, circuit).get_data(as_text=True)
    assert "cannot be read" in _flash(page) or "cannot" in _flash(page), _flash(page)
    db.session.expire_all()
    assert len(db.session.get(Circuit, circuit.id).versions) == 1
    assert _step(circuit, "sign").status == "pending"


def test_outsiders_see_nothing(app, world, reply_in_circuit, client_for):
    _letter, circuit, _head = reply_in_circuit
    for username in ("agent.dsi", "other.officer"):
        client = client_for(username)
        assert client.get(f"/parapheur/{circuit.id}").status_code == 404
        assert client.get(f"/parapheur/{circuit.id}/v1.pdf").status_code == 404
        assert client.get(f"/parapheur/{circuit.id}/v1/pages/1.png").status_code == 404
        assert "Réponse" not in client.get("/parapheur/").get_data(as_text=True)


def test_reject_to_the_author_ends_the_circuit(app, world, reply_in_circuit, client_for):
    letter, circuit, head = reply_in_circuit
    step = _step(circuit, "visa")
    token = csrf_token(head, f"/parapheur/{circuit.id}")
    empty = head.post(
        f"/parapheur/steps/{step.id}/reject",
        data={
            "csrf_token": token,
            "version_id": circuit.current_version.id,
            "reason": "",
            "to": "author",
        },
        follow_redirects=True,
    )
    assert "Give the reason" in _flash(empty.get_data(as_text=True))
    head.post(
        f"/parapheur/steps/{step.id}/reject",
        data={
            "csrf_token": token,
            "version_id": circuit.current_version.id,
            "reason": "Chiffres à vérifier",
            "to": "author",
        },
    )
    db.session.expire_all()
    assert db.session.get(Circuit, circuit.id).status == "rejected"
    # The draft can be edited again and sent into a new circuit.
    page = head.get(f"/letters/{letter.id}/reply").get_data(as_text=True)
    assert "send_for_signature" in page


def _pdf(pages=2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_template_upload_annotation_and_batch_signing(app, world, director, client_for):
    admin = client_for("admin")
    token = csrf_token(admin, "/admin/circuit-templates")
    response = admin.post(
        "/admin/circuit-templates",
        data={
            "csrf_token": token,
            "name": "Décision : signature du directeur",
            "document_type": "decision",
            "step_position": ["1"],
            "step_action": ["sign"],
            "step_target": [f"u:{director.id}"],
        },
    )
    assert response.status_code == 302
    template = db.session.scalar(select(CircuitTemplate))
    assert template.steps[0]["assignee_id"] == director.id
    # A template naming a person of another organisation is refused.
    refused = admin.post(
        "/admin/circuit-templates",
        data={
            "csrf_token": token,
            "name": "Bad",
            "document_type": "decision",
            "step_position": ["1"],
            "step_action": ["sign"],
            "step_target": [f"u:{world.other_officer.id}"],
        },
    )
    assert refused.status_code == 422
    assert client_for("agent").get("/admin/circuit-templates").status_code == 403

    author = client_for("officer")
    for title in ("Décision 1", "Décision 2"):
        token = csrf_token(author, "/parapheur/new")
        response = author.post(
            "/parapheur/new",
            data={
                "csrf_token": token,
                "title": title,
                "document_type": "decision",
                "template_id": str(template.id),
                "document": (io.BytesIO(_pdf()), f"{title}.pdf"),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 302, response.get_data(as_text=True)
    # Not a PDF: refused with a message, no circuit.
    token = csrf_token(author, "/parapheur/new")
    response = author.post(
        "/parapheur/new",
        data={
            "csrf_token": token,
            "title": "Texte",
            "document_type": "memo",
            "template_id": str(template.id),
            "document": (io.BytesIO(b"just text"), "note.txt"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(Circuit.id))) == 2

    boss = client_for("director")
    enrol(boss)
    first = db.session.scalar(select(Circuit).where(Circuit.title == "Décision 1"))
    token = csrf_token(boss, f"/parapheur/{first.id}")
    boss.post(
        f"/parapheur/{first.id}/annotate",
        data={"csrf_token": token, "page": 2, "x": 0.5, "y": 0.25, "text": "Date à vérifier"},
    )
    assert "Date à vérifier" in boss.get(f"/parapheur/{first.id}").get_data(as_text=True)

    basket = boss.get("/parapheur/").get_data(as_text=True)
    step_ids = re.findall(r'name="step_id" value="(\d+)"', basket)
    assert len(step_ids) == 2
    token = csrf_token(boss, "/parapheur/")
    wrong = boss.post(
        "/parapheur/sign-batch",
        data={"csrf_token": token, "secret": "wrong-secret", "step_id": step_ids},
        follow_redirects=True,
    )
    assert "Wrong signing secret" in _flash(wrong.get_data(as_text=True))
    done = boss.post(
        "/parapheur/sign-batch",
        data={"csrf_token": token, "secret": SECRET, "step_id": step_ids},
        follow_redirects=True,
    )
    assert "2 documents signed." in _flash(done.get_data(as_text=True))
    db.session.expire_all()
    from signing.validation import validate

    for circuit in db.session.scalars(select(Circuit)):
        assert circuit.status == "completed"
        pdf = file_store().open_verified(circuit.current_version.sha256)
        assert validate(pdf, trust_roots=[_ca(world)])["verdict"] == "VALID"
