"""The values a Whoosh search filters, counts and sorts by, read once per segment into lists.

Whoosh answers "which documents hold this value" (postings). A search page also needs the reverse:
the values of each matching document, to check visibility, count facets and sort by date. Asking
Whoosh per document, or re-running a query per filter value, cost more than the search itself, so
each segment's values are read once, a block of postings at a time, into plain lists indexed by
document number. A segment never changes once written (a deletion only marks documents in a
separate set), so its lists live as long as the segment: a commit adds one small segment and reads
only that one. A `View` lays the segments' lists end to end in the searcher's document order, so a
searcher's document number indexes them directly.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import FilterMatcher
from whoosh.reading import TermNotFound

from indexing.backends.base import Layout

VISIBILITY = "visibility"
MISSING_NUMBER = 2**31 - 1  # what a Whoosh numeric column holds for a document without the value


def read_postings(leaf, fieldname: str, text: str, *, weights: bool = False):
    """The document numbers (in the segment) holding a term, deleted ones included, and with
    `weights` the term's frequency in each (else None).

    Read a block at a time: the matcher API costs a Python call per posting, ten times slower.
    `_read_ids`, `_read_weights`, `_ids`, `_weights` and `_next_block` are Whoosh-Reloaded
    2.7.5's (pinned in pyproject.toml); any other matcher goes through the public API."""
    try:
        matcher = leaf.postings(fieldname, text)
    except TermNotFound:
        return [], [] if weights else None
    if isinstance(matcher, FilterMatcher):  # it hides deletions, which the caller removes
        matcher = matcher.child
    ids: list[int] = []
    frequencies: list[float] | None = [] if weights else None
    if not isinstance(matcher, W3LeafMatcher):
        while matcher.is_active():
            ids.append(matcher.id())
            if weights:
                frequencies.append(matcher.weight())
            matcher.next()
        return ids, frequencies
    while matcher.is_active():
        matcher._read_ids()
        ids.extend(matcher._ids)
        if weights:
            matcher._read_weights()
            frequencies.extend(matcher._weights)
        matcher._next_block()
    return ids, frequencies


def posting_ids(leaf, fieldname: str, text: str) -> list[int]:
    return read_postings(leaf, fieldname, text)[0]


def field_terms(leaf, fieldname: str) -> Iterable[str]:
    if fieldname not in leaf.indexed_field_names():
        return ()
    return leaf.field_terms(fieldname)


def read_segment(leaf, layout: Layout) -> dict[str, list]:
    """Each document's visibility keys and filter values in one segment."""
    size = leaf.doc_count_all()
    columns: dict[str, list] = {}
    for name in (VISIBILITY, *layout.multi_fields):
        values: list = [() for _ in range(size)]
        for text in field_terms(leaf, name):
            for docnum in posting_ids(leaf, name, text):
                values[docnum] += (text,)
        columns[name] = values
    for name in layout.keyword_fields:
        values = [None] * size
        for text in field_terms(leaf, name):
            for docnum in posting_ids(leaf, name, text):
                values[docnum] = text
        columns[name] = values
    for name in layout.date_fields:
        columns[name] = [
            None if value == MISSING_NUMBER else value for value in leaf.column_reader(name)
        ]
    return columns


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class View:
    """A searcher with its documents' values; valid until the searcher is replaced."""

    searcher: object
    leaves: tuple[tuple[object, int], ...]  # (segment reader, its first document number)
    columns: dict[str, list]
    deleted: frozenset[int]
    size: int  # document numbers run from 0 to size - 1, deleted ones included
    multi: frozenset[str]  # the columns holding several values per document

    def frequencies(self, fieldname: str, text: str, *, weights: bool = True) -> dict[int, float]:
        """Each document holding the term (deleted ones included: see `live`) -> how often
        (1.0 for every document without `weights`: a search sorted by date needs no score)."""
        found: dict[int, float] = {}
        for leaf, offset in self.leaves:
            ids, frequencies = read_postings(leaf, fieldname, text, weights=weights)
            ids = map(offset.__add__, ids) if offset else ids
            if weights:
                found.update(zip(ids, frequencies, strict=True))
            else:
                found.update(dict.fromkeys(ids, 1.0))
        return found

    def docs_with_prefix(self, fieldname: str, prefix: str) -> set[int]:
        docs: set[int] = set()
        for leaf, offset in self.leaves:
            if fieldname not in leaf.indexed_field_names():
                continue
            for btext in leaf.expand_prefix(fieldname, prefix):
                ids = posting_ids(leaf, fieldname, btext.decode("utf-8"))
                docs.update(map(offset.__add__, ids) if offset else ids)
        return docs

    def live(self, docs: set[int] | None = None) -> set[int]:
        """`docs` (every document when None) without the deleted ones."""
        if docs is None:
            docs = set(range(self.size))
        return docs - self.deleted if self.deleted else docs

    def visible(self, docs: Iterable[int], keys: frozenset[str]) -> list[int]:
        holders = self.columns[VISIBILITY]
        return [docnum for docnum in docs if not keys.isdisjoint(holders[docnum])]

    def with_values(self, docs: list[int], fieldname: str, wanted: frozenset[str]) -> list[int]:
        values = self.columns[fieldname]
        if fieldname in self.multi:
            return [docnum for docnum in docs if not wanted.isdisjoint(values[docnum])]
        return [docnum for docnum in docs if values[docnum] in wanted]

    def within(self, docs: list[int], fieldname: str, low: int | None, high: int | None):
        values = self.columns[fieldname]
        low = -1 if low is None else low
        high = MISSING_NUMBER if high is None else high
        return [d for d in docs if values[d] is not None and low <= values[d] <= high]

    def counts(self, fieldname: str, docs: list[int]) -> dict[str, int]:
        values = map(self.columns[fieldname].__getitem__, docs)
        if fieldname in self.multi:
            values = itertools.chain.from_iterable(values)
        counts = Counter(values)
        counts.pop(None, None)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def newest(self, docs: list[int], fieldname: str, count: int) -> list[int]:
        """The `count` documents with the latest date, the last indexed first on the same day."""
        dates = self.columns[fieldname]
        return heapq.nlargest(count, docs, key=lambda d: (dates[d] or 0, d))


class ColumnStore:
    """Each segment's lists, kept while the segment exists."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._segments: dict[str, dict[str, list]] = {}

    def view(self, searcher) -> View:
        reader = searcher.reader()
        leaves = tuple(reader.leaf_readers()) if reader.doc_count_all() else ()
        kept: dict[str, dict[str, list]] = {}
        for leaf, _offset in leaves:
            segment_id = leaf.segment().segment_id()
            kept[segment_id] = self._segments.get(segment_id) or read_segment(leaf, self.layout)
        self._segments = kept  # merged-away segments are forgotten
        parts = [kept[leaf.segment().segment_id()] for leaf, _offset in leaves]
        names = (VISIBILITY, *self.layout.facet_fields, *self.layout.date_fields)
        columns = {
            name: list(itertools.chain.from_iterable(part[name] for part in parts))
            for name in names
        }
        deleted = frozenset(
            offset + docnum
            for leaf, offset in leaves
            if leaf.has_deletions()
            for docnum in leaf.deleted_docs_set
        )
        multi = frozenset((VISIBILITY, *self.layout.multi_fields))
        return View(searcher, leaves, columns, deleted, reader.doc_count_all(), multi)
