"""The embedded default: a Whoosh index in a directory, analysed by `indexing.analysis`.

One writer only. `index` and `delete` collect changes; `commit` writes them as one new segment
under Whoosh's lock, so the app must run a single indexer (the worker draining the outbox); a
second process committing at the same time gets `whoosh.index.LockError` and keeps its changes.
The indexer commits small batches without merging (cheap: a new small segment) and merges now and
then (`merge`, or `optimize` for one segment).

Searchers are kept and replaced only when another commit has landed. A search finds its matches
once, from the postings of the "words" field, then trims them by visibility and filters, counts
facets and sorts by date on per-document lists (`whoosh_columns`, read once per segment), and
ranks only the documents left by relevance (`whoosh_ranking`).

Stored per document: the id, the date columns (for sorting) and the original text fields,
zlib-compressed, from which highlights are cut (the app then needs no second read per hit).
The analysis version, the layout and the schema version are kept beside the index in
`diwan-index.json`; a change of any of them needs a rebuild.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import shutil
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.analysis import Token as WhooshToken
from whoosh.analysis import Tokenizer
from whoosh.fields import ID, NUMERIC, STORED, TEXT, FieldType, Schema
from whoosh.formats import Existence
from whoosh.reading import SegmentReader

from indexing import analysis
from indexing import query as parsing
from indexing.backends import whoosh_ranking
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
from indexing.backends.whoosh_columns import ColumnStore, View
from indexing.backends.whoosh_ranking import Scoring, TermPostings

META_FILE = "diwan-index.json"
# Every search reads every segment, and Whoosh merges in Python at a few hundred documents a
# second (slower than indexing them). So only small segments (the worker's batches) are merged,
# MERGE_FACTOR at a time; a rebuild writes big segments that are never merged again.
SMALL_SEGMENT_DOCS = 5000
MERGE_FACTOR = 10
# How the Whoosh index itself is laid out (its schema beyond the layout's fields); another
# version needs a rebuild. 2: the "words" field, every text field without positions.
SCHEMA_VERSION = 2
WORDS = "words"
WORDS_SEPARATOR = "\x1e"  # a control character: never part of a word


@functools.lru_cache(maxsize=32)
def _index_tokens(text: str) -> tuple[analysis.Token, ...]:
    """A text is indexed twice, in its own field and in "words" (Whoosh adds a document's fields
    in name order, "words" last): the second analysis comes from here."""
    return tuple(analysis.index_tokens(text))


class DiwanTokenizer(Tokenizer):
    """`analysis.index_tokens` when Whoosh indexes, `analysis.query_terms` otherwise, with the
    analysis positions (clitic variants share their word's position, so phrases still match)."""

    def _analysed(self, value: str, mode: str):
        return _index_tokens(value) if mode == "index" else analysis.query_terms(value)

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
        token = WhooshToken(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for item in self._analysed(value, mode):
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


class WordsTokenizer(DiwanTokenizer):
    """The "words" field: the document's texts joined by WORDS_SEPARATOR, each analysed as in its
    own field (so from the cache); it keeps frequencies only, so positions do not matter."""

    def _analysed(self, value: str, mode: str):
        if mode != "index":
            return analysis.query_terms(value)
        return itertools.chain.from_iterable(map(_index_tokens, value.split(WORDS_SEPARATOR)))


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
    """The layout's fields, plus "words": every text field again, with frequencies but no
    positions. Matching reads it alone: one posting list per word, and a block of it unpickles
    about eight times faster than one carrying positions. Ranking adds the head fields' postings
    (short); phrases are checked on the positional per-field postings."""
    schema = Schema(
        id=ID(stored=True, unique=True),
        original=STORED(),
        visibility=VALUES(),
        words=TEXT(analyzer=WordsTokenizer(), phrase=False),
    )
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
        # Indexed or deleted, not committed yet: id -> document, or None for a deletion.
        self._pending: dict[str, Document | None] = {}
        # The ids added since `clear()` (None: the index may hold any id).
        self._added: set[str] | None = None
        self._view: View | None = None
        self._retired: list[View] = []  # replaced views, closed when no search uses them
        self._in_use: Counter[View] = Counter()
        self._columns = ColumnStore(layout)
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
            or meta.get("schema") != SCHEMA_VERSION
        )

    def is_complete(self) -> bool:
        """False from creation until `mark_complete`: an index made empty (new, lost, cleared)
        does not hold what was written before it. An index older than the flag is complete."""
        return self._meta().get("complete", True)

    def mark_complete(self) -> None:
        self._write_meta({**self._meta(), "complete": True})

    def _create(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        self._ix = whoosh_index.create_in(self.path, schema_for(self.layout))
        self._write_meta(
            {
                "analysis_version": analysis.ANALYSIS_VERSION,
                "layout": self.layout.to_json(),
                "schema": SCHEMA_VERSION,
                "complete": False,
            }
        )

    def _write_meta(self, meta: dict) -> None:
        temporary = self.path / (META_FILE + ".new")
        temporary.write_text(json.dumps(meta), encoding="utf-8")
        temporary.replace(self.path / META_FILE)

    def clear(self) -> None:
        self._pending.clear()
        self._drop_searcher()
        self._columns = ColumnStore(self.layout)
        self._ix.close()
        self._create()
        self._added = set()

    # Writing

    def index(self, documents: Iterable[Document]) -> None:
        for document in documents:
            self._pending[document.id] = document.checked(self.layout)

    def _stored_form(self, document: Document) -> dict:
        texts = {name: text for name, text in document.fields.items() if text}
        form = {
            "id": document.id,
            "original": zlib.compress(json.dumps(texts, ensure_ascii=False).encode()),
            "visibility": sorted(document.visibility),
            WORDS: WORDS_SEPARATOR.join(texts.values()),
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
        for document_id in ids:
            self._pending[document_id] = None

    def commit(self) -> None:
        """Write what was indexed and deleted since the last commit as one new segment; once
        MERGE_FACTOR segments are small, they are merged (see `_merge_small`). The last word on
        an id wins: a letter indexed and then deleted before the commit is gone (a Whoosh
        writer's delete misses its own additions)."""
        if not self._pending:
            return
        writer = self._ix.writer(compound=False)  # LockError while another writer holds the index
        pending, self._pending = self._pending, {}
        try:
            for document_id, document in pending.items():
                if document is None:
                    if self._added is None or document_id in self._added:
                        writer.delete_by_term("id", document_id)
                elif self._added is None or document_id in self._added:
                    writer.update_document(**self._stored_form(document))
                else:
                    # Known absent (the index was cleared since): adding skips the look-up of an
                    # older copy in every segment, which made a rebuild slow down as it went.
                    writer.add_document(**self._stored_form(document))
                    self._added.add(document_id)
        except BaseException:
            writer.cancel()
            raise
        writer.commit(mergetype=functools.partial(_merge_small, at_least=MERGE_FACTOR))

    def merge(self) -> None:
        """Merge every small segment the commits left (the worker's periodic round)."""
        self.commit()
        self._ix.writer(compound=False).commit(
            mergetype=functools.partial(_merge_small, at_least=2)
        )

    def optimize(self) -> None:
        """Merge everything into one segment (after a rebuild)."""
        self.commit()
        self._ix.optimize()

    def segment_count(self) -> int:
        with self._ix.reader() as reader:
            return len(reader.leaf_readers())

    def close(self) -> None:
        self.commit()
        self._drop_searcher()
        self._ix.close()

    # Searching

    @contextlib.contextmanager
    def _searching(self) -> Iterator[View]:
        """The current view, replaced when another commit has landed. A replaced view's searcher
        is closed once the last search using it ends (its segment files are open files).

        Not Searcher.refresh(): it reuses segment readers by segment id, so documents deleted
        from an old segment stayed visible."""
        with self._lock:
            if self._view is None or not self._view.searcher.up_to_date():
                if self._view is not None:
                    self._retired.append(self._view)
                self._view = self._columns.view(self._ix.searcher())
            view = self._view
            self._in_use[view] += 1
        try:
            yield view
        finally:
            with self._lock:
                self._in_use[view] -= 1
                self._close_retired()

    def _close_retired(self) -> None:
        idle = [view for view in self._retired if not self._in_use[view]]
        for view in idle:
            self._retired.remove(view)
            view.searcher.close()
        self._in_use += Counter()  # drops the zero counts

    def _drop_searcher(self) -> None:
        with self._lock:
            if self._view is not None:
                self._retired.append(self._view)
            self._view = None
            self._close_retired()

    def search(self, query: SearchQuery) -> SearchResults:
        query = query.checked(self.layout)
        parsed = parsing.parse(query.text)
        if query.text.strip() and parsed.is_empty:
            # Only stop words or punctuation: nothing to look for.
            return SearchResults(0, [], {name: {} for name in query.facets})
        sort_by_date = query.sort == "date" or (parsed.is_empty and self.layout.sort_date)
        with self._searching() as view:
            return self._search(view, query, parsed, sort_by_date)

    def _search(
        self, view: View, query: SearchQuery, parsed: parsing.ParsedQuery, sort_by_date: bool
    ) -> SearchResults:
        if parsed.is_empty:
            matched, scoring = view.live(), Scoring()
        else:
            matched, scoring = self._matching(view, parsed, scored=not sort_by_date)
            matched = view.live(matched)
        kept = self._kept(view, matched, query)
        facets = {name: view.counts(name, kept) for name in query.facets}
        first = (query.page - 1) * query.page_size
        wanted = first + query.page_size
        if sort_by_date:
            ranked = [(0.0, d) for d in view.newest(kept, self.layout.sort_date, wanted)]
        elif parsed.is_empty:
            ranked = [(0.0, d) for d in sorted(kept)[:wanted]]
        else:
            ranked = whoosh_ranking.rank(view.searcher, scoring, kept, wanted)
        hits = []
        for relevance, docnum in ranked[first:]:
            stored = view.searcher.stored_fields(docnum)
            hits.append(Hit(stored["id"], relevance, _highlights(stored, parsed)))
        return SearchResults(len(kept), hits, facets)

    def _matching(
        self, view: View, parsed: parsing.ParsedQuery, scored: bool
    ) -> tuple[set[int], Scoring]:
        """The documents the query matches, from the "words" postings directly (see
        whoosh_columns), and the postings read, to rank them with (frequencies when `scored`)."""
        scoring = Scoring()
        read: dict[str, set[int]] = {}

        def with_term(text: str) -> set[int]:
            if text not in read:
                frequencies = view.frequencies(WORDS, text, weights=scored)
                read[text] = set(frequencies)
                if frequencies and scored:
                    # Scored in "words", and again in each head field it occurs in (short
                    # postings), as BM25F sums fields: a match in the subject ranks higher.
                    for name in (WORDS, *self.layout.head_fields):
                        found = frequencies if name == WORDS else view.frequencies(name, text)
                        if found:
                            idf = view.searcher.idf(name, text)
                            average = view.searcher.avg_field_length(name) or 1
                            scoring.terms.append(TermPostings(name, idf, average, found))
            return read[text]

        def clause_docs(clause: parsing.Clause) -> set[int]:
            if isinstance(clause, parsing.Term):
                return with_term(clause.text)
            if isinstance(clause, parsing.Phrase):
                candidates = set.intersection(*map(with_term, clause.terms))  # scored as words
                if not candidates:
                    return candidates
                fields = self.layout.text_fields
                phrase = wq.Or([_phrase(name, clause) for name in fields])
                return set(view.searcher.docs_for_query(phrase))
            found = view.docs_with_prefix(WORDS, clause.text)
            scoring.constant.update(found)
            return found

        matched: set[int] = set()
        for clauses in parsed.alternatives:
            sets = sorted(map(clause_docs, clauses), key=len)
            matched |= sets[0].intersection(*sets[1:])
        return matched, scoring

    def _kept(self, view: View, docs: set[int], query: SearchQuery) -> list[int]:
        """The matches the searcher may open and the filters keep (the cheap checks first)."""
        kept = list(docs)
        for name, period in sorted(query.date_ranges.items()):
            low = period.start.toordinal() if period.start else None
            high = period.end.toordinal() if period.end else None
            kept = view.within(kept, name, low, high)
        for name, value in sorted(query.filters.items()):
            kept = view.with_values(kept, name, frozenset(multi_value(value)))
        if query.allowed is not UNRESTRICTED:
            kept = view.visible(kept, query.allowed)
        return kept


def _merge_small(writer, segments, at_least: int):
    """A Whoosh merge policy: the segments under SMALL_SEGMENT_DOCS documents are merged into
    the new one when there are `at_least` of them; the others are kept as they are."""
    small = [segment for segment in segments if segment.doc_count_all() < SMALL_SEGMENT_DOCS]
    if len(small) < at_least:
        return segments
    for segment in small:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return [segment for segment in segments if segment not in small]


def _phrase(fieldname: str, phrase: parsing.Phrase) -> wq.Query:
    if all(gap == 1 for gap in phrase.gaps):
        return wq.Phrase(fieldname, list(phrase.terms))
    # A stop word left a gap: chain the words, each at exactly its distance from the last.
    span = wq.Term(fieldname, phrase.terms[0])
    for term, gap in zip(phrase.terms[1:], phrase.gaps, strict=True):
        span = wq.SpanNear2([span, wq.Term(fieldname, term)], slop=gap, mindist=gap)
    return span


def _highlights(stored: dict, parsed: parsing.ParsedQuery) -> dict[str, str]:
    if parsed.is_empty:
        return {}
    texts = json.loads(zlib.decompress(stored["original"]))
    snippets = {name: parsed.highlight(text) for name, text in texts.items()}
    return {name: snippet for name, snippet in snippets.items() if snippet is not None}
