"""The same search on PostgreSQL: one table, a tsvector per document, a GIN index.

The terms come from `indexing.analysis`, as for Whoosh, and are stored as a tsvector written in
PostgreSQL's own literal form ('term':position ...) rather than through to_tsvector('simple', ...):
to_tsvector would renumber positions, so a clitic variant could not share its word's position and
a stop word's gap would close up; the literal keeps both, and `<N>` phrase operators then match
exactly as Whoosh's phrases do. The text fields follow one another in the vector with a gap wider
than any phrase, so a phrase never spans two fields. PostgreSQL caps positions at 16383: words
beyond still match, phrases there do not.

Filters are columns, visibility keys a text[] (GIN), facets a GROUP BY under the same WHERE as the
results, so what the searcher may not open is neither listed nor counted. Highlights are cut in
Python from the original fields, kept as jsonb (TOAST compresses them).
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Iterable

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

_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,50}")


def plain_url(url: str) -> str:
    """psycopg takes postgresql://; SQLAlchemy-style URLs name the driver too."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def quoted(term: str) -> str:
    """A lexeme as tsvector and tsquery literals spell it."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(fields: dict[str, str], text_fields: tuple[str, ...]) -> str:
    positions: dict[str, list[int]] = defaultdict(list)
    offset = 1  # tsvector positions start at 1
    for name in text_fields:
        tokens = analysis.index_tokens(fields.get(name) or "")
        for token in tokens:
            if len(token.text.encode()) <= MAX_LEXEME_BYTES:
                positions[token.text].append(min(offset + token.position, MAX_POSITION))
        if tokens:
            offset += max(token.position for token in tokens) + FIELD_GAP
    entries = []
    for term, places in positions.items():
        unique = sorted(set(places))[:MAX_POSITIONS_PER_TERM]
        entries.append(f"{quoted(term)}:{','.join(map(str, unique))}")
    literal = " ".join(entries)
    if len(literal.encode()) > MAX_VECTOR_BYTES:
        # Too many words for one tsvector: keep words (they still match) without positions.
        kept, size = [], 0
        for term in positions:
            size += len(term.encode()) + 3
            if size > MAX_VECTOR_BYTES:
                break
            kept.append(quoted(term))
        literal = " ".join(kept)
    return literal


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
    def __init__(self, url: str, table: str, layout: Layout) -> None:
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
        )

    def _create(self) -> None:
        layout = self.layout
        columns = [
            sql.SQL("id text PRIMARY KEY"),
            sql.SQL("terms tsvector NOT NULL"),
            sql.SQL("original jsonb NOT NULL"),
            sql.SQL("visibility text[] NOT NULL"),
        ]
        columns += [sql.SQL("{} text").format(sql.Identifier(n)) for n in layout.keyword_fields]
        columns += [sql.SQL("{} text[]").format(sql.Identifier(n)) for n in layout.multi_fields]
        columns += [sql.SQL("{} date").format(sql.Identifier(n)) for n in layout.date_fields]
        statements = [
            sql.SQL("DROP TABLE IF EXISTS {}").format(self._table),
            sql.SQL("DROP TABLE IF EXISTS {}").format(self._meta_table),
            sql.SQL("CREATE TABLE {} ({})").format(self._table, sql.SQL(", ").join(columns)),
            self._index_statement("terms", "gin"),
            self._index_statement("visibility", "gin"),
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
                sql.SQL("INSERT INTO {} VALUES ('analysis_version', %s), ('layout', %s)").format(
                    self._meta_table
                ),
                (str(analysis.ANALYSIS_VERSION), layout.to_json()),
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

    def index(self, documents: Iterable[Document]) -> None:
        layout = self.layout
        filters = layout.keyword_fields + layout.multi_fields + layout.date_fields
        names = ["id", "terms", "original", "visibility", *filters]
        statement = sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES ({values}) "
            "ON CONFLICT (id) DO UPDATE SET {updates}"
        ).format(
            table=self._table,
            columns=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(
                sql.SQL("%s::tsvector") if name == "terms" else sql.Placeholder() for name in names
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
            tsvector_literal(texts, layout.text_fields),
            json.dumps(texts, ensure_ascii=False),
            sorted(document.visibility),
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
        table = self._table
        sort_by_date = query.sort == "date" or (parsed.is_empty and self.layout.sort_date)
        if sort_by_date:
            order = sql.SQL("{} DESC NULLS LAST, id").format(sql.Identifier(self.layout.sort_date))
        elif tsquery is not None:
            order = sql.SQL("score DESC, id")
        else:
            order = sql.SQL("id")
        ranked = tsquery is not None and not sort_by_date
        # Ranked on every term alike (ts_rank gives an AND of words in two fields almost 0).
        score = sql.SQL("ts_rank(terms, %s::tsquery)") if ranked else sql.SQL("0.0")
        page_statement = sql.SQL(
            "SELECT id, {score} AS score, original FROM {table} WHERE {where} "
            "ORDER BY {order} LIMIT %s OFFSET %s"
        ).format(score=score, table=table, where=where, order=order)
        page_params = ([any_term_literal(parsed)] if ranked else []) + params
        page_params += [query.page_size, (query.page - 1) * query.page_size]
        with self._lock, self._reader.transaction():
            # One snapshot for the count, the page and the facets, so they agree.
            self._reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            total = self._reader.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, where), params
            ).fetchone()[0]
            rows = self._reader.execute(page_statement, page_params).fetchall()
            facets = {name: self._facet(name, where, params) for name in query.facets}
        hits = [
            Hit(document_id, float(rank), _highlights(original, parsed))
            for document_id, rank, original in rows
        ]
        return SearchResults(total, hits, facets)

    def _facet(self, name: str, where: sql.Composable, params: list) -> dict[str, int]:
        column = sql.Identifier(name)
        if name in self.layout.multi_fields:
            statement = sql.SQL(
                "SELECT value, count(*) FROM {table}, unnest({column}) AS value "
                "WHERE {where} GROUP BY value ORDER BY count(*) DESC, value"
            )
        else:
            statement = sql.SQL(
                "SELECT {column}, count(*) FROM {table} WHERE {where} AND {column} IS NOT NULL "
                "GROUP BY {column} ORDER BY count(*) DESC, {column}"
            )
        statement = statement.format(table=self._table, column=column, where=where)
        return dict(self._reader.execute(statement, params).fetchall())


def _highlights(original: dict, parsed: parsing.ParsedQuery) -> dict[str, str]:
    if parsed.is_empty:
        return {}
    snippets = {name: parsed.highlight(text) for name, text in original.items()}
    return {name: snippet for name, snippet in snippets.items() if snippet is not None}
