"""PostgreSQL search at scale (issue 5): bulk load by COPY, then bench/search.py's query classes.

`bench/search.py` builds the index through `PostgresBackend.index` (INSERT ... ON CONFLICT, the
worker's way), about 700 letters/s: 25 minutes for 1,000,000 letters. This script streams the
cached corpus (`search_corpus.stream`, never all letters in memory) and COPYs the rows that
`PostgresBackend._row` gives each letter — exactly what the backend would write — into the table
the backend created, with its secondary indexes built after the load (the backend's own CREATE
INDEX statements), then VACUUM (ANALYZE). The queries are `search.make_queries` over the same
corpus (kept as subject+body text only), timed with the search page's four facets ("page") and
without ("bare"), then EXPLAIN (ANALYZE, BUFFERS) of the statements the backend sends.

    .venv/bin/python bench/search_pg_1m.py [--letters 1000000] [--queries 200] [--seed 1]
        [--database diwan_bench_searchpg_xxxxxxxx (reuse a loaded one)] [--keep]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
import search
import search_corpus as corpus_module

from indexing.backends import LETTER_LAYOUT, open_backend

TABLE = "search_letters"
CHUNK = 25_000
log = common.log


class Texts:
    """What `search.make_queries` reads of a letter (its subject and body), for N letters."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def add(self, letter: dict) -> None:
        self._texts.append(letter["fields"]["subject"] + " " + letter["fields"]["body"])

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, n: int) -> dict:
        return {"fields": {"subject": self._texts[n], "body": ""}}


def load(backend, url: str, args, texts: Texts) -> dict[str, Any]:
    """COPY every letter's `_row` into the backend's table; indexes rebuilt after the load."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname <> %s",
            (TABLE, f"{TABLE}_pkey"),
        ).fetchall()
        for name, _definition in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    started = time.perf_counter()
    if args.workers == 1:
        count = load_part(url, args, 0, 1, texts)
    else:
        # The analysis is the cost: parts of the corpus in parallel (chunk k to process k % N).
        context = multiprocessing.get_context("fork")
        with context.Pool(args.workers) as pool:
            parts = pool.starmap_async(
                load_part, [(url, args, part, args.workers, None) for part in range(args.workers)]
            )
            for letter in corpus_module.stream(args.letters, args.seed, log=log):
                texts.add(letter)
            count = sum(parts.get())
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    index_s = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in indexes:
            began = time.perf_counter()
            conn.execute(definition)
            index_s[name] = round(time.perf_counter() - began, 1)
            log(f"  {name}: {index_s[name]} s")
        began = time.perf_counter()
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(TABLE)))
        vacuum_s = round(time.perf_counter() - began, 1)
    return {
        "letters": count,
        "copy_s": round(load_s, 1),
        "copy_letters_per_s": round(count / load_s, 1),
        "index_s": index_s,
        "vacuum_analyze_s": vacuum_s,
        "letters_per_s_overall": round(count / (load_s + time.perf_counter() - started), 1),
        "workers": args.workers,
        "note": "COPY of PostgresBackend._row rows (analysed in --workers processes), then indexes",
    }


def load_part(url: str, args, part: int, parts: int, texts: Texts | None) -> int:
    """COPY the rows of chunks part, part + parts ... (CHUNK letters each); one commit each."""
    import psycopg
    from psycopg import sql

    backend = open_backend("postgres", LETTER_LAYOUT, database_url=url, table=TABLE)
    columns = sql.SQL(", ").join(map(sql.Identifier, backend.columns()))
    copy_statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(TABLE), columns)
    started = time.perf_counter()
    count = 0
    with psycopg.connect(url) as conn:
        rows = []
        for n, letter in enumerate(corpus_module.stream(args.letters, args.seed, log=log)):
            if texts is not None:
                texts.add(letter)
            if (n // CHUNK) % parts != part:
                continue
            rows.append(backend._row(search.document(letter).checked(backend.layout)))
            if len(rows) == CHUNK:
                count += _copy(conn, copy_statement, rows)
                rate = count / (time.perf_counter() - started)
                log(f"  part {part}: {count:,} letters ({rate:.0f}/s)")
        count += _copy(conn, copy_statement, rows)
    backend.close()
    return count


def _copy(conn, statement, rows: list) -> int:
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()
    count = len(rows)
    rows.clear()
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="per query class")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", help="a loaded diwan_bench_* database to reuse")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--classes", default=",".join(search.CLASSES))
    parser.add_argument("--workers", type=int, default=1, help="processes analysing letters")
    parser.add_argument("--load-only", action="store_true", help="load (implies --keep), no timing")
    args = parser.parse_args()
    import psycopg

    started = time.perf_counter()
    result: dict[str, Any] = {
        "letters": args.letters,
        "seed": args.seed,
        "queries_per_class": args.queries,
        "environment": common.environment(),
        "load_average_start": os.getloadavg(),
    }
    texts = Texts()
    if args.database:
        if not args.database.startswith("diwan_bench_"):
            raise SystemExit("--database takes a diwan_bench_* database")
        database = nullcontext(args.database)
    else:
        database = common.postgres_database("searchpg", keep=args.keep or args.load_only)
    with database as name:
        url = common.pg_dsn(name)
        log(f"database {name}")
        backend = open_backend("postgres", LETTER_LAYOUT, database_url=url, table=TABLE)
        if args.database:
            for letter in corpus_module.stream(args.letters, args.seed, log=log):
                texts.add(letter)
        else:
            log(f"loading {args.letters:,} letters by COPY")
            result["build"] = load(backend, url, args, texts)
            log(f"  {result['build']}")
        with psycopg.connect(url, autocommit=True) as conn:
            result["size_mb"] = search._pg_sizes(conn)
            result["rows"] = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]  # noqa: S608
        log(f"  {result['rows']:,} rows, {result['size_mb']}")
        if args.load_only:
            backend.close()
            common.emit(f"search_pg-{args.letters}-load", result, f"loaded {name}")
            return 0
        queries = search.make_queries(texts, args.queries, args.seed)
        del texts
        wanted = args.classes.split(",")
        queries = {name: specs for name, specs in queries.items() if name in wanted}
        result["page"] = search.time_all(search.backend_runner(backend, search.FACETS), queries)
        log(f"  page: {search._brief(result['page'])}")
        result["bare"] = search.time_all(search.backend_runner(backend, ()), queries)
        log(f"  bare: {search._brief(result['bare'])}")
        result["plans"] = search.pg_plans(backend, queries)
        backend.close()
    result["load_average_end"] = os.getloadavg()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    lines = [f"{TABLE} at {result['rows']:,} letters, p50 / p95 ms (page | bare)"]
    for name in queries:
        page, bare = result["page"][name], result["bare"][name]
        lines.append(
            f"{name:<16} {page['p50_ms']:.1f} / {page['p95_ms']:.1f} | "
            f"{bare['p50_ms']:.1f} / {bare['p95_ms']:.1f}  (mean total {page['mean_total']})"
        )
    common.emit(f"search_pg-{args.letters}", result, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
