"""PostgreSQL past `estimate_above` matches: counts from a sample, pages newest first and exact."""

from __future__ import annotations

import os
import secrets
from datetime import date, timedelta

import psycopg
import pytest
from psycopg import sql

from indexing.backends import UNRESTRICTED, Document, Layout, SearchQuery, open_backend
from indexing.backends.postgres_backend import SAMPLE_BUCKETS, sample_bucket

LAYOUT = Layout(
    text_fields=("subject", "body"),
    keyword_fields=("register",),
    multi_fields=("department_ids",),
    date_fields=("registered_at",),
    sort_date="registered_at",
)
LETTERS = 3200  # a 1/16 sample of ~200: a 25% error would be 3.5 standard deviations
SECRET = "user:9"


def corpus() -> list[Document]:
    """Every letter says "courrier"; every 40th "urgent"; the odd ones are confidential and
    only they belong to department 99."""
    documents = []
    for n in range(LETTERS):
        confidential = n % 2 == 1
        words = "courrier urgent" if n % 40 == 0 else "courrier"
        documents.append(
            Document(
                f"L{n:05d}",
                {"subject": f"{words} numéro {n}", "body": "texte"},
                {
                    "register": "incoming" if n % 3 else "outgoing",
                    "department_ids": [99] if confidential else [n % 5],
                    # Two letters a day, so the newest-first order has ties to break by id.
                    "registered_at": date(2025, 1, 1) + timedelta(days=n // 2),
                },
                frozenset({SECRET} if confidential else {"register:1", f"member:{n % 5}"}),
            )
        )
    return documents


@pytest.fixture(scope="module")
def backend():
    url = os.environ.get("DIWAN_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL backend: set DIWAN_TEST_DATABASE_URL to run these tests")
    engine = open_backend(
        "postgres",
        LAYOUT,
        database_url=url,
        table=f"test_estimates_{secrets.token_hex(4)}",
        estimate_above=300,
    )
    engine.index(corpus())
    engine.commit()
    # The planner's statistics, as autovacuum keeps them: a search it expects to be small
    # skips the sampled count.
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(engine._table_name)))
    yield engine
    engine.drop()
    engine.close()


def newest_first(documents: list[Document]) -> list[str]:
    ordered = sorted(documents, key=lambda d: d.id)
    ordered.sort(key=lambda d: d.filters["registered_at"], reverse=True)
    return [d.id for d in ordered]


def every_page(backend, text, allowed, **options) -> list[str]:
    found, page = [], 1
    while True:
        results = backend.search(
            SearchQuery(text, allowed=allowed, page=page, page_size=50, **options)
        )
        assert results.estimated
        if not results.hits:
            return found
        found += [hit.id for hit in results.hits]
        page += 1


def test_sample_buckets_are_spread_evenly():
    counts = [0] * SAMPLE_BUCKETS
    for n in range(64_000):
        counts[sample_bucket(f"L{n}")] += 1
    assert min(counts) > 850 and max(counts) < 1150


def test_a_common_word_is_estimated_and_its_pages_are_every_match_newest_first(backend):
    results = backend.search(SearchQuery("courrier", UNRESTRICTED, facets=("register",)))
    assert results.estimated
    assert abs(results.total - LETTERS) <= LETTERS * 0.25
    assert set(results.facets["register"]) == {"incoming", "outgoing"}
    assert sum(results.facets["register"].values()) == results.total
    # Estimated counts, but the list itself is exact: every letter once, newest first, even
    # when relevance was asked for; deep pages read past the sampled cutoff.
    expected = newest_first(corpus())
    assert every_page(backend, "courrier", UNRESTRICTED) == expected
    assert every_page(backend, "courrier", UNRESTRICTED, sort="relevance") == expected
    assert results.hits[0].highlights  # snippets as for an exact search


def test_confidential_letters_neither_appear_nor_count_in_an_estimate(backend):
    allowed = frozenset({"register:1"})
    results = backend.search(SearchQuery("courrier", allowed, facets=("department_ids",)))
    visible = [d for d in corpus() if "register:1" in d.visibility]
    assert results.estimated
    assert abs(results.total - len(visible)) <= len(visible) * 0.25
    assert "99" not in results.facets["department_ids"]
    assert every_page(backend, "courrier", allowed) == newest_first(visible)


def test_below_the_threshold_counts_are_exact_and_ranked(backend):
    results = backend.search(SearchQuery("urgent", UNRESTRICTED, facets=("register",)))
    assert not results.estimated
    assert results.total == LETTERS // 40
    assert sum(results.facets["register"].values()) == LETTERS // 40
    # A searcher who sees few of a common word's letters gets exact counts too.
    few = backend.search(SearchQuery("courrier", frozenset({"member:3"})))
    assert not few.estimated
    assert few.total == sum(1 for n in range(LETTERS) if n % 2 == 0 and n % 5 == 3)


def test_filters_apply_to_the_estimate_and_to_the_pages(backend):
    allowed = frozenset({"register:1", SECRET})
    results = backend.search(
        SearchQuery("courrier", allowed, filters={"register": ["incoming"]}, facets=("register",))
    )
    incoming = [d for d in corpus() if d.filters["register"] == "incoming"]
    assert results.estimated
    assert set(results.facets["register"]) == {"incoming"}
    assert every_page(
        backend, "courrier", allowed, filters={"register": ["incoming"]}
    ) == newest_first(incoming)
