# ruff: noqa: F811 - the departments fixture is imported and used as an argument
"""Search through HTTP: letters indexed by the worker from the outbox (text of their files
included), found by what they say, with filters, facets and snippets, and trimmed to what the
searcher may open — a confidential letter neither appears nor counts for others."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fpdf import FPDF
from sqlalchemy import func, select

from app.blueprints import search as search_blueprint
from app.extensions import db
from app.files.intake import ingest_upload
from app.files.store import FileStore
from app.models import SearchOutbox
from app.services import letters as letter_service
from app.services import registration, routing, search_index
from app.services.actor import Actor
from app.uploads import file_store
from app.worker import run_once
from indexing.backends import UNRESTRICTED, SearchQuery
from tests.factories import register
from tests.test_routing import departments  # noqa: F401


def _pdf_with_text(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def _close_backends() -> None:
    """Drop the search page's open backends (a setting they were opened with changed)."""
    for backend in search_blueprint._backends.values():
        backend.close()
    search_blueprint._backends.clear()


def _count(html: str) -> int:
    return int(re.search(r'data-total="(\d+)"', html).group(1))


def _found(html: str) -> set[str]:
    return set(re.findall(r'data-letter="(\d+)"', html))


def _index(app):
    report = run_once(app, check_deadlines=False)
    db.session.commit()
    return report


def test_letters_are_found_by_their_words_and_trimmed_to_what_the_user_may_open(
    app, world, departments, client_for
):
    officer = world.officer
    with app.test_request_context():
        complaint = register(officer, subject="شكاية بخصوص تأخر الإدارة")
        works = register(officer, subject="Réclamations concernant les travaux")
        secret = register(officer, subject="شكاية سرية", confidential=True)
        scan = ingest_upload(
            file_store(),
            io.BytesIO(_pdf_with_text("Attestation de travail pour Madame Idrissi")),
            "attestation.pdf",
            max_bytes=10**6,
        )
        with_text = registration.register_letter(
            db.session,
            Actor(officer),
            registration.LetterInput(
                register="incoming",
                subject="Demande",
                channel="post",
                new_correspondent=registration.NewContact(name="Salma Idrissi"),
                files=[scan],
            ),
            registration.NumberingSettings.from_config(app.config),
        )
    routing.route_letter(db.session, Actor(officer), secret, departments.daj.id)
    assert db.session.scalar(select(func.count(SearchOutbox.id))) >= 5
    assert _index(app)["letters_indexed"] == 4
    assert db.session.scalar(select(func.count(SearchOutbox.id))) == 0
    assert search_index.lag_seconds(db.session) == 0

    admin = client_for("admin")  # the register, but not confidential letters
    page = admin.get("/search?q=الشكاية").get_data(as_text=True)
    assert _found(page) == {str(complaint.id)} and _count(page) == 1
    assert "<mark>" in page
    page = admin.get("/search?q=reclamation").get_data(as_text=True)
    assert _found(page) == {str(works.id)}
    page = admin.get("/search?q=attestation").get_data(as_text=True)
    assert _found(page) == {str(with_text.id)}  # a word of the file, not of the metadata
    # Facets count only what the admin may open.
    page = admin.get("/search?q=&register=incoming").get_data(as_text=True)
    assert _count(page) == 3 and str(secret.id) not in _found(page)

    daj = client_for("head.daj")  # routed the confidential letter only
    page = daj.get("/search?q=شكاية").get_data(as_text=True)
    assert _found(page) == {str(secret.id)}
    assert (
        client_for("agent.dsi").get("/search?q=شكاية").get_data(as_text=True).count("data-letter=")
        == 0
    )

    # A registry number typed as is opens the letter; one the user may not open does not.
    response = admin.get(f"/search?q={complaint.number}")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/letters/{complaint.id}"
    )
    assert admin.get(f"/search?q={secret.number}").status_code == 200


def test_a_corrected_or_cancelled_letter_is_indexed_again(app, world, client_for):
    with app.test_request_context():
        letter = register(world.officer, subject="Demande de bourse")
    _index(app)
    admin = client_for("admin")
    assert _found(admin.get("/search?q=bourse").get_data(as_text=True)) == {str(letter.id)}
    letter_service.correct_letter(
        db.session, Actor(world.officer), letter, {"subject": "Demande de logement"}, "typo"
    )
    _index(app)
    assert _found(admin.get("/search?q=bourse").get_data(as_text=True)) == set()
    assert _found(admin.get("/search?q=logement").get_data(as_text=True)) == {str(letter.id)}
    letter_service.cancel_letter(db.session, Actor(world.officer), letter, "doublon")
    _index(app)
    page = admin.get("/search?q=logement&status=cancelled").get_data(as_text=True)
    assert _found(page) == {str(letter.id)}
    assert _found(admin.get("/search?q=logement&status=registered").get_data(as_text=True)) == set()


def test_a_new_analysis_version_makes_the_worker_rebuild_the_index(app, world, monkeypatch):
    import indexing.analysis

    with app.test_request_context():
        letter = register(world.officer, subject="Demande de bourse")
    _index(app)
    monkeypatch.setattr(
        indexing.analysis, "ANALYSIS_VERSION", indexing.analysis.ANALYSIS_VERSION + 1
    )
    settings = search_index.SearchSettings.from_config(app.config)
    backend = search_index.open_index(settings)
    assert backend.needs_rebuild()
    backend.close()
    assert _index(app)["letters_indexed"] == 1  # rebuilt from the database, no outbox row
    backend = search_index.open_index(settings)
    try:
        assert not backend.needs_rebuild()
        from indexing.backends import UNRESTRICTED, SearchQuery

        found = backend.search(SearchQuery(text="bourse", allowed=UNRESTRICTED))
        assert [hit.id for hit in found.hits] == [str(letter.id)]
    finally:
        backend.close()


def test_readiness_reports_the_index_lag(app, world, client_for):
    app.config["READY_CACHE_S"] = 0
    with app.test_request_context():
        register(world.officer, subject="Demande")
    check = app.test_client().get("/readyz").get_json()["checks"]["search_index"]
    assert check["waiting"] >= 1 and "lag_seconds" in check
    _index(app)
    check = app.test_client().get("/readyz").get_json()["checks"]["search_index"]
    assert check == {"ok": True, "waiting": 0, "lag_seconds": 0.0}


@pytest.mark.postgres
def test_the_postgresql_backend_serves_the_same_search(pg_app):
    from app.models import Role
    from app.services import organisations as orgs
    from tests.conftest import PASSWORD, login

    pg_app.config["SEARCH_BACKEND"] = "postgres"
    org = orgs.create_organisation(
        db.session, None, code="pg", name_ar="وزارة", name_fr="Ministère"
    )
    officer, _admin = (
        orgs.create_user(
            db.session,
            None,
            org,
            username=name,
            full_name=name.title(),
            password=PASSWORD,
            roles=[role],
        )
        for name, role in (("officer", Role.REGISTRY_OFFICER), ("admin", Role.ADMINISTRATOR))
    )
    with pg_app.test_request_context():
        public = register(officer, subject="الشكايات المتعلقة بالإدارة")
        register(officer, subject="شكاية سرية", confidential=True)
    assert _index(pg_app)["letters_indexed"] == 2

    def get(client, url):
        return client.get(url).get_data(as_text=True)

    client = pg_app.test_client()
    login(client, "admin")
    page = get(client, "/search?q=الشكاية")
    assert _found(page) == {str(public.id)} and _count(page) == 1
    registry = pg_app.test_client()
    response = login(registry, "officer")  # who registered both
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert _count(get(registry, "/search?q=الشكاية")) == 2

    # Past SEARCH_ESTIMATE_ABOVE expected matches the page says the count is an estimate, and
    # the estimate still leaves out what the searcher may not open.
    pg_app.config["SEARCH_ESTIMATE_ABOVE"] = 1
    _close_backends()
    with pg_app.test_request_context():
        letters = [
            register(officer, subject=f"شكاية رقم {n}", confidential=n % 2 == 1) for n in range(60)
        ]
        secret = {letter.id for letter in letters if letter.confidential}
    _index(pg_app)
    page = get(client, "/search?q=شكاية")
    estimated = re.search(r'data-total="(\d+)" data-estimated="true"', page)
    assert estimated, page[:3000]
    assert 0 < int(estimated.group(1)) <= 16 * 31  # the sample's count, scaled; never a secret one
    assert "≈" in page
    api = client.get("/search/api?q=شكاية").get_json()
    assert api["total_estimated"] is True
    assert api["hits"] and not {hit["id"] for hit in api["hits"]} & secret
    _close_backends()


def test_facets_filter_and_sort(app, world, client_for):
    with app.test_request_context():
        first = register(world.officer, subject="Demande de bourse", correspondent="Karim Alaoui")
        second = register(
            world.officer, subject="Bourse d'excellence", correspondent="Nadia Sefrioui"
        )
        register(world.officer, subject="Bourse", register="outgoing", correspondent="Karim Alaoui")
    _index(app)
    admin = client_for("admin")
    page = admin.get("/search?q=bourse&sort=date").get_data(as_text=True)
    assert _count(page) == 3
    assert "Karim Alaoui" in page and "Nadia Sefrioui" in page  # correspondent facet
    order = re.findall(r'data-letter="(\d+)"', page)
    assert order.index(str(second.id)) < order.index(str(first.id))  # newest first
    correspondent = first.correspondent_id
    page = admin.get(f"/search?q=bourse&correspondent={correspondent}&register=incoming").get_data(
        as_text=True
    )
    assert _found(page) == {str(first.id)}
    assert admin.get("/search?q=bourse&date_from=not-a-date").status_code == 422


def test_the_json_search_is_trimmed_like_the_page(app, world, departments, client_for):
    with app.test_request_context():
        public = register(world.officer, subject="شكاية عادية")
        register(world.officer, subject="شكاية سرية", confidential=True)
    _index(app)
    admin = client_for("admin")
    answer = admin.get("/search/api?q=الشكايات").get_json()
    assert answer["total"] == 1 and [hit["id"] for hit in answer["hits"]] == [public.id]
    assert answer["facets"]["register"] == {"incoming": 1}
    assert "<mark>" in next(iter(answer["hits"][0]["highlights"].values()))
    assert admin.get("/search/api?date_from=x").status_code == 422
    assert app.test_client().get("/search/api?q=x").status_code == 302  # sign in first


def test_a_rebuild_commits_in_big_steps_and_resumes_from_what_it_reported(app, world):
    with app.test_request_context():
        letters = [register(world.officer, subject=f"Demande numéro {n}") for n in range(5)]
    settings = search_index.SearchSettings.from_config(app.config)
    store = FileStore(Path(app.config["FILE_STORE"]))
    reported = []
    backend = search_index.open_index(settings)
    try:
        count = search_index.rebuild(
            db.session,
            backend,
            store,
            settings,
            batch=2,
            commit_every=3,
            progress=lambda done, total, last_id: reported.append((done, total, last_id)),
        )
        assert count == 5
        # Told only after a commit: 4 letters (two reads of 2), then the last one.
        assert reported == [(4, 5, letters[3].id), (5, 5, letters[4].id)]
        everything = SearchQuery("demande", allowed=UNRESTRICTED)
        assert backend.search(everything).total == 5
        backend.clear()
        assert (
            search_index.rebuild(db.session, backend, store, settings, after_id=letters[3].id) == 1
        )
        assert backend.search(everything).total == 1
    finally:
        backend.close()


def test_the_rebuild_and_status_commands(app, world):
    with app.test_request_context():
        register(world.officer, subject="Coupure d'eau")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "1 letters indexed." in result.output
    status = runner.invoke(args=["search", "status"])
    assert status.exit_code == 0 and "needs_rebuild" in status.output
