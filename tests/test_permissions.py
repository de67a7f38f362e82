"""Every boundary: another organisation, a missing role, a confidential letter, no session."""

from __future__ import annotations

import pytest

from tests.factories import register


def _urls(letter):
    document = letter.documents[0]
    base = f"/letters/{letter.id}/documents/{document.id}/v1"
    return [
        f"/letters/{letter.id}",
        f"/letters/{letter.id}/correct",
        f"{base}/original",
        f"{base}/pdf",
        f"{base}/pages/1.png",
    ]


@pytest.fixture
def letter(app, world):
    with app.test_request_context():
        return register(world.officer, subject="Plainte relative au permis")


def test_officer_sees_letter_document_and_preview(world, letter, client_for):
    client = client_for("officer")
    for url in _urls(letter):
        response = client.get(url)
        assert response.status_code == 200, url
    original = client.get(_urls(letter)[2])
    assert original.data.startswith(b"%PDF-")
    assert client.get(_urls(letter)[4]).data.startswith(b"\x89PNG")


def test_other_organisation_gets_404_everywhere(world, letter, client_for):
    client = client_for("other.officer")
    for url in _urls(letter):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Plainte relative" not in response.data
    assert client.post(f"/letters/{letter.id}/cancel", data={}).status_code in (400, 404)
    register_page = client.get("/registry/incoming").get_data(as_text=True)
    assert letter.number not in register_page
    csv = client.get("/registry/incoming/export.csv").get_data(as_text=True)
    assert letter.number not in csv


def test_agent_without_registry_role_is_refused(world, letter, client_for):
    client = client_for("agent")
    assert client.get("/registry/incoming").status_code == 403
    assert client.get("/registry/incoming/new").status_code == 403
    assert client.get("/registry/incoming/export.csv").status_code == 403
    assert client.get("/registry/contacts.json?q=A").status_code == 403
    for url in _urls(letter):
        assert client.get(url).status_code == 404, url


def test_administrator_reads_the_register_but_cannot_register_or_correct(world, letter, client_for):
    client = client_for("admin")
    assert client.get("/registry/incoming").status_code == 200
    assert client.get(f"/letters/{letter.id}").status_code == 200
    assert client.get("/registry/incoming/new").status_code == 403
    assert client.get(f"/letters/{letter.id}/correct").status_code == 403


def test_confidential_letter_is_hidden_from_other_officers(app, world, client_for):
    with app.test_request_context():
        secret = register(world.officer, subject="Dossier disciplinaire", confidential=True)
    other = client_for("officer.two")
    for url in _urls(secret):
        assert other.get(url).status_code == 404, url
    listing = other.get("/registry/incoming").get_data(as_text=True)
    assert secret.number in listing  # the register keeps its line: no apparent gap
    assert "Dossier disciplinaire" not in listing
    csv = other.get("/registry/incoming/export.csv").get_data(as_text=True)
    assert secret.number in csv and "Dossier disciplinaire" not in csv
    owner = client_for("officer")
    assert "Dossier disciplinaire" in owner.get(f"/letters/{secret.id}").get_data(as_text=True)


def test_anonymous_visitor_is_sent_to_login(world, letter, app):
    client = app.test_client()
    for url in [*_urls(letter), "/registry/incoming", "/registry/incoming/new"]:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_document_of_another_letter_is_not_served_through_this_one(app, world, letter, client_for):
    with app.test_request_context():
        other_org_letter = register(world.other_officer, subject="Autre")
    document = other_org_letter.documents[0]
    client = client_for("officer")
    url = f"/letters/{letter.id}/documents/{document.id}/v1/original"
    assert client.get(url).status_code == 404
