"""Relevance for the Whoosh backend: Whoosh's BM25F, summed over the documents a search keeps.

Whoosh's collector ranks by walking every posting of every query term through its matcher objects,
several Python calls per posting (about 100 ms for two common words at 100,000 letters), however
few documents visibility and filters leave. The postings are already in hand from matching
(`whoosh_columns.View.frequencies`), so the score is summed from them directly, in two passes:
without document lengths (term frequency and idf only) over every kept document, then exactly,
with each document's field length, for the best few hundred, which are then ordered.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

K1, B = 1.2, 0.75  # whoosh.scoring.BM25F's defaults
CANDIDATES = 200  # documents scored exactly; a page deeper than this widens it


@dataclass(frozen=True)
class TermPostings:
    fieldname: str
    idf: float
    average_length: float
    frequencies: dict[int, float]  # document -> the term's frequency in this field


@dataclass
class Scoring:
    """What a query's matching read, kept to score the documents it found."""

    terms: list[TermPostings] = field(default_factory=list)
    constant: Counter = field(default_factory=Counter)  # a prefix match counts 1, as in Whoosh


def bm25(idf: float, frequency: float, length: float, average_length: float) -> float:
    norm = (1 - B) + B * length / average_length
    return idf * frequency * (K1 + 1) / (frequency + K1 * norm)


def rank(searcher, scoring: Scoring, kept: list[int], count: int) -> list[tuple[float, int]]:
    """The `count` best of `kept` as (score, document), best first; ties: the earlier first."""
    rough = dict.fromkeys(kept, 0.0)
    for term in scoring.terms:
        weight = term.idf * (K1 + 1)
        for docnum, frequency in term.frequencies.items():
            if docnum in rough:
                rough[docnum] += weight * frequency / (frequency + K1)
    for docnum, points in scoring.constant.items():
        if docnum in rough:
            rough[docnum] += points
    candidates = heapq.nlargest(max(CANDIDATES, count), rough, key=rough.__getitem__)
    exact = []
    for docnum in candidates:
        score = float(scoring.constant.get(docnum, 0))
        for term in scoring.terms:
            frequency = term.frequencies.get(docnum)
            if frequency:
                length = searcher.doc_field_length(docnum, term.fieldname) or 1
                score += bm25(term.idf, frequency, length, term.average_length)
        exact.append((score, docnum))
    exact.sort(key=lambda item: (-item[0], item[1]))
    return exact[:count]
