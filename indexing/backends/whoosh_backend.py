"""The embedded default: a Whoosh index in a directory, analysed by `indexing.analysis`.

One writer only. Whoosh locks the index while a writer is open, so the app must run a single
indexer (the worker draining the outbox); a second writer gets `whoosh.index.LockError`.
The indexer commits small batches without merging (`commit`, cheap: a new small segment) and
merges now and then (`merge`, or `optimize` for one segment).

Searchers are kept and refreshed only when another commit has landed. What depends only on the
index contents (the documents a set of visibility keys or a filter value allows, each document's
facet values) is cached for the current searcher and dropped when it is refreshed.

Stored per document: the id, the date columns (for sorting) and the original text fields,
zlib-compressed, from which highlights are cut (the app then needs no second read per hit).
The analysis version and the layout are kept beside the index in `diwan-index.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.analysis import Token as WhooshToken
from whoosh.analysis import Tokenizer
from whoosh.fields import ID, NUMERIC, STORED, TEXT, FieldType, Schema
from whoosh.formats import Existence

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

META_FILE = "diwan-index.json"


class DiwanTokenizer(Tokenizer):
    """`analysis.index_tokens` when Whoosh indexes, `analysis.query_terms` otherwise, with the
    analysis positions (clitic variants share their word's position, so phrases still match)."""

    def __call__(
        self,
        value,
        positions=False,
        chars=False,
        keeporiginal=False,
        removestops=True,
        start_pos=0,
        start_char=0,
        tokenize=True,
        mode="",
        **kwargs,
    ):
        produce = analysis.index_tokens if mode == "index" else analysis.query_terms
        token = WhooshToken(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for item in produce(value):
            token.text = item.text
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = item.text
            if positions:
                token.pos = start_pos + item.position
            if chars:
                token.startchar = start_char + item.start
                token.endchar = start_char + item.end
            yield token


class ValuesTokenizer(Tokenizer):
    """Each value of a list (or the one string) as one exact term: visibility keys, departments."""

    def __call__(self, value, positions=False, chars=False, mode="", **kwargs):
        token = WhooshToken(positions, chars, mode=mode, **kwargs)
        values = [value] if isinstance(value, str) else value
        for position, text in enumerate(values):
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = position
            yield token


class VALUES(FieldType):
    """Several exact, unscored values per document (Whoosh's KEYWORD splits strings instead)."""

    def __init__(self) -> None:
        self.format = Existence(field_boost=1.0)
        self.analyzer = ValuesTokenizer()
        self.scorable = False
        self.stored = False
        self.unique = False


def schema_for(layout: Layout) -> Schema:
    schema = Schema(id=ID(stored=True, unique=True), original=STORED(), visibility=VALUES())
    for name in layout.text_fields:
        schema.add(name, TEXT(analyzer=DiwanTokenizer(), phrase=True))
    for name in layout.keyword_fields:
        schema.add(name, ID())
    for name in layout.multi_fields:
        schema.add(name, VALUES())
    for name in layout.date_fields:
        schema.add(name, NUMERIC(int, bits=32, sortable=True))  # proleptic ordinal of the date
    return schema


class WhooshBackend:
    def __init__(self, path: str | os.PathLike, layout: Layout) -> None:
        self.path = Path(path)
        self.layout = layout
        self._writer = None
        self._searcher = None
        self._cache: dict[tuple, object] = {}
        self._lock = threading.Lock()
        if whoosh_index.exists_in(self.path):
            self._ix = whoosh_index.open_dir(self.path)
        else:
            self._create()

    # Version and layout

    def _meta(self) -> dict:
        try:
            return json.loads((self.path / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def stored_analysis_version(self) -> int | None:
        return self._meta().get("analysis_version")

    def needs_rebuild(self) -> bool:
        meta = self._meta()
        return (
            meta.get("analysis_version") != analysis.ANALYSIS_VERSION
            or meta.get("layout") != self.layout.to_json()
        )

    def _create(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        self._ix = whoosh_index.create_in(self.path, schema_for(self.layout))
        meta = {"analysis_version": analysis.ANALYSIS_VERSION, "layout": self.layout.to_json()}
        temporary = self.path / (META_FILE + ".new")
        temporary.write_text(json.dumps(meta), encoding="utf-8")
        temporary.replace(self.path / META_FILE)

    def clear(self) -> None:
        self._drop_writer()
        self._drop_searcher()
        self._ix.close()
        self._create()

    # Writing

    def _writer_open(self):
        if self._writer is None:
            self._writer = self._ix.writer()
        return self._writer

    def index(self, documents: Iterable[Document]) -> None:
        writer = self._writer_open()
        for document in documents:
            writer.update_document(**self._stored_form(document.checked(self.layout)))

    def _stored_form(self, document: Document) -> dict:
        texts = {name: text for name, text in document.fields.items() if text}
        form = {
            "id": document.id,
            "original": zlib.compress(json.dumps(texts, ensure_ascii=False).encode()),
            "visibility": sorted(document.visibility),
            **texts,
        }
        for name, value in document.filters.items():
            if name in self.layout.keyword_fields:
                form[name] = keyword_value(value)
            elif name in self.layout.multi_fields:
                form[name] = multi_value(value)
            else:
                form[name] = date_value(value).toordinal()
        return form

    def delete(self, ids: Iterable[str]) -> None:
        writer = self._writer_open()
        for document_id in ids:
            writer.delete_by_term("id", document_id)

    def commit(self) -> None:
        """Make what was indexed searchable: a new segment, no merge (merging is `merge`'s job)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.commit(merge=False)

    def merge(self) -> None:
        """Merge the small segments the commits left (Whoosh's own merge policy)."""
        self.commit()
        self._ix.writer().commit(merge=True)

    def optimize(self) -> None:
        """Merge everything into one segment (after a rebuild)."""
        self.commit()
        self._ix.optimize()

    def _drop_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    def close(self) -> None:
        self.commit()
        self._drop_searcher()
        self._ix.close()

    # Searching

    def _current_searcher(self):
        with self._lock:
            if self._searcher is None or not self._searcher.up_to_date():
                # Not Searcher.refresh(): it reuses segment readers by segment id, so documents
                # deleted from an old segment stayed visible. The old searcher closes when the
                # searches still using it let go of it.
                self._searcher, self._cache = self._ix.searcher(), {}
            return self._searcher, self._cache

    def _drop_searcher(self) -> None:
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
            self._searcher, self._cache = None, {}

    def _docs(self, searcher, cache: dict, key: tuple, build) -> set[int]:
        """Cached until the next commit; Whoosh only reads the set (and refuses a frozenset)."""
        docs = cache.get(key)
        if docs is None:
            docs = set(searcher.docs_for_query(build()))
            cache[key] = docs
        return docs

    def _allowed_docs(self, searcher, cache: dict, query: SearchQuery) -> set[int] | None:
        """The documents the searcher may open and the filters keep; None means every one."""
        sets = []
        if query.allowed is not UNRESTRICTED:
            keys = tuple(sorted(query.allowed))
            sets.append(
                self._docs(
                    searcher,
                    cache,
                    ("visibility", keys),
                    lambda: wq.Or([wq.Term("visibility", key) for key in keys]),
                )
            )
        for name, value in sorted(query.filters.items()):
            values = tuple(multi_value(value))
            sets.append(
                self._docs(
                    searcher,
                    cache,
                    ("filter", name, values),
                    lambda name=name, values=values: wq.Or(
                        [wq.Term(name, item) for item in values]
                    ),
                )
            )
        for name, period in sorted(query.date_ranges.items()):
            bounds = (
                period.start.toordinal() if period.start else None,
                period.end.toordinal() if period.end else None,
            )
            sets.append(
                self._docs(
                    searcher,
                    cache,
                    ("dates", name, bounds),
                    lambda name=name, bounds=bounds: wq.NumericRange(name, *bounds),
                )
            )
        if not sets:
            return None
        if len(sets) == 1:
            return sets[0]
        sets.sort(key=len)
        return sets[0].intersection(*sets[1:])

    def search(self, query: SearchQuery) -> SearchResults:
        query = query.checked(self.layout)
        parsed = parsing.parse(query.text)
        empty = SearchResults(0, [], {name: {} for name in query.facets})
        if query.text.strip() and parsed.is_empty:
            return empty  # only stop words or punctuation: nothing to look for
        searcher, cache = self._current_searcher()
        allowed = self._allowed_docs(searcher, cache, query)
        if allowed is not None and not allowed:
            # Whoosh ignores an empty filter set (it tests "if filter"): answer here instead.
            return empty
        matcher = self._whoosh_query(parsed) if not parsed.is_empty else wq.Every()
        sort_by_date = query.sort == "date" or (parsed.is_empty and self.layout.sort_date)
        options = {"filter": allowed} if allowed is not None else {}
        if sort_by_date:
            options.update(sortedby=self.layout.sort_date, reverse=True)
        page = searcher.search_page(matcher, query.page, pagelen=query.page_size, **options)
        hits = []
        for hit in page:
            stored = hit.fields()
            relevance = 0.0 if sort_by_date else float(hit.score)  # sorted: score is the date
            hits.append(Hit(stored["id"], relevance, _highlights(stored, parsed)))
        facets = {}
        if query.facets:
            matched = set(searcher.docs_for_query(matcher))
            if allowed is not None:
                matched &= allowed
            facets = {
                name: self._facet_counts(searcher, cache, name, matched) for name in query.facets
            }
        return SearchResults(page.total, hits, facets)

    def _facet_counts(self, searcher, cache: dict, name: str, matched) -> dict[str, int]:
        values_of = cache.get(("facet", name))
        if values_of is None:
            values_of = _values_by_document(searcher, name)
            cache[("facet", name)] = values_of
        counts = Counter()
        for docnum in matched:
            counts.update(values_of.get(docnum, ()))
        return dict(counts.most_common())

    def _whoosh_query(self, parsed: parsing.ParsedQuery) -> wq.Query:
        alternatives = [
            wq.And([self._clause_query(clause) for clause in clauses])
            for clauses in parsed.alternatives
        ]
        return alternatives[0] if len(alternatives) == 1 else wq.Or(alternatives)

    def _clause_query(self, clause: parsing.Clause) -> wq.Query:
        fields = self.layout.text_fields
        if isinstance(clause, parsing.Prefix):
            return wq.Or([wq.Prefix(name, clause.text) for name in fields])
        if isinstance(clause, parsing.Phrase):
            return wq.Or([_phrase(name, clause) for name in fields])
        return wq.Or([wq.Term(name, clause.text) for name in fields])


def _phrase(fieldname: str, phrase: parsing.Phrase) -> wq.Query:
    if all(gap == 1 for gap in phrase.gaps):
        return wq.Phrase(fieldname, list(phrase.terms))
    # A stop word left a gap: chain the words, each at exactly its distance from the last.
    span = wq.Term(fieldname, phrase.terms[0])
    for term, gap in zip(phrase.terms[1:], phrase.gaps, strict=True):
        span = wq.SpanNear2([span, wq.Term(fieldname, term)], slop=gap, mindist=gap)
    return span


def _values_by_document(searcher, name: str) -> dict[int, tuple[str, ...]]:
    """Each document's values of a keyword field, read once from the postings per searcher."""
    values: dict[int, list[str]] = {}
    reader = searcher.reader()
    if name not in searcher.schema:
        return {}
    for value in reader.field_terms(name):
        for docnum in searcher.docs_for_query(wq.Term(name, value)):
            values.setdefault(docnum, []).append(value)
    return {docnum: tuple(items) for docnum, items in values.items()}


def _highlights(stored: dict, parsed: parsing.ParsedQuery) -> dict[str, str]:
    if parsed.is_empty:
        return {}
    texts = json.loads(zlib.decompress(stored["original"]))
    snippets = {name: parsed.highlight(text) for name, text in texts.items()}
    return {name: snippet for name, snippet in snippets.items() if snippet is not None}
