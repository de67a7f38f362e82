"""Both search backends pass the same tests (PostgreSQL when DIWAN_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import secrets
from datetime import date

import pytest

from indexing import analysis
from indexing.backends import (
    UNRESTRICTED,
    DateRange,
    Document,
    Layout,
    SearchQuery,
    open_backend,
)
from indexing.backends.postgres_backend import MAX_VECTOR_BYTES, tsvector_literal
from indexing.query import Phrase, Term, parse

LAYOUT = Layout(
    text_fields=("reference", "subject", "body"),
    keyword_fields=("register", "direction"),
    multi_fields=("department_ids",),
    date_fields=("registered_at",),
    sort_date="registered_at",
)
PUBLIC = frozenset({"register:1"})


def letter(id_, subject, body="", *, reference="", keys=PUBLIC, **filters) -> Document:
    filters.setdefault("register", "incoming")
    filters.setdefault("direction", "incoming")
    filters.setdefault("registered_at", date(2026, 1, int(id_[1:]) % 28 + 1))
    fields = {"reference": reference, "subject": subject, "body": body}
    return Document(id_, fields, filters, frozenset(keys))


CORPUS = [
    letter(
        "L1",
        "شكاية حول تأخر تَعْوِيض مصاريف العلاج",
        "أودعت الملف بالوزارة",
        reference="2026/A/000123",
    ),
    letter(
        "L2", "Demande d'attestation de travail", "Merci de me délivrer une attestation de travail."
    ),
    letter("L3", "Attestation médicale", "Les lieux de travail sont fermés.", direction="outgoing"),
    letter("L4", "الإدارة الرقمية", "تعميم الرقمنة على الادارات", department_ids=[3, 4]),
    letter("L5", "Référence", "Votre courrier réf. 2026/145 du 3 mars", department_ids=[4]),
    letter("L6", "Référence voisine", "Votre courrier réf. 2026/1450", register="outgoing"),
    letter("L7", "شكاية سرية", "شكاية ضد رئيس المصلحة", keys={"user:9"}, department_ids=[3]),
    letter("L8", "Invoice for services", "Please find the invoice attached.", direction="internal"),
]


@pytest.fixture(params=["whoosh", "postgres"])
def backend(request, tmp_path):
    if request.param == "whoosh":
        engine = open_backend("whoosh", LAYOUT, path=tmp_path / "index")
        yield engine
        engine.close()
        return
    url = os.environ.get("DIWAN_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL backend: set DIWAN_TEST_DATABASE_URL to run these tests")
    table = f"test_search_{secrets.token_hex(4)}"
    engine = open_backend("postgres", LAYOUT, database_url=url, table=table)
    yield engine
    engine.drop()
    engine.close()


@pytest.fixture
def indexed(backend):
    backend.index(CORPUS)
    backend.commit()
    return backend


def ids(backend, text, allowed=UNRESTRICTED, **options) -> list[str]:
    return [hit.id for hit in backend.search(SearchQuery(text, allowed=allowed, **options)).hits]


def test_documents_are_searchable_after_commit_replaced_by_id_and_deleted(backend):
    backend.index([letter("L1", "Coupure d'eau au quartier")])
    assert ids(backend, "coupure") == []  # not committed yet
    backend.commit()
    assert ids(backend, "coupure") == ["L1"]
    backend.index([letter("L1", "Fuite de gaz")])
    backend.commit()
    assert ids(backend, "coupure") == []
    assert ids(backend, "fuite") == ["L1"]
    backend.delete(["L1"])
    backend.commit()
    assert ids(backend, "fuite") == []
    assert backend.search(SearchQuery("", allowed=UNRESTRICTED)).total == 0


def test_arabic_forms_match_and_words_must_all_be_present(indexed):
    assert ids(indexed, "وزارة") == ["L1"]  # بالوزارة in the text
    assert ids(indexed, "تعويض") == ["L1"]  # typed with harakat in the text
    assert sorted(ids(indexed, "ادارة")) == ["L4"]
    assert ids(indexed, "تعويض زلزال") == []


def test_phrase_needs_the_words_in_order_and_allows_for_a_stop_word(indexed):
    assert ids(indexed, '"attestation de travail"') == ["L2"]
    assert sorted(ids(indexed, "attestation travail")) == ["L2", "L3"]
    assert ids(indexed, '"travail de attestation"') == []


def test_prefix_query(indexed):
    assert ids(indexed, "الإدا*") == ["L4"]
    assert sorted(ids(indexed, "attest*")) == ["L2", "L3"]
    assert ids(indexed, "zzz*") == []


def test_reference_numbers_are_found_as_typed_and_only_exactly(indexed):
    assert ids(indexed, "2026/A/000123") == ["L1"]
    assert ids(indexed, "2026/145") == ["L5"]
    assert ids(indexed, "2026/1450") == ["L6"]
    assert ids(indexed, "2024/777") == []


def test_filters_on_keywords_lists_and_dates(indexed):
    assert ids(indexed, "attestation", filters={"direction": "outgoing"}) == ["L3"]
    assert sorted(ids(indexed, "", filters={"department_ids": [4]})) == ["L4", "L5"]
    assert ids(indexed, "", filters={"register": ["outgoing"]}) == ["L6"]
    january = DateRange(date(2026, 1, 3), date(2026, 1, 4))
    assert sorted(ids(indexed, "", date_ranges={"registered_at": january})) == ["L2", "L3"]
    assert ids(indexed, "invoice", date_ranges={"registered_at": january}) == []


def test_sort_by_date_newest_first_and_paging(indexed):
    newest_first = ids(indexed, "", allowed=PUBLIC, page_size=50)
    assert newest_first == ["L8", "L6", "L5", "L4", "L3", "L2", "L1"]
    assert ids(indexed, "attestation", sort="date") == ["L3", "L2"]
    second = indexed.search(SearchQuery("", allowed=PUBLIC, page=2, page_size=3))
    assert second.total == 7
    assert [hit.id for hit in second.hits] == ["L4", "L3", "L2"]


def test_relevance_ranks_the_closer_match_first(indexed):
    results = indexed.search(SearchQuery("attestation travail", allowed=UNRESTRICTED))
    assert results.hits[0].id == "L2"
    assert results.hits[0].score >= results.hits[1].score > 0


def test_a_confidential_letter_neither_appears_nor_counts_without_its_key(indexed):
    facets = ("department_ids", "direction")
    outsider = indexed.search(SearchQuery("شكاية", allowed=PUBLIC, facets=facets))
    assert [hit.id for hit in outsider.hits] == ["L1"]
    assert outsider.total == 1
    assert outsider.facets == {"department_ids": {}, "direction": {"incoming": 1}}
    author = indexed.search(SearchQuery("شكاية", allowed=PUBLIC | {"user:9"}, facets=facets))
    assert sorted(hit.id for hit in author.hits) == ["L1", "L7"]
    assert author.facets == {"department_ids": {"3": 1}, "direction": {"incoming": 2}}
    everything = indexed.search(SearchQuery("", allowed=PUBLIC, facets=("department_ids",)))
    assert everything.facets == {"department_ids": {"4": 2, "3": 1}}


def test_keys_that_open_nothing_find_nothing(indexed):
    for allowed in (frozenset(), frozenset({"user:404"})):
        results = indexed.search(SearchQuery("", allowed=allowed, facets=("direction",)))
        assert (results.total, results.hits, results.facets) == (0, [], {"direction": {}})


def test_highlights_mark_the_original_diacritised_text(indexed):
    [hit] = indexed.search(SearchQuery("تعويض", allowed=UNRESTRICTED)).hits
    assert hit.highlights == {"subject": "شكاية حول تأخر <mark>تَعْوِيض</mark> مصاريف العلاج"}
    [hit] = indexed.search(
        SearchQuery("reference", allowed=PUBLIC, filters={"register": "outgoing"})
    ).hits
    assert hit.highlights == {"subject": "<mark>Référence</mark> voisine"}


def test_highlights_escape_html_and_cut_long_texts(backend):
    body = "<b>début</b> " + "mot " * 200 + "facture finale " + "fin " * 200
    backend.index([letter("L1", "x", body)])
    backend.commit()
    [hit] = backend.search(SearchQuery("facture", allowed=UNRESTRICTED)).hits
    snippet = hit.highlights["body"]
    assert "<mark>facture</mark> finale" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<b>" not in snippet and len(snippet) < 400


def test_queries_of_stop_words_or_punctuation_find_nothing(indexed):
    for text in ("de", "...", '""', "*"):
        assert indexed.search(SearchQuery(text, allowed=UNRESTRICTED)).total == 0, text


def test_needs_rebuild_when_the_analysis_version_changes(backend, monkeypatch):
    assert backend.stored_analysis_version() == analysis.ANALYSIS_VERSION
    assert not backend.needs_rebuild()
    monkeypatch.setattr(analysis, "ANALYSIS_VERSION", analysis.ANALYSIS_VERSION + 1)
    assert backend.needs_rebuild()
    backend.index([letter("L1", "Coupure")])
    backend.clear()
    assert not backend.needs_rebuild()
    assert backend.stored_analysis_version() == analysis.ANALYSIS_VERSION
    assert backend.search(SearchQuery("", allowed=UNRESTRICTED)).total == 0


def test_a_whoosh_index_of_an_older_schema_needs_rebuilding(tmp_path):
    import json

    from indexing.backends import whoosh_backend

    engine = open_backend("whoosh", LAYOUT, path=tmp_path / "index")
    assert not engine.needs_rebuild()
    meta_file = tmp_path / "index" / whoosh_backend.META_FILE
    meta = json.loads(meta_file.read_text())
    del meta["schema"]  # as written before the "words" field existed
    meta_file.write_text(json.dumps(meta))
    assert engine.needs_rebuild()
    engine.clear()
    assert not engine.needs_rebuild()
    engine.close()


def test_bad_documents_and_queries_are_refused(backend):
    with pytest.raises(ValueError, match="not a text field"):
        backend.index([Document("L1", {"sujet": "typo"})])
    with pytest.raises(ValueError, match="not a filter field"):
        backend.index([Document("L1", {"subject": "x"}, {"statut": "open"})])
    with pytest.raises(ValueError, match="date"):
        backend.index([Document("L1", {"subject": "x"}, {"registered_at": "2026-01-01"})])
    with pytest.raises(ValueError, match="allowed"):
        backend.search(SearchQuery("x", allowed={"register:1"}))  # a mutable set is refused
    with pytest.raises(ValueError, match="page"):
        backend.search(SearchQuery("x", allowed=UNRESTRICTED, page_size=0))
    with pytest.raises(ValueError, match="cannot be faceted"):
        backend.search(SearchQuery("x", allowed=UNRESTRICTED, facets=("body",)))


def test_whoosh_has_one_writer_and_merging_keeps_every_document(tmp_path):
    from whoosh.index import LockError

    first = open_backend("whoosh", LAYOUT, path=tmp_path / "index")
    second = open_backend("whoosh", LAYOUT, path=tmp_path / "index")
    for document in CORPUS:  # one commit, one segment each
        first.index([document])
        first.commit()
    first.index([letter("L9", "en cours")])
    holder = first._ix.writer()  # a commit under way
    second.index([letter("L10", "second writer")])
    with pytest.raises(LockError):
        second.commit()
    holder.cancel()
    first.commit()
    first.merge()
    first.optimize()
    assert second.search(SearchQuery("", allowed=UNRESTRICTED)).total == 9
    assert first.segment_count() == 1
    second.commit()  # what the refused commit held was kept, not lost
    assert first.search(SearchQuery("", allowed=UNRESTRICTED)).total == 10
    first.close()
    second.close()


def test_whoosh_commits_keep_the_segment_count_bounded(tmp_path):
    from indexing.backends.whoosh_backend import MERGE_FACTOR

    def segments() -> int:
        return engine.segment_count()

    engine = open_backend("whoosh", LAYOUT, path=tmp_path / "index")
    for n in range(3 * MERGE_FACTOR):
        engine.index([letter(f"L{n}", f"courrier numéro {n}")])
        engine.commit()
        assert segments() <= MERGE_FACTOR
    engine.delete(["L3"])
    engine.merge()
    assert segments() == 1
    assert engine.search(SearchQuery("courrier", allowed=UNRESTRICTED)).total == 29
    engine.close()


def test_whoosh_notices_another_processes_commits(tmp_path):
    writer = open_backend("whoosh", LAYOUT, path=tmp_path / "index")
    reader = open_backend("whoosh", LAYOUT, path=tmp_path / "index")
    writer.index(CORPUS)
    writer.commit()
    assert ids(reader, "invoice") == ["L8"]
    writer.delete(["L8"])
    writer.commit()
    assert ids(reader, "invoice") == []
    writer.close()
    reader.close()


def test_a_mixed_language_query_is_one_request_in_two_languages():
    parsed = parse('شهادة العمل "attestation de travail" 2026/145')
    arabic, latin = parsed.alternatives
    assert {type(clause).__name__ for clause in arabic} == {"Term"}
    assert len(arabic) == 3 and len(latin) == 2  # the reference number is required in both
    assert arabic[-1] == latin[-1] == Term("2026/145")
    assert isinstance(latin[0], Phrase) and latin[0].terms[0] == "attestation"


def test_query_parsing_edge_cases():
    assert parse("\"coupure d'eau").alternatives == parse('"coupure d\'eau"').alternatives
    assert parse("a* x*").is_empty  # one-letter prefixes would expand to everything
    assert parse("facture facture").alternatives == parse("facture").alternatives


def test_long_documents_fit_postgres_limits():
    words = " ".join(f"mot{number}" for number in range(40_000))
    literal = tsvector_literal({"body": words + " facture"}, ("subject", "body"))
    assert "'facture':16383" in literal  # beyond PostgreSQL's last position, still found
    huge = " ".join(f"{number:x}zz" * 20 for number in range(20_000))
    assert len(tsvector_literal({"body": huge}, ("body",)).encode()) <= MAX_VECTOR_BYTES


def test_long_documents_are_indexed_and_found(backend):
    words = " ".join(f"mot{number}" for number in range(20_000))
    backend.index([letter("L1", "long", words + " facture finale")])
    backend.commit()
    assert ids(backend, "facture") == ["L1"]
    assert ids(backend, "mot19999") == ["L1"]


def test_totals_and_facets_stay_exact_across_commits_replacements_deletions_and_merges(backend):
    """300 letters in three commits (several postings blocks per word), then replacements and
    deletions: totals, facets, visibility and date sorting equal a count done by hand."""
    registers = ("incoming", "outgoing", "internal")
    expected: dict[str, Document] = {}

    def make(n: int, register: str) -> Document:
        words = "urgent" if n % 3 == 0 else "routine"
        keys = {"register:1"} if n % 5 else {"user:9"}
        return letter(
            f"L{n}",
            f"Demande {words}",
            "corps",
            keys=keys,
            register=register,
            department_ids=[n % 4, 7] if n % 2 else [n % 4],
            registered_at=date(2025, 1, 1) + (date(2025, 1, 2) - date(2025, 1, 1)) * (n % 200),
        )

    for first in (0, 100, 200):
        batch = [make(n, registers[n % 3]) for n in range(first, first + 100)]
        backend.index(batch)
        backend.commit()
        expected.update((document.id, document) for document in batch)
    replaced = [make(n, "internal") for n in range(0, 60, 7)]
    backend.index(replaced)
    expected.update((document.id, document) for document in replaced)
    gone = [f"L{n}" for n in range(1, 300, 11)]
    backend.delete(gone)
    for document_id in gone:
        expected.pop(document_id)
    backend.commit()

    def check() -> None:
        for text, allowed in (("urgent", PUBLIC), ("demande", PUBLIC), ("", UNRESTRICTED)):
            wanted = [
                document
                for document in expected.values()
                if (not text or text in document.fields["subject"].lower())
                and (allowed is UNRESTRICTED or document.visibility & allowed)
            ]
            query = SearchQuery(
                text,
                allowed=allowed,
                facets=("register", "department_ids"),
                sort="date",
                page_size=5,
            )
            results = backend.search(query)
            assert results.total == len(wanted)
            by_register: dict[str, int] = {}
            by_department: dict[str, int] = {}
            for document in wanted:
                register = document.filters["register"]
                by_register[register] = by_register.get(register, 0) + 1
                for department in document.filters["department_ids"]:
                    by_department[str(department)] = by_department.get(str(department), 0) + 1
            assert results.facets["register"] == by_register
            assert results.facets["department_ids"] == by_department
            newest = max(document.filters["registered_at"] for document in wanted)
            first = expected[results.hits[0].id]
            assert first.filters["registered_at"] == newest

    check()
    if hasattr(backend, "merge"):
        backend.merge()
        check()
        backend.optimize()
    check()


def test_a_late_match_in_a_long_text_is_highlighted_with_its_neighbours():
    """The text is analysed in pieces until the snippet is covered: matches on both sides of a
    piece boundary, thousands of characters in, are all marked."""
    filler = "كلمة عادية " * 400  # 4,400 characters without a match
    text = filler + "طلب التَّعويض " + "x" * 3 + " " + "تعويضات مستحقة " + filler
    snippet = parse("تعويض").highlight(text)
    assert snippet.count("<mark>") == 2
    assert "<mark>التَّعويض</mark>" in snippet and "<mark>تعويضات</mark>" in snippet
    boundary = "a " * 90 + "attestation " + "b " * 10 + "attestations"
    assert parse("attestation").highlight(boundary).count("<mark>") == 2
    assert parse("absent").highlight(filler) is None


def test_paging_relevance_results_is_consistent_with_visibility_and_facets(backend, monkeypatch):
    from indexing.backends import postgres_backend

    monkeypatch.setattr(postgres_backend, "RERANK_WINDOW", 3)  # most hits past the window
    documents = [
        letter(
            f"L{n}",
            "Facture" if n % 4 == 0 else f"Courrier {n}",
            "facture " * (n % 3 + 1) + ("confidentiel" if n % 5 == 0 else ""),
            keys={"user:9"} if n % 5 == 0 else PUBLIC,
            register="outgoing" if n % 2 else "incoming",
            department_ids=[n % 3 + 1],
        )
        for n in range(1, 31)
    ]
    backend.index(documents)
    backend.commit()
    facets = ("register", "department_ids")
    whole = backend.search(SearchQuery("facture", allowed=PUBLIC, page_size=100, facets=facets))
    visible = [d for d in documents if d.visibility == PUBLIC]
    assert whole.total == len(whole.hits) == len(visible) == 24
    assert sorted(hit.id for hit in whole.hits) == sorted(d.id for d in visible)
    registers = {"incoming": 0, "outgoing": 0}
    departments: dict[str, int] = {}
    for d in visible:
        registers[d.filters["register"]] += 1
        key = str(d.filters["department_ids"][0])
        departments[key] = departments.get(key, 0) + 1
    assert whole.facets["register"] == dict(sorted(registers.items(), key=lambda i: (-i[1], i[0])))
    assert list(whole.facets["department_ids"].items()) == sorted(
        departments.items(), key=lambda i: (-i[1], i[0])
    )
    paged = []
    for page in range(1, 6):
        results = backend.search(SearchQuery("facture", allowed=PUBLIC, page=page, page_size=5))
        assert results.total == 24
        paged += [hit.id for hit in results.hits]
    assert paged == [hit.id for hit in whole.hits]  # same order, each hit once
    again = backend.search(SearchQuery("facture", allowed=PUBLIC, page_size=100, facets=facets))
    assert again == whole  # deterministic


def test_a_match_in_the_subject_ranks_first(backend, monkeypatch):
    from indexing.backends import postgres_backend, whoosh_ranking

    monkeypatch.setattr(postgres_backend, "RERANK_WINDOW", 2)
    monkeypatch.setattr(whoosh_ranking, "CANDIDATES", 2)
    body_only = [
        letter(f"L{n}", "Courrier", "relance " * 5, registered_at=date(2026, 3, n))
        for n in range(1, 9)
    ]
    subject = letter("L20", "Relance du dossier", "texte", registered_at=date(2025, 1, 1))
    backend.index([*body_only, subject])
    backend.commit()
    results = backend.search(SearchQuery("relance", allowed=UNRESTRICTED))
    assert results.hits[0].id == "L20"
    assert results.total == 9
    if isinstance(backend, postgres_backend.PostgresBackend):
        assert [hit.id for hit in results.hits][1:3] == ["L8", "L7"]  # then the newest
        assert not backend.needs_rebuild()
        monkeypatch.setattr(postgres_backend, "SCHEMA_VERSION", postgres_backend.SCHEMA_VERSION + 1)
        assert backend.needs_rebuild()
