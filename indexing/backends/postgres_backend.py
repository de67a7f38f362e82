"""The same search on PostgreSQL: one table, a tsvector per document, a GIN index.

The terms come from `indexing.analysis`, as for Whoosh, and are stored as a tsvector written in
PostgreSQL's own literal form ('term':position ...) rather than through to_tsvector('simple', ...):
to_tsvector would renumber positions, so a clitic variant could not share its word's position and
a stop word's gap would close up; the literal keeps both, and `<N>` phrase operators then match
exactly as Whoosh's phrases do. The text fields follow one another in the vector with a gap wider
than any phrase, so a phrase never spans two fields. PostgreSQL caps positions at 16383: words
beyond still match, phrases there do not.

Filters are columns, visibility keys a text[] (GIN), and what the searcher may not open is
neither listed nor counted: the matching rows are found once per search (a MATERIALIZED CTE under
one WHERE: words, visibility, filters) and the total, the facets and the candidates for the page
all come from them in one statement. Highlights are cut in Python from the original fields, kept
as jsonb.

Layout of the table (SCHEMA_VERSION): the row a search visits for every match stays narrow, a few
hundred bytes: the full tsvector and the original fields are stored out of line (STORAGE EXTERNAL /
TOAST with toast_tuple_target 512), so counting and faceting 100,000 matches reads the narrow heap
only, and a word query (no phrase) never detoasts a vector. Beside it, `head`: a small tsvector of
the first half of the layout's text fields (for letters: reference, subject, correspondent), kept
inline.

Relevance: ts_rank over every match would detoast every matching vector. Instead the matches are
ordered by a cheap first key computed inline, ts_rank of `head` (a match in the subject or the
reference comes first), then the sort date (newest first), then id; the RERANK_WINDOW best of them
by that key are re-ranked by head rank + ts_rank of the full vector (ties by id), and the rest
follow in the cheap order. The order is total and the same for every page (ids compare bytewise,
COLLATE "C", as Python compares them). Prefixes expand without a cap (a cap would drop matches
from the exact total): the cost of a prefix is the number of matches, as for a common word.

Very common words: counting and faceting visit one heap row per match, about 0.5 µs each even
with the table in shared buffers, so a word in a quarter of 1,000,000 letters costs 150-250 ms
before any ranking (bench/README.md). Every row therefore carries `sample`, a fixed bucket
(0-63) from its id, and a search first counts the matches in SAMPLED_BUCKETS of the buckets
(1/16 of them), unless the planner expects far fewer matches. Past `estimate_above` expected
matches, the total and the facet counts are that sample's, scaled (results.estimated), and the
page lists the matches newest first: the sample gives a date past which enough matches lie,
and only that recent slice is read; ranking a fifth of the register by relevance would mean
little and cost seconds. Below it, the exact statement above runs, and counts are exact.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

import psycopg
from psycopg import sql

from indexing import analysis
from indexing import query as parsing
from indexing.backends.base import (
    UNRESTRICTED,
    Document,
    Hit,
    Layout,
    SearchQuery,
    SearchResults,
    date_value,
    keyword_value,
    multi_value,
)

MAX_POSITION = 16383  # PostgreSQL's limit
MAX_POSITIONS_PER_TERM = 256  # PostgreSQL keeps no more
MAX_LEXEME_BYTES = 2046
MAX_VECTOR_BYTES = 900_000  # a tsvector must stay under 1 MB
FIELD_GAP = 100  # positions between two text fields, wider than any phrase
SCHEMA_VERSION = 3  # of the table layout (2: narrow row, out-of-line vector, head vector;
# 3: sample bucket)
RERANK_WINDOW = 200  # matches re-ranked with the full vector, the best by the cheap key
TOAST_TUPLE_TARGET = 512  # bytes: past it the vector and the original go out of line
SEARCH_WORK_MEM = "64MB"  # the matches of a common word (CTE, hash tables) stay in memory
SAMPLE_BUCKETS = 64  # every row's `sample` is one of these, from its id
SAMPLED_BUCKETS = 4  # the buckets a search counts first: 1/16 of the matches
ESTIMATE_ABOVE = 20_000  # expected matches past which counts are estimated from that sample
PLANNED_FEW = 10  # the planner expecting under ESTIMATE_ABOVE / 10 matches: count them all

_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,50}")


def plain_url(url: str) -> str:
    """psycopg takes postgresql://; SQLAlchemy-style URLs name the driver too."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def sample_bucket(document_id: str) -> int:
    """The row's fixed sample bucket: spread evenly, whatever the ids look like. SQL gives the
    same: (get_byte(sha256(convert_to(id, 'UTF8')), 0) * 256 + get_byte(..., 1)) % 64."""
    digest = hashlib.sha256(document_id.encode()).digest()
    return int.from_bytes(digest[:2], "big") % SAMPLE_BUCKETS


def quoted(term: str) -> str:
    """A lexeme as tsvector and tsquery literals spell it."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(fields: dict[str, str], text_fields: tuple[str, ...]) -> str:
    return vector_literals(fields, text_fields)[0]


def vector_literals(fields: dict[str, str], text_fields: tuple[str, ...]) -> tuple[str, str]:
    """The full vector and the head vector (the head fields' words, without positions: it only
    ranks, and stays small), from one analysis of each field."""
    head = set(Layout(text_fields).head_fields)
    positions: dict[str, list[int]] = defaultdict(list)
    head_terms: dict[str, None] = {}
    offset = 1  # tsvector positions start at 1
    for name in text_fields:
        tokens = analysis.index_tokens(fields.get(name) or "")
        for token in tokens:
            if len(token.text.encode()) <= MAX_LEXEME_BYTES:
                position = min(offset + token.position, MAX_POSITION)
                positions[token.text].append(position)
                if name in head:
                    head_terms[token.text] = None
        if tokens:
            offset += max(token.position for token in tokens) + FIELD_GAP
    return _literal(positions), _words_only(head_terms)


def _literal(positions: dict[str, list[int]]) -> str:
    entries = []
    for term, places in positions.items():
        unique = sorted(set(places))[:MAX_POSITIONS_PER_TERM]
        entries.append(f"{quoted(term)}:{','.join(map(str, unique))}")
    literal = " ".join(entries)
    if len(literal.encode()) > MAX_VECTOR_BYTES:
        # Too many words for one tsvector: keep words (they still match) without positions.
        return _words_only(positions)
    return literal


def _words_only(terms: Iterable[str]) -> str:
    kept, size = [], 0
    for term in terms:
        size += len(term.encode()) + 3
        if size > MAX_VECTOR_BYTES:
            break
        kept.append(quoted(term))
    return " ".join(kept)


def tsquery_literal(parsed: parsing.ParsedQuery) -> str:
    return " | ".join(
        "(" + " & ".join(map(_clause, clauses)) + ")" for clauses in parsed.alternatives
    )


def any_term_literal(parsed: parsing.ParsedQuery) -> str:
    """Every clause OR-ed: what results are ranked by."""
    clauses = dict.fromkeys(clause for group in parsed.alternatives for clause in group)
    return " | ".join(map(_clause, clauses))


def _clause(item: parsing.Clause) -> str:
    if isinstance(item, parsing.Prefix):
        return quoted(item.text) + ":*"
    if isinstance(item, parsing.Phrase):
        chain = quoted(item.terms[0])
        for term, gap in zip(item.terms[1:], item.gaps, strict=True):
            chain += f" <{gap}> {quoted(term)}"
        return f"({chain})"
    return quoted(item.text)


class PostgresBackend:
    def __init__(
        self, url: str, table: str, layout: Layout, *, estimate_above: int = ESTIMATE_ABOVE
    ) -> None:
        if not _TABLE_NAME.fullmatch(table):
            raise ValueError(f"unusable table name {table!r}")
        self.layout = layout
        self._url = plain_url(url)
        self._table = sql.Identifier(table)
        self._meta_table = sql.Identifier(f"{table}_meta")
        self._table_name = table
        self._writer: psycopg.Connection | None = None  # holds the uncommitted batch
        self._reader = psycopg.connect(self._url, autocommit=True)
        self._lock = threading.Lock()
        self.estimate_above = estimate_above
        if self._meta() is None:
            self._create()

    # Version and layout

    def _meta(self) -> dict | None:
        with self._lock:
            exists = self._reader.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (f"{self._table_name}_meta",)
            ).fetchone()[0]
            if not exists:
                return None
            rows = self._reader.execute(
                sql.SQL("SELECT key, value FROM {}").format(self._meta_table)
            ).fetchall()
        return dict(rows)

    def stored_analysis_version(self) -> int | None:
        version = (self._meta() or {}).get("analysis_version")
        return int(version) if version is not None else None

    def needs_rebuild(self) -> bool:
        meta = self._meta() or {}
        return (
            meta.get("analysis_version") != str(analysis.ANALYSIS_VERSION)
            or meta.get("layout") != self.layout.to_json()
            or meta.get("schema_version") != str(SCHEMA_VERSION)
        )

    def is_complete(self) -> bool:
        """False from creation until `mark_complete`: an index made empty (new, lost, cleared)
        does not hold what was written before it. An index older than the flag is complete."""
        return (self._meta() or {}).get("complete", "true") == "true"

    def mark_complete(self) -> None:
        with psycopg.connect(self._url) as connection:
            connection.execute(
                sql.SQL(
                    "INSERT INTO {} VALUES ('complete', 'true')"
                    " ON CONFLICT (key) DO UPDATE SET value = 'true'"
                ).format(self._meta_table)
            )

    def _create(self) -> None:
        layout = self.layout
        columns = [
            sql.SQL("id text PRIMARY KEY"),
            sql.SQL("terms tsvector NOT NULL"),
            sql.SQL("head tsvector NOT NULL"),
            sql.SQL("original jsonb NOT NULL"),
            sql.SQL("visibility text[] NOT NULL"),
            sql.SQL("sample smallint NOT NULL"),
        ]
        columns += [sql.SQL("{} text").format(sql.Identifier(n)) for n in layout.keyword_fields]
        columns += [sql.SQL("{} text[]").format(sql.Identifier(n)) for n in layout.multi_fields]
        columns += [sql.SQL("{} date").format(sql.Identifier(n)) for n in layout.date_fields]
        # Out of line: the vector (uncompressed: a phrase's recheck reads it whole) and the
        # original (compressed); MAIN keeps the small columns inline (moved out only when a row
        # would not fit a page otherwise).
        storage = [("terms", "EXTERNAL"), ("head", "MAIN"), ("visibility", "MAIN")]
        storage += [(name, "MAIN") for name in layout.multi_fields]
        statements = [
            sql.SQL("DROP TABLE IF EXISTS {}").format(self._table),
            sql.SQL("DROP TABLE IF EXISTS {}").format(self._meta_table),
            sql.SQL("CREATE TABLE {} ({}) WITH (toast_tuple_target = {})").format(
                self._table, sql.SQL(", ").join(columns), sql.Literal(TOAST_TUPLE_TARGET)
            ),
            sql.SQL("ALTER TABLE {} {}").format(
                self._table,
                sql.SQL(", ").join(
                    sql.SQL("ALTER COLUMN {} SET STORAGE {}").format(
                        sql.Identifier(name), sql.SQL(kind)
                    )
                    for name, kind in storage
                ),
            ),
            self._index_statement("terms", "gin"),
            self._index_statement("visibility", "gin"),
            self._index_statement("sample", "btree"),
            *(self._index_statement(name, "gin") for name in layout.multi_fields),
            *(self._index_statement(name, "btree") for name in layout.keyword_fields),
            *(self._index_statement(name, "btree") for name in layout.date_fields),
            sql.SQL("CREATE TABLE {} (key text PRIMARY KEY, value text NOT NULL)").format(
                self._meta_table
            ),
        ]
        with psycopg.connect(self._url) as connection:
            for statement in statements:
                connection.execute(statement)
            connection.execute(
                sql.SQL(
                    "INSERT INTO {} VALUES ('analysis_version', %s), ('layout', %s),"
                    " ('schema_version', %s), ('complete', 'false')"
                ).format(self._meta_table),
                (str(analysis.ANALYSIS_VERSION), layout.to_json(), str(SCHEMA_VERSION)),
            )

    def _index_statement(self, column: str, method: str) -> sql.Composed:
        return sql.SQL("CREATE INDEX {} ON {} USING {} ({})").format(
            sql.Identifier(f"{self._table_name}_{column}"),
            self._table,
            sql.SQL(method),
            sql.Identifier(column),
        )

    def clear(self) -> None:
        self._rollback()
        self._create()

    def drop(self) -> None:
        """Remove the tables (a temporary index, as `python -m indexing evaluate` makes)."""
        self._rollback()
        with psycopg.connect(self._url) as connection:
            for table in (self._table, self._meta_table):
                connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))

    # Writing

    def _writer_open(self) -> psycopg.Connection:
        if self._writer is None:
            self._writer = psycopg.connect(self._url)
        return self._writer

    def columns(self) -> list[str]:
        """The columns `_row` fills, in its order (bench/search_pg_1m.py COPYs such rows)."""
        layout = self.layout
        filters = layout.keyword_fields + layout.multi_fields + layout.date_fields
        return ["id", "terms", "head", "original", "visibility", "sample", *filters]

    def index(self, documents: Iterable[Document]) -> None:
        layout = self.layout
        names = self.columns()
        statement = sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES ({values}) "
            "ON CONFLICT (id) DO UPDATE SET {updates}"
        ).format(
            table=self._table,
            columns=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(
                sql.SQL("%s::tsvector") if name in ("terms", "head") else sql.Placeholder()
                for name in names
            ),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in names[1:]
            ),
        )
        rows = [self._row(document.checked(layout)) for document in documents]
        if rows:
            with self._writer_open().cursor() as cursor:
                cursor.executemany(statement, rows)

    def _row(self, document: Document) -> tuple:
        layout = self.layout
        texts = {name: text for name, text in document.fields.items() if text}
        row = [
            document.id,
            *vector_literals(texts, layout.text_fields),
            json.dumps(texts, ensure_ascii=False),
            sorted(document.visibility),
            sample_bucket(document.id),
        ]
        filters = document.filters
        row += [keyword_value(filters[n]) if n in filters else None for n in layout.keyword_fields]
        row += [multi_value(filters[n]) if n in filters else None for n in layout.multi_fields]
        row += [date_value(filters[n]) if n in filters else None for n in layout.date_fields]
        return tuple(row)

    def delete(self, ids: Iterable[str]) -> None:
        self._writer_open().execute(
            sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._table), (list(ids),)
        )

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()

    def _rollback(self) -> None:
        if self._writer is not None:
            self._writer.rollback()

    def close(self) -> None:
        self.commit()
        if self._writer is not None:
            self._writer.close()
        self._reader.close()

    # Searching

    def _where(self, query: SearchQuery, tsquery: str | None) -> tuple[sql.Composable, list]:
        conditions: list[sql.Composable] = []
        params: list = []
        if tsquery is not None:
            conditions.append(sql.SQL("terms @@ %s::tsquery"))
            params.append(tsquery)
        if query.allowed is not UNRESTRICTED:
            conditions.append(sql.SQL("visibility && %s::text[]"))
            params.append(sorted(query.allowed))
        for name, value in sorted(query.filters.items()):
            column = sql.Identifier(name)
            if name in self.layout.multi_fields:
                conditions.append(sql.SQL("{} && %s::text[]").format(column))
            else:
                conditions.append(sql.SQL("{} = ANY(%s::text[])").format(column))
            params.append(multi_value(value))
        for name, period in sorted(query.date_ranges.items()):
            if period.start is not None:
                conditions.append(sql.SQL("{} >= %s").format(sql.Identifier(name)))
                params.append(period.start)
            if period.end is not None:
                conditions.append(sql.SQL("{} <= %s").format(sql.Identifier(name)))
                params.append(period.end)
        where = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
        return where, params

    def search(self, query: SearchQuery) -> SearchResults:
        query = query.checked(self.layout)
        parsed = parsing.parse(query.text)
        empty = SearchResults(0, [], {name: {} for name in query.facets})
        if query.text.strip() and parsed.is_empty:
            return empty
        if query.allowed is not UNRESTRICTED and not query.allowed:
            return empty
        tsquery = None if parsed.is_empty else tsquery_literal(parsed)
        where, params = self._where(query, tsquery)
        with self._lock, self._reader.transaction():
            # One snapshot for the counts and the page rows, so they agree.
            self._reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            self._reader.execute(f"SET LOCAL work_mem = '{SEARCH_WORK_MEM}'")
            self._reader.execute("SET LOCAL jit = off")  # compiling costs more than it saves
            estimate = self._estimate(query, where, params)
            if estimate is None:
                total, facets, page, scores = self._exact(query, parsed, where, params)
            else:
                total, facets, cutoff = estimate
                page = self._newest(query, where, params, cutoff)
                any_term = None if parsed.is_empty else any_term_literal(parsed)
                scores = dict.fromkeys(page, 0.0)
                if any_term is not None:
                    scores.update(self._full_ranks(page, any_term))
            originals = self._originals(page)
        hits = [
            Hit(
                document_id, float(scores[document_id]), _highlights(originals[document_id], parsed)
            )
            for document_id in page
        ]
        facet_counts = {
            name: dict(sorted(counts, key=lambda item: (-item[1], item[0])))
            for name, counts in facets.items()
        }
        return SearchResults(total, hits, facet_counts, estimated=estimate is not None)

    def _exact(self, query: SearchQuery, parsed, where: sql.Composable, params: list):
        """Total, facets, the page's ids and their scores, from every match."""
        tsquery_given = not parsed.is_empty
        sort_by_date = query.sort == "date" or (
            not tsquery_given and self.layout.sort_date is not None
        )
        ranked = tsquery_given and not sort_by_date
        any_term = any_term_literal(parsed) if ranked else None
        skip = (query.page - 1) * query.page_size
        # Ranked: enough candidates for the re-ranked window and the page; else the page.
        wanted = max(RERANK_WINDOW, skip + query.page_size) if ranked else skip + query.page_size
        statement, statement_params = self._matches_statement(
            query.facets, where, params, any_term, sort_by_date, wanted
        )
        rows = self._reader.execute(statement, statement_params).fetchall()
        total, facets, candidates = self._read_counts(query, rows)
        scores = {document_id: float(head_rank) for document_id, head_rank in candidates}
        order = [document_id for document_id, _ in candidates]
        window = order[:RERANK_WINDOW] if ranked else []
        for document_id, rank in self._full_ranks(window, any_term).items():
            scores[document_id] += rank
        window.sort(key=lambda document_id: (-scores[document_id], document_id))
        order[: len(window)] = window
        page = order[skip : skip + query.page_size]
        if ranked:  # past the window: the full rank is shown, not ordered by
            beyond = page if skip >= len(window) else page[len(window) - skip :]
            for document_id, rank in self._full_ranks(beyond, any_term).items():
                scores[document_id] += rank
        return total, facets, page, scores

    @staticmethod
    def _read_counts(query: SearchQuery, rows: list[tuple]):
        """The rows of `_matches_statement`: total, facet counts, and the page candidates (or
        the cutoff date) in order."""
        facet_names = list(dict.fromkeys(query.facets))
        total, facets, candidates = 0, {name: [] for name in query.facets}, []
        for kind, value, count, head_rank in rows:
            if kind == 0:
                total = count
            elif kind > 0:
                facets[facet_names[kind - 1]].append((value, count))
            else:
                candidates.append((value, head_rank))
        return total, facets, candidates

    def _estimate(self, query: SearchQuery, where: sql.Composable, params: list):
        """Total, facets and a cutoff date estimated from the sampled buckets, when more than
        `estimate_above` matches are expected; else None (the exact statement runs)."""
        if self.layout.sort_date is None or self._planned_rows(where, params) < (
            self.estimate_above // PLANNED_FEW
        ):
            return None
        rows = self._reader.execute(*self._sample_statement(query, where, params)).fetchall()
        total, facets, candidates = self._read_counts(query, rows)
        scale = SAMPLE_BUCKETS // SAMPLED_BUCKETS
        if total * scale < self.estimate_above:
            return None
        scaled = {
            name: [(value, n * scale) for value, n in counts] for name, counts in facets.items()
        }
        cutoff = date.fromisoformat(candidates[0][0]) if candidates else None
        return total * scale, scaled, cutoff

    def _planned_rows(self, where: sql.Composable, params: list) -> float:
        """The planner's guess of the matches (its statistics know common words): a selective
        search skips the sampled count, which would build the word's bitmap a second time. A
        wrong guess costs time, never a wrong answer."""
        plan = self._reader.execute(
            sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}").format(self._table, where),
            params,
        ).fetchone()[0]
        return float(plan[0]["Plan"]["Plan Rows"])

    def _sample_statement(
        self, query: SearchQuery, where: sql.Composable, params: list
    ) -> tuple[sql.Composed, list]:
        """`_matches_statement` over the sampled buckets, ending with the cutoff date: the
        sampled match past which, expectedly, twice the rows the page needs lie."""
        skip = (query.page - 1) * query.page_size
        cutoff_at = math.ceil((skip + query.page_size) * SAMPLED_BUCKETS / SAMPLE_BUCKETS * 2) + 8
        return self._matches_statement(
            query.facets,
            sql.SQL("{} AND sample < %s").format(where),
            [*params, SAMPLED_BUCKETS],
            None,
            True,
            0,
            cutoff_at=cutoff_at,
        )

    def _newest(
        self, query: SearchQuery, where: sql.Composable, params: list, cutoff: date | None
    ) -> list[str]:
        """The page's ids, newest first, reading only matches from `cutoff` on when that
        slice holds enough of them (else all)."""
        skip = (query.page - 1) * query.page_size
        wanted = skip + query.page_size
        sort_date = sql.Identifier(self.layout.sort_date)
        statement = sql.SQL(
            'SELECT id FROM {} WHERE {}{} ORDER BY {} DESC NULLS LAST, id COLLATE "C" LIMIT %s'
        )
        recent = sql.SQL(" AND {} >= %s").format(sort_date)
        for bounded in (True, False) if cutoff is not None else (False,):
            ids = [
                row[0]
                for row in self._reader.execute(
                    statement.format(
                        self._table, where, recent if bounded else sql.SQL(""), sort_date
                    ),
                    [*params, *([cutoff] if bounded else []), wanted],
                )
            ]
            if len(ids) == wanted:
                break
        return ids[skip:]

    def _matches_statement(
        self,
        facets: tuple[str, ...],
        where: sql.Composable,
        params: list,
        any_term: str | None,
        sort_by_date: bool,
        wanted: int,
        cutoff_at: int | None = None,
    ) -> tuple[sql.Composed, list]:
        """One statement over the matches (found once): rows (0, NULL, total, NULL), then
        (k, value, count, NULL) per value of the k-th facet, then (-1, id, NULL, head rank) for
        the `wanted` first matches in the cheap order; or, with `cutoff_at`, one row (-1, date,
        NULL, NULL): the sort date of the match at that place, newest first."""
        sort_date = self.layout.sort_date
        use_date = sort_date is not None and (sort_by_date or any_term is not None)
        head_rank = sql.SQL("ts_rank(head, %s::tsquery)") if any_term else sql.SQL("0.0::real")
        selected = [sql.SQL("id"), sql.SQL("{} AS h").format(head_rank)]
        date_order = sql.SQL("")
        if use_date:
            selected.append(sql.Identifier(sort_date))
            date_order = sql.SQL("{} DESC NULLS LAST, ").format(sql.Identifier(sort_date))
        rank_order = sql.SQL("h DESC, ") if any_term else sql.SQL("")
        columns = list(dict.fromkeys(facets))
        selected += [sql.Identifier(name) for name in columns]
        parts = [
            sql.SQL("WITH m AS MATERIALIZED (SELECT {} FROM {} WHERE {})").format(
                sql.SQL(", ").join(selected), self._table, where
            )
        ]
        if columns:
            grouped = sql.SQL(", ").join(map(sql.Identifier, columns))
            parts.append(
                sql.SQL(", g AS (SELECT {0}, count(*) AS n FROM m GROUP BY {0})").format(grouped)
            )
            parts.append(
                sql.SQL(" SELECT 0, NULL::text, coalesce(sum(n), 0)::bigint, NULL::real FROM g")
            )
        else:
            parts.append(sql.SQL(" SELECT 0, NULL::text, count(*), NULL::real FROM m"))
        for k, name in enumerate(columns, start=1):
            column = sql.Identifier(name)
            if name in self.layout.multi_fields:
                branch = sql.SQL(
                    " UNION ALL SELECT {k}, value, sum(n)::bigint, NULL::real"
                    " FROM g, unnest({column}) AS value GROUP BY value"
                )
            else:
                branch = sql.SQL(
                    " UNION ALL SELECT {k}, {column}, sum(n)::bigint, NULL::real"
                    " FROM g WHERE {column} IS NOT NULL GROUP BY {column}"
                )
            parts.append(branch.format(k=sql.Literal(k), column=column))
        if cutoff_at is not None:
            parts.append(
                sql.SQL(
                    " UNION ALL (SELECT -1, {0}::text, NULL::bigint, NULL::real FROM m"
                    " WHERE {0} IS NOT NULL ORDER BY {0} DESC OFFSET %s LIMIT 1)"
                ).format(sql.Identifier(sort_date))
            )
            return sql.Composed(parts), [*params, cutoff_at]
        parts.append(
            sql.SQL(
                " UNION ALL (SELECT -1, id, NULL::bigint, h FROM m"
                ' ORDER BY {rank}{date}id COLLATE "C" LIMIT %s)'
            ).format(rank=rank_order, date=date_order)
        )
        return sql.Composed(parts), [*([any_term] if any_term else []), *params, wanted]

    def _full_ranks(self, ids: list[str], any_term: str) -> dict[str, float]:
        if not ids:
            return {}
        rows = self._reader.execute(
            sql.SQL("SELECT id, ts_rank(terms, %s::tsquery) FROM {} WHERE id = ANY(%s)").format(
                self._table
            ),
            (any_term, ids),
        ).fetchall()
        return {document_id: float(rank) for document_id, rank in rows}

    def _originals(self, ids: list[str]) -> dict[str, dict]:
        if not ids:
            return {}
        rows = self._reader.execute(
            sql.SQL("SELECT id, original FROM {} WHERE id = ANY(%s)").format(self._table), (ids,)
        ).fetchall()
        return dict(rows)


def _highlights(original: dict, parsed: parsing.ParsedQuery) -> dict[str, str]:
    if parsed.is_empty:
        return {}
    snippets = {name: parsed.highlight(text) for name, text in original.items()}
    return {name: snippet for name, snippet in snippets.items() if snippet is not None}
