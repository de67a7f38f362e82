"""Full-text search speed (issue 5): bulk build, query latency, registration to searchable.

For each backend (Whoosh, PostgreSQL) the script indexes N synthetic letters (cached, from
bench/search_corpus.py) with `indexing.backends` directly, as the worker would: `Document`s like
`app.services.search_index.letter_document` (LETTER_LAYOUT fields, filters, 2-4 visibility
keys), committed every --batch letters. It reports letters/s and the size on disk (Whoosh:
the directory; PostgreSQL: pg_total_relation_size of the table), then p50/p95 of:

  one_word, two_word   words drawn from the letters (and the judged single-word queries)
  phrase               2-3 consecutive words, quoted
  prefix               the first 4 letters of a word, then *
  filtered_sorted      one word + a register filter + a 90-day date range + sort by date, with
                       a non-admin's visibility keys (an agent or a head of one department)
  judged               every query of the shared queries.jsonl

each as the search page asks (facets register/status/department_ids/letter_type, page_size 20),
and again without facets ("bare"). Whoosh is measured with its many small segments right after
the build and after `merge()`; PostgreSQL right after the build and after VACUUM (ANALYZE).

References, in the same run, fed the same analysed terms (space-joined per field): SQLite FTS5
(tokenchars keep references whole) and tantivy (whitespace tokenizer). They return the count and
the 20 best ids, without facets or highlights, so the ratio is given for the bare figures.

Registration to searchable: an app on the N-letter index (SQLite app + the Whoosh directory;
the PostgreSQL app's own database for PostgreSQL), a letter with a one-page text PDF registered
through `registration.register_letter`, then `app.worker.run_once` rounds and a search by a
long-lived backend (like the search page's) until the letter is found. In production the job
queue's delivery comes on top: at most QUEUE_POLL_MAX_S (1 s) on the SQLite queue, at once on
Redis; it is reported beside.

    .venv/bin/python bench/search.py [--letters 100000] [--backend whoosh|postgres|both]
        [--queries 200] [--batch 500] [--probes 20] [--seed 1] [--no-references]
        [--regenerate] [--keep-pg]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
import search_corpus as corpus_module

from indexing import query as parsing
from indexing.backends import (
    LETTER_LAYOUT,
    UNRESTRICTED,
    DateRange,
    Document,
    SearchQuery,
    open_backend,
)

QUERIES = Path("/work/shared/testdata/letters/queries.jsonl")
FACETS = ("register", "status", "department_ids", "letter_type")  # app/blueprints/search.py
PAGE_SIZE = 20
CLASSES = ("one_word", "two_word", "phrase", "prefix", "filtered_sorted", "judged")
TARGETS_MS = {"one_word": 100, "two_word": 100, "filtered_sorted": 50}
SEARCHABLE_TARGET_S = 2.0
_WORD = re.compile(r"[^\W\d_]{4,}")
log = common.log


# --- corpus to documents -------------------------------------------------------------------------


def document(letter: dict) -> Document:
    filters = dict(letter["filters"])
    for name in LETTER_LAYOUT.date_fields:
        filters[name] = date.fromisoformat(filters[name])
    return Document(
        id=letter["id"],
        fields=letter["fields"],
        filters=filters,
        visibility=frozenset(letter["visibility"]),
    )


# --- queries -------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def make_queries(corpus: list[dict], count: int, seed: int) -> dict[str, list[dict]]:
    """Query text (and for filtered_sorted: filters, range, keys) per class, deterministic."""
    rng = random.Random(seed + 7)
    judged = [json.loads(line) for line in QUERIES.open(encoding="utf-8") if line.strip()]
    judged_single = [
        q["query"] for q in judged if len(q["query"].split()) == 1 and '"' not in q["query"]
    ]
    queries: dict[str, list[dict]] = {name: [] for name in CLASSES}

    def body_words() -> list[str]:
        while True:
            letter = rng.choice(corpus)
            words = _words(letter["fields"]["subject"] + " " + letter["fields"]["body"])
            if len(words) >= 4:
                return words

    while len(queries["one_word"]) < count:
        word = rng.choice(judged_single) if rng.random() < 0.3 else rng.choice(body_words())
        queries["one_word"].append({"text": word})
    while len(queries["two_word"]) < count:
        words = body_words()
        queries["two_word"].append({"text": " ".join(rng.sample(words, 2))})
    while len(queries["phrase"]) < count:
        words = body_words()
        size = rng.choice((2, 3))
        start = rng.randrange(len(words) - size)
        queries["phrase"].append({"text": '"' + " ".join(words[start : start + size]) + '"'})
    while len(queries["prefix"]) < count:
        words = [w for w in body_words() if len(w) >= 6]
        if words:
            queries["prefix"].append({"text": rng.choice(words)[:4] + "*"})
    while len(queries["filtered_sorted"]) < count:
        department = rng.randint(1, corpus_module.DEPARTMENTS)
        user = rng.choice(corpus_module.AGENTS)
        keys = {f"user:{user}", f"member:{department}"}
        keys.add(f"agent:{department}:{user}" if rng.random() < 0.7 else f"head:{department}")
        start = corpus_module.SPAN_START + timedelta(days=rng.randrange(corpus_module.SPAN_DAYS))
        queries["filtered_sorted"].append(
            {
                "text": rng.choice(body_words()),
                "register": rng.choice(("incoming", "incoming", "outgoing", "internal")),
                "start": start.isoformat(),
                "end": (start + timedelta(days=90)).isoformat(),
                "keys": sorted(keys),
            }
        )
    queries["judged"] = [{"text": q["query"]} for q in judged]
    return queries


def search_query(spec: dict, facets: tuple[str, ...]) -> SearchQuery:

    if "keys" not in spec:
        return SearchQuery(spec["text"], UNRESTRICTED, page_size=PAGE_SIZE, facets=facets)
    return SearchQuery(
        spec["text"],
        frozenset(spec["keys"]),
        filters={"register": [spec["register"]]},
        date_ranges={
            "registered_at": DateRange(
                date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"])
            )
        },
        sort="date",
        page_size=PAGE_SIZE,
        facets=facets,
    )


def time_class(run: Callable[[dict], int], specs: list[dict]) -> dict[str, Any]:
    """One unmeasured warm-up, then every query once; p50/p95 and how many found something."""
    run(specs[0])
    durations, found, totals = [], 0, 0
    for spec in specs:
        started = time.perf_counter()
        total = run(spec)
        durations.append(time.perf_counter() - started)
        found += total > 0
        totals += total
    figures = common.summary(durations)
    figures["found_share"] = round(found / len(specs), 3)
    figures["mean_total"] = round(totals / len(specs), 1)
    return figures


def time_all(run: Callable[[dict], int], queries: dict[str, list[dict]], share: float = 1.0):
    return {
        name: time_class(run, specs[: max(2, int(len(specs) * share))])
        for name, specs in queries.items()
    }


def backend_runner(backend, facets: tuple[str, ...]) -> Callable[[dict], int]:
    return lambda spec: backend.search(search_query(spec, facets)).total


def profile(run: Callable[[dict], int], specs: list[dict], wanted: tuple[str, ...]) -> dict:
    """Cumulative seconds per call of the functions in `wanted`, over `specs`, and the top 12."""
    profiler = cProfile.Profile()
    profiler.enable()
    for spec in specs:
        run(spec)
    profiler.disable()
    stats = pstats.Stats(profiler)
    per_query: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
        label = f"{Path(filename).name}:{function}"
        if function in wanted or label in wanted:
            per_query[label] = per_query.get(label, 0) + cumulative * 1000 / len(specs)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(14)
    top = [line for line in text.getvalue().splitlines() if re.match(r"\s+\d", line)]
    return {
        "ms_per_query": {k: round(v, 2) for k, v in sorted(per_query.items())},
        "top_cumulative": top,
    }


# --- building ------------------------------------------------------------------------------------


def bulk_build(backend, corpus: list[dict], batch: int) -> dict[str, Any]:
    started = time.perf_counter()
    for first in range(0, len(corpus), batch):
        backend.index(document(letter) for letter in corpus[first : first + batch])
        backend.commit()
        if (first // batch) % 40 == 39:
            rate = (first + batch) / (time.perf_counter() - started)
            log(f"  indexed {first + batch:,} letters ({rate:.0f}/s)")
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "letters_per_s": round(len(corpus) / seconds, 1)}


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


WHOOSH_WANTED = (
    "search",
    "_matching",
    "_kept",
    "counts",
    "rank",
    "docs_for_query",
    "_highlights",
    "highlight",
    "parse",
    "view",
)
PG_WANTED = ("search", "_full_ranks", "_originals", "_highlights", "execute", "fetchall", "parse")


def run_whoosh(corpus, queries, args, work: Path) -> dict[str, Any]:
    path = work / "whoosh"
    backend = open_backend("whoosh", LETTER_LAYOUT, path=path)
    backend.clear()  # as a rebuild starts: the letters are then known to be new
    log(f"Whoosh: indexing {len(corpus):,} letters in batches of {args.batch}")
    result: dict[str, Any] = {"build": bulk_build(backend, corpus, args.batch)}
    result["build"]["segments"] = backend.segment_count()
    result["build"]["size_mb"] = round(dir_size(path) / 1e6, 1)
    log(f"  {result['build']}")
    share = args.before_merge_share
    result["before_merge"] = {"page": time_all(backend_runner(backend, FACETS), queries, share)}
    log(f"  before merge: {_brief(result['before_merge']['page'])}")
    started = time.perf_counter()
    backend.merge()  # what the worker's periodic round does (optimize() took 17 min here)
    result["merge_s"] = round(time.perf_counter() - started, 1)
    result["merged_segments"] = backend.segment_count()
    result["merged_size_mb"] = round(dir_size(path) / 1e6, 1)
    backend._drop_searcher()
    started = time.perf_counter()
    backend.search(SearchQuery(queries["one_word"][0]["text"], UNRESTRICTED, facets=FACETS))
    result["first_search_after_merge_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["page"] = time_all(backend_runner(backend, FACETS), queries)
    result["bare"] = time_all(backend_runner(backend, ()), queries)
    log(f"  merged ({result['merge_s']} s): {_brief(result['page'])}")
    log(f"  without facets: {_brief(result['bare'])}")
    slowest = max(
        ("one_word", "two_word", "filtered_sorted"), key=lambda c: result["page"][c]["p95_ms"]
    )
    result["profile"] = {
        name: profile(backend_runner(backend, FACETS), queries[name][:40], WHOOSH_WANTED)
        for name in dict.fromkeys((slowest, "filtered_sorted", "one_word"))
    }
    # The first search with a new searcher: the segments' values are kept (whoosh_columns), so it
    # pays only for laying them end to end.
    backend._drop_searcher()
    keys = frozenset({"user:11", "member:1", "agent:1:11"})  # an agent, as in the probes
    started = time.perf_counter()
    backend.search(SearchQuery(queries["one_word"][0]["text"], keys, facets=FACETS))
    result["first_search_after_refresh_ms"] = round((time.perf_counter() - started) * 1000, 1)
    backend.close()
    if not args.skip_probes:
        result["searchable"] = probe_whoosh(path, args)
    return result


def run_postgres(corpus, queries, args) -> dict[str, Any]:
    import psycopg

    with (
        common.postgres_database("search", keep=args.keep_pg) as name,
        common.temp_instance("diwan-bench-search-pg-") as instance,
    ):
        app = common.make_app(
            instance, DATABASE_URL=f"{common.pg_base_url()}/{name}", SEARCH_BACKEND="postgres"
        )
        common.migrate(app)
        url = common.pg_dsn(name)
        backend = open_backend("postgres", LETTER_LAYOUT, database_url=url, table="search_letters")
        log(f"PostgreSQL: indexing {len(corpus):,} letters in batches of {args.batch}")
        result: dict[str, Any] = {"build": bulk_build(backend, corpus, args.batch)}
        with psycopg.connect(url, autocommit=True) as conn:
            result["build"]["size_mb"] = _pg_sizes(conn)
            log(f"  {result['build']}")
            share = args.before_merge_share
            result["before_analyze"] = {
                "page": time_all(backend_runner(backend, FACETS), queries, share)
            }
            log(f"  before VACUUM ANALYZE: {_brief(result['before_analyze']['page'])}")
            started = time.perf_counter()
            conn.execute("VACUUM (ANALYZE) search_letters")
            result["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
            result["analyzed_size_mb"] = _pg_sizes(conn)
        result["page"] = time_all(backend_runner(backend, FACETS), queries)
        result["bare"] = time_all(backend_runner(backend, ()), queries)
        log(f"  after VACUUM ANALYZE: {_brief(result['page'])}")
        log(f"  without facets: {_brief(result['bare'])}")
        slowest = max(CLASSES, key=lambda c: result["page"][c]["p95_ms"])
        result["profile"] = {
            name: profile(backend_runner(backend, FACETS), queries[name][:40], PG_WANTED)
            for name in dict.fromkeys((slowest, "filtered_sorted"))
        }
        result["plans"] = pg_plans(backend, queries)
        if not args.skip_probes:
            result["searchable"] = probe(app, backend, args)
        backend.close()
        common.dispose(app)
    return result


def _pg_sizes(conn) -> dict[str, float]:
    row = conn.execute(
        "SELECT pg_total_relation_size('search_letters'), pg_relation_size('search_letters'),"
        " pg_indexes_size('search_letters'), pg_relation_size('search_letters_terms')"
    ).fetchone()
    sizes = {
        name: round(value / 1e6, 1)
        for name, value in zip(("total", "heap", "indexes", "gin_terms"), row, strict=True)
    }
    sizes["toast"] = round(sizes["total"] - sizes["heap"] - sizes["indexes"], 1)  # out of line
    return sizes


def pg_plans(backend, queries) -> dict[str, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement that finds the matches once and gives the
    total, the facets and the page's candidates, and of the sampled count that comes first, for
    a one-word query and a filtered_sorted one (built by the backend itself, with the search
    transaction's settings)."""

    from indexing.backends import postgres_backend

    plans = {}
    for name in ("one_word", "filtered_sorted"):
        query = search_query(queries[name][1], FACETS).checked(backend.layout)
        parsed = parsing.parse(query.text)
        where, params = backend._where(query, backend_tsquery(parsed))
        by_date = query.sort == "date"
        any_term = None if by_date else postgres_backend.any_term_literal(parsed)
        wanted = postgres_backend.RERANK_WINDOW if any_term else query.page_size
        matches = backend._matches_statement(query.facets, where, params, any_term, by_date, wanted)
        plans[f"{name}:matches"] = _explain(backend, *matches)
        plans[f"{name}:sample"] = _explain(
            backend, *backend._sample_statement(query, where, params)
        )
    return plans


def _explain(backend, statement, values) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of a backend statement, with the search transaction's settings."""
    from psycopg import sql

    from indexing.backends import postgres_backend

    with backend._reader.transaction():
        backend._reader.execute(f"SET LOCAL work_mem = '{postgres_backend.SEARCH_WORK_MEM}'")
        backend._reader.execute("SET LOCAL jit = off")
        rows = backend._reader.execute(
            sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + statement, values
        ).fetchall()
    return [row[0] for row in rows]


def backend_tsquery(parsed):
    from indexing.backends.postgres_backend import tsquery_literal

    return tsquery_literal(parsed)


# --- registration to searchable ------------------------------------------------------------------


def text_pdf(word: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, f"Objet : demande d'attestation {word}. Veuillez agreer nos salutations.")
    return bytes(pdf.output())


def probe_word(k: int) -> str:
    return "sondage" + "".join(chr(97 + int(d)) for d in f"{k:03d}")


def probe(app, web_backend, args) -> dict[str, Any]:
    """Register --probes letters one by one; after each, worker rounds (run_once) and searches
    by `web_backend` until the letter is found."""
    from app.extensions import db
    from app.files.intake import ingest_upload
    from app.models import User
    from app.services import registration
    from app.services.actor import Actor
    from app.services.search_visibility import user_keys
    from app.uploads import file_store
    from app.worker import QUEUE_POLL_MAX_S, run_once

    with app.app_context():
        world = common.create_world(db.session)
        officer_id = world["officer_ids"][0]
        db.session.remove()
    register_s, searchable_s, rounds, worker_s, search_s = [], [], [], [], []
    for k in range(args.probes):
        word = probe_word(k)
        with app.app_context():
            officer = db.session.get(User, officer_id)
            keys = frozenset(user_keys(officer, date.today()))
            scan = ingest_upload(
                file_store(), io.BytesIO(text_pdf(word)), "scan.pdf", max_bytes=10**7
            )
            data = registration.LetterInput(
                register="incoming",
                subject=f"Demande d'attestation {word}",
                channel="post",
                new_correspondent=registration.NewContact(name="Amina Berrada"),
                files=[scan],
            )
            settings = registration.NumberingSettings.from_config(app.config)
            started = time.perf_counter()
            registration.register_letter(db.session, Actor(officer), data, settings)
            registered = time.perf_counter()
            db.session.remove()
        register_s.append(registered - started)
        found, n = False, 0
        while not found and time.perf_counter() - registered < 60:
            n += 1
            round_start = time.perf_counter()
            run_once(app, check_deadlines=False)
            searched = time.perf_counter()
            worker_s.append(searched - round_start)
            results = web_backend.search(
                SearchQuery(word, keys, page_size=PAGE_SIZE, facets=FACETS)
            )
            search_s.append(time.perf_counter() - searched)
            found = results.total > 0
        if not found:
            raise SystemExit(f"probe letter {word} not searchable after 60 s")
        searchable_s.append(time.perf_counter() - registered)
        rounds.append(n)
    return {
        "probes": args.probes,
        "register": common.summary(register_s),
        "registered_to_found": common.summary(searchable_s),
        "worker_round": common.summary(worker_s),
        "first_search_after_round": common.summary(search_s),
        "rounds_needed_max": max(rounds),
        "queue_poll_max_s": QUEUE_POLL_MAX_S,
    }


def probe_whoosh(path: Path, args) -> dict[str, Any]:
    with common.temp_instance("diwan-bench-search-") as instance:
        app = common.make_app(instance, INDEX_DIR=str(path), SEARCH_BACKEND="whoosh")
        common.migrate(app)
        web_backend = open_backend("whoosh", LETTER_LAYOUT, path=path)
        web_backend.search(SearchQuery("attestation", frozenset({"user:1", "register:1"})))
        try:
            return probe(app, web_backend, args)
        finally:
            web_backend.close()
            common.dispose(app)


# --- references ----------------------------------------------------------------------------------


def _fts_string(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_match(parsed: parsing.ParsedQuery) -> str:
    def clause(item) -> str:
        if isinstance(item, parsing.Prefix):
            return _fts_string(item.text) + " *"
        if isinstance(item, parsing.Phrase):
            return _fts_string(" ".join(item.terms))
        return _fts_string(item.text)

    return " OR ".join(
        "(" + " AND ".join(clause(c) for c in group) + ")" for group in parsed.alternatives
    )


def run_fts5(corpus, queries, work: Path) -> dict[str, Any]:
    path = work / "fts5.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    fields = LETTER_LAYOUT.text_fields
    chars = sorted({c for letter in corpus for t in letter["terms"].values() for c in t} - {" "})
    tokenchars = "".join(c for c in chars if not c.isalnum()).replace("'", "''")
    conn.execute(
        f"CREATE VIRTUAL TABLE f USING fts5({', '.join(fields)}, "
        f"tokenize=\"unicode61 remove_diacritics 0 tokenchars '{tokenchars}'\")"
    )
    conn.execute("CREATE TABLE meta (id INTEGER PRIMARY KEY, register TEXT, registered_at INTEGER)")
    conn.execute("CREATE TABLE vis (key TEXT, doc INTEGER, PRIMARY KEY (key, doc)) WITHOUT ROWID")
    started = time.perf_counter()
    for first in range(0, len(corpus), 500):
        conn.execute("BEGIN")
        chunk = list(enumerate(corpus[first : first + 500], start=first + 1))
        conn.executemany(
            f"INSERT INTO f (rowid, {', '.join(fields)}) VALUES (?{', ?' * len(fields)})",  # noqa: S608
            [(n, *(letter["terms"][name] for name in fields)) for n, letter in chunk],
        )
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?, ?)",
            [
                (n, letter["filters"]["register"], _ordinal(letter["filters"]["registered_at"]))
                for n, letter in chunk
            ],
        )
        conn.executemany(
            "INSERT INTO vis VALUES (?, ?)",
            [(key, n) for n, letter in chunk for key in letter["visibility"]],
        )
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.execute("INSERT INTO f(f) VALUES ('optimize')")
    conn.execute("CREATE INDEX meta_date ON meta (registered_at)")
    conn.execute("ANALYZE")
    result = {
        "build": {
            "seconds": round(seconds, 1),
            "letters_per_s": round(len(corpus) / seconds, 1),
            "size_mb": round(path.stat().st_size / 1e6, 1),
            "note": "from pre-analysed terms (analysis time excluded), then optimize",
        }
    }

    def run(spec: dict) -> int:
        parsed = parsing.parse(spec["text"])
        if parsed.is_empty:
            return 0
        match = fts5_match(parsed)
        if "keys" not in spec:
            total = conn.execute("SELECT count(*) FROM f WHERE f MATCH ?", (match,)).fetchone()[0]
            conn.execute(
                "SELECT rowid FROM f WHERE f MATCH ? ORDER BY rank LIMIT 20", (match,)
            ).fetchall()
            return total
        keys = spec["keys"]
        marks = ",".join("?" * len(keys))
        where = (
            "f MATCH ? AND m.register = ? AND m.registered_at BETWEEN ? AND ? AND EXISTS "  # noqa: S608
            f"(SELECT 1 FROM vis WHERE vis.doc = m.id AND vis.key IN ({marks}))"
        )
        params = (match, spec["register"], _ordinal(spec["start"]), _ordinal(spec["end"]), *keys)
        base = f"FROM f JOIN meta m ON m.id = f.rowid WHERE {where}"
        total = conn.execute(f"SELECT count(*) {base}", params).fetchone()[0]
        conn.execute(
            f"SELECT m.id {base} ORDER BY m.registered_at DESC LIMIT 20",
            params,
        ).fetchall()
        return total

    result["bare"] = time_all(run, queries)
    log(f"SQLite FTS5 {result['build']}: {_brief(result['bare'])}")
    conn.close()
    return result


def _ordinal(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


def run_tantivy(corpus, queries, work: Path) -> dict[str, Any]:
    try:
        import tantivy
    except ImportError:
        log("tantivy not installed: pip install tantivy==0.27.0")
        return {"skipped": "tantivy not installed: pip install tantivy==0.27.0"}
    fields = LETTER_LAYOUT.text_fields
    builder = tantivy.SchemaBuilder()
    for name in fields:
        builder.add_text_field(name, tokenizer_name="whitespace", index_option="position")
    builder.add_text_field("register", tokenizer_name="raw")
    builder.add_text_field("visibility", tokenizer_name="raw")
    builder.add_integer_field("registered_at", indexed=True, fast=True)
    builder.add_integer_field("n", stored=True, fast=True)
    schema = builder.build()
    path = work / "tantivy"
    path.mkdir()
    index = tantivy.Index(schema, path=str(path))
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    started = time.perf_counter()
    for first in range(0, len(corpus), 500):
        for n, letter in enumerate(corpus[first : first + 500], start=first + 1):
            doc = tantivy.Document()
            for name in fields:
                if letter["terms"][name]:
                    doc.add_text(name, letter["terms"][name])
            doc.add_text("register", letter["filters"]["register"])
            for key in letter["visibility"]:
                doc.add_text("visibility", key)
            doc.add_integer("registered_at", _ordinal(letter["filters"]["registered_at"]))
            doc.add_integer("n", n)
            writer.add_document(doc)
        writer.commit()
    writer.wait_merging_threads()
    seconds = time.perf_counter() - started
    index.reload()
    searcher = index.searcher()
    result = {
        "build": {
            "seconds": round(seconds, 1),
            "letters_per_s": round(len(corpus) / seconds, 1),
            "size_mb": round(dir_size(path) / 1e6, 1),
            "segments": searcher.num_segments,
            "note": "from pre-analysed terms (analysis time excluded), one thread",
        }
    }
    should, must = tantivy.Occur.Should, tantivy.Occur.Must

    def any_field(make) -> Any:
        return tantivy.Query.boolean_query([(should, make(name)) for name in fields])

    def clause(item):
        if isinstance(item, parsing.Prefix):
            pattern = re.escape(item.text) + ".*"
            return any_field(lambda f: tantivy.Query.regex_query(schema, f, pattern))
        if isinstance(item, parsing.Phrase):
            return any_field(lambda f: tantivy.Query.phrase_query(schema, f, list(item.terms)))
        return any_field(lambda f: tantivy.Query.term_query(schema, f, item.text))

    def run(spec: dict) -> int:
        parsed = parsing.parse(spec["text"])
        if parsed.is_empty:
            return 0
        text_query = tantivy.Query.boolean_query(
            [
                (should, tantivy.Query.boolean_query([(must, clause(c)) for c in group]))
                for group in parsed.alternatives
            ]
        )
        if "keys" not in spec:
            return searcher.search(text_query, PAGE_SIZE, count=True).count
        query = tantivy.Query.boolean_query(
            [
                (must, text_query),
                (must, tantivy.Query.term_query(schema, "register", spec["register"])),
                (
                    must,
                    tantivy.Query.range_query(
                        schema,
                        "registered_at",
                        tantivy.FieldType.Integer,
                        _ordinal(spec["start"]),
                        _ordinal(spec["end"]),
                    ),
                ),
                (must, tantivy.Query.term_set_query(schema, "visibility", spec["keys"])),
            ]
        )
        return searcher.search(query, PAGE_SIZE, count=True, order_by_field="registered_at").count

    result["bare"] = time_all(run, queries)
    log(f"tantivy {result['build']}: {_brief(result['bare'])}")
    return result


# --- report --------------------------------------------------------------------------------------


def _brief(figures: dict[str, dict]) -> str:
    return ", ".join(f"{name} {f['p50_ms']:.1f}/{f['p95_ms']:.1f}" for name, f in figures.items())


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for engine in ("whoosh", "postgres"):
        if engine not in result:
            continue
        for reference in ("fts5", "tantivy"):
            ref = result.get(reference, {}).get("bare")
            if not ref:
                continue
            out[f"{engine}/{reference}"] = {
                name: {
                    kind: round(result[engine][kind][name]["p95_ms"] / ref[name]["p95_ms"], 1)
                    for kind in ("bare", "page")
                    if ref[name]["p95_ms"] > 0
                }
                for name in CLASSES
            }
    return out


def table(result: dict[str, Any]) -> str:
    engines = [
        (label, result[engine][kind])
        for engine, kinds in (("whoosh", ("page", "bare")), ("postgres", ("page", "bare")))
        if engine in result
        for kind in kinds
        for label in [f"{engine} {kind}"]
    ]
    engines += [
        (ref, result[ref]["bare"]) for ref in ("fts5", "tantivy") if "bare" in result.get(ref, {})
    ]
    lines = ["p50 / p95 ms | " + " | ".join(label for label, _ in engines)]
    for name in CLASSES:
        cells = [f"{f[name]['p50_ms']:.1f} / {f[name]['p95_ms']:.1f}" for _, f in engines]
        lines.append(f"{name:<16} | " + " | ".join(cells))
    for engine in ("whoosh", "postgres"):
        searchable = result.get(engine, {}).get("searchable")
        if searchable:
            f = searchable["registered_to_found"]
            lines.append(
                f"{engine}: registered -> found p50 {f['p50_ms']:.0f} ms, p95 {f['p95_ms']:.0f} ms"
                f" (the worker's wait included: it looks every {searchable['search_wake_s']} s)"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--backend", choices=("whoosh", "postgres", "both"), default="both")
    parser.add_argument("--queries", type=int, default=200, help="per query class")
    parser.add_argument("--batch", type=int, default=5000, help="letters per commit, as a rebuild")
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--before-merge-share", type=float, default=0.25)
    parser.add_argument("--no-references", action="store_true")
    parser.add_argument("--skip-probes", action="store_true")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--keep-pg", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    corpus = corpus_module.load(args.letters, args.seed, regenerate=args.regenerate, log=log)
    log(f"corpus: {len(corpus):,} letters ({time.perf_counter() - started:.0f} s)")
    queries = make_queries(corpus, args.queries, args.seed)
    result: dict[str, Any] = {
        "letters": args.letters,
        "seed": args.seed,
        "batch": args.batch,
        "queries_per_class": args.queries,
        "environment": common.environment(),
        "load_average": os.getloadavg(),
    }
    work = Path(tempfile.mkdtemp(prefix="diwan-bench-search-"))
    try:
        if args.backend in ("whoosh", "both"):
            result["whoosh"] = run_whoosh(corpus, queries, args, work)
        if args.backend in ("postgres", "both"):
            result["postgres"] = run_postgres(corpus, queries, args)
        if not args.no_references:
            result["fts5"] = run_fts5(corpus, queries, work)
            result["tantivy"] = run_tantivy(corpus, queries, work)
        result["p95_ratio_to_reference"] = ratios(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    common.emit("search", result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
