"""Linking letters, and documents added while processing; nobody links what they cannot see."""

from __future__ import annotations

import io

from sqlalchemy import select
from werkzeug.test import EnvironBuilder

from app.extensions import db
from app.models import Document, LetterLink
from tests.conftest import csrf_token
from tests.factories import register
from tests.helpers import blank_pdf
from tests.test_routing import _action_assignment, _post, _route, departments  # noqa: F401


def test_registry_links_two_letters_both_ways(app, world, client_for):
    with app.test_request_context():
        first = register(world.officer, subject="Première demande")
        second = register(world.officer, subject="Relance")
    officer = client_for("officer")
    _post(officer, second, "links", {"number": first.number})
    assert first.number in officer.get(f"/letters/{second.id}").get_data(as_text=True)
    assert second.number in officer.get(f"/letters/{first.id}").get_data(as_text=True)
    # twice, to itself, or to an unknown number: refused, nothing added
    for number in (first.number, second.number, "2026/A/999999"):
        _post(officer, second, "links", {"number": number})
    assert len(db.session.scalars(select(LetterLink)).all()) == 1


def test_a_letter_one_cannot_see_cannot_be_linked_or_shown(app, world, client_for):
    with app.test_request_context():
        secret = register(world.officer2, subject="Dossier sensible", confidential=True)
        mine = register(world.officer, subject="Ordinaire")
        foreign = register(world.other_officer, subject="Autre organisation")
    officer = client_for("officer")
    for other in (secret, foreign):
        _post(officer, mine, "links", {"number": other.number})
    assert db.session.scalar(select(LetterLink)) is None
    # a link made by someone who sees both does not reveal the secret to others
    owner = client_for("officer.two")
    _post(owner, secret, "links", {"number": mine.number})
    assert db.session.scalar(select(LetterLink)) is not None
    assert secret.number not in officer.get(f"/letters/{mine.id}").get_data(as_text=True)


def test_processing_department_adds_a_working_document(app, world, departments, client_for):  # noqa: F811
    with app.test_request_context():
        letter = register(world.officer, subject="Avis demandé")
    _route(client_for("officer"), letter, departments.drh)
    head = client_for("head.drh")
    _post(head, letter, f"assignments/{_action_assignment(letter).id}/accept")
    token = csrf_token(head, f"/letters/{letter.id}")

    def upload(client, name, content):
        builder = EnvironBuilder(
            path=f"/letters/{letter.id}/working-documents",
            method="POST",
            data={"csrf_token": token, "documents": [(io.BytesIO(content), name)]},
        )
        try:
            return client.open(builder)
        finally:
            builder.close()

    assert upload(head, "avis.pdf", blank_pdf()).status_code == 302
    documents = db.session.scalars(
        select(Document).where(Document.letter_id == letter.id).order_by(Document.position)
    ).all()
    assert [(d.position, d.kind) for d in documents] == [(1, "received"), (2, "working")]
    page = head.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "avis.pdf" in page
    # a refused file changes nothing; the registry (not processing) cannot add
    upload(head, "note.pdf", b"not a document")
    assert (
        len(db.session.scalars(select(Document).where(Document.letter_id == letter.id)).all()) == 2
    )
    officer = client_for("officer")
    assert upload(officer, "x.pdf", blank_pdf()).status_code in (400, 403)
