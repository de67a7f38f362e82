"""What the user typed, as clauses every backend can run: words, "phrases" and prefix* words.

Words are analysed with `analysis.query_terms` (never clitic-stripped: the index holds the stripped
variants), prefixes with `analysis.prefix_term`. Every clause must match, except that a query mixing
Arabic and Latin-script words is read as the same request typed in two languages ("شهادة العمل
attestation de travail"): the Arabic clauses together OR the Latin ones together, with the
script-neutral clauses (reference numbers, IDs) required in both.

The parsed query also marks its matches in the original text (`highlight`), from the offsets the
analysis gives each token, so snippets keep the diacritics and the case the letter was typed with.
"""

from __future__ import annotations

import functools
import html
import itertools
import re
import unicodedata
from dataclasses import dataclass

from indexing import analysis

MIN_PREFIX = 2  # a one-letter prefix expands to most of the vocabulary
SNIPPET_CHARS = 240
HIGHLIGHT_PIECE = 200  # characters analysed at a time when looking for the first match

_QUOTED = re.compile(r'"([^"]*)"?')  # an unclosed quote runs to the end


@dataclass(frozen=True)
class Term:
    text: str


@dataclass(frozen=True)
class Prefix:
    text: str


@dataclass(frozen=True)
class Phrase:
    terms: tuple[str, ...]
    gaps: tuple[int, ...]  # position distance from each term to the next (stop words leave gaps)


Clause = Term | Prefix | Phrase


@dataclass(frozen=True)
class ParsedQuery:
    alternatives: tuple[tuple[Clause, ...], ...]  # any alternative, every clause of it

    @property
    def is_empty(self) -> bool:
        return not self.alternatives

    def highlight(self, text: str, max_chars: int = SNIPPET_CHARS) -> str | None:
        """An HTML snippet of `text` with the matched words in <mark>, or None without a match.

        The text is analysed a piece at a time and only until the snippet is covered: a long
        document matched early is not analysed to its end (search pages highlight every hit)."""
        words, prefixes = self._marked_terms
        needles = self._needles
        spans: list[tuple[int, int]] = []
        for offset, piece in _pieces(text, HIGHLIGHT_PIECE):
            folded = analysis.normalise(piece)
            if not any(needle in folded for needle in needles):
                continue  # no word here can match: not worth analysing
            spans += [
                (offset + token.start, offset + token.end)
                for token in analysis.index_tokens(piece)
                if token.text in words or (prefixes and token.text.startswith(prefixes))
            ]
            if spans and offset + len(piece) >= spans[0][0] + max_chars:
                break
        if not spans:
            return None
        return _snippet(text, _merged(sorted(set(spans))), max_chars)

    @functools.cached_property
    def _marked_terms(self) -> tuple[frozenset[str], tuple[str, ...]]:
        words, prefixes = set(), set()
        for alternative in self.alternatives:
            for clause in alternative:
                if isinstance(clause, Prefix):
                    prefixes.add(clause.text)
                elif isinstance(clause, Phrase):
                    words.update(clause.terms)
                else:
                    words.add(clause.text)
        return frozenset(words), tuple(sorted(prefixes))

    @functools.cached_property
    def _needles(self) -> tuple[str, ...]:
        words, prefixes = self._marked_terms
        return tuple(set().union(*map(analysis.needles, (*words, *prefixes))))


def _pieces(text: str, size: int):
    """`text` in pieces of about `size` characters, cut at spaces (words stay whole)."""
    start = 0
    while start < len(text):
        end = len(text)
        if end - start > size:
            space = text.rfind(" ", start + size // 2, start + size)
            end = space + 1 if space != -1 else start + size
        yield start, text[start:end]
        start = end


def parse(text: str) -> ParsedQuery:
    clauses: list[Clause] = []
    position = 0
    for quoted in _QUOTED.finditer(text):
        clauses += _word_clauses(text[position : quoted.start()])
        clauses += _phrase_clauses(quoted.group(1))
        position = quoted.end()
    clauses += _word_clauses(text[position:])
    clauses = list(dict.fromkeys(clauses))  # a word typed twice is one clause
    if not clauses:
        return ParsedQuery(())
    by_script: dict[str, list[Clause]] = {"arabic": [], "latin": [], "neutral": []}
    for clause in clauses:
        by_script[_script(clause)].append(clause)
    neutral = by_script["neutral"]
    scripts = [by_script[name] for name in ("arabic", "latin") if by_script[name]]
    if not scripts:
        return ParsedQuery((tuple(neutral),))
    return ParsedQuery(tuple(tuple(group + neutral) for group in scripts))


def _word_clauses(text: str) -> list[Clause]:
    clauses: list[Clause] = []
    for word in text.split():
        if word.endswith("*"):
            stem = prefix_of(word.rstrip("*"))
            if stem is not None:
                clauses.append(Prefix(stem))
            continue
        clauses += _phrase_clauses(word)  # one typed word may analyse to several terms
    return clauses


def prefix_of(word: str) -> str | None:
    stem = analysis.prefix_term(word)
    return stem if len(stem) >= MIN_PREFIX else None


def _phrase_clauses(text: str) -> list[Clause]:
    tokens = analysis.query_terms(text)
    if not tokens:
        return []
    if len(tokens) == 1:
        return [Term(tokens[0].text)]
    gaps = tuple(max(1, b.position - a.position) for a, b in itertools.pairwise(tokens))
    return [Phrase(tuple(token.text for token in tokens), gaps)]


def _is_arabic(char: str) -> bool:
    return unicodedata.name(char, "").startswith("ARABIC")


def _script(clause: Clause) -> str:
    text = "".join(clause.terms) if isinstance(clause, Phrase) else clause.text
    if any(_is_arabic(char) for char in text):
        return "arabic"
    if any(char.isalpha() for char in text):
        return "latin"
    return "neutral"


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Variants share one word's offsets; overlapping spans become one mark."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _snippet(text: str, spans: list[tuple[int, int]], max_chars: int) -> str:
    begin, end = 0, len(text)
    if len(text) > max_chars:
        # Start a little before the first match, on a word boundary, and stop on one.
        begin = max(0, spans[0][0] - max_chars // 4)
        if begin:
            space = text.find(" ", begin, spans[0][0])
            begin = space + 1 if space != -1 else begin
        end = min(len(text), max(begin + max_chars, spans[0][1]))
        if end < len(text):
            space = text.rfind(" ", spans[0][1], end)
            end = space if space != -1 else end
    pieces = ["…" if begin else ""]
    cursor = begin
    for start, stop in spans:
        if start < begin or stop > end:
            continue
        pieces += [html.escape(text[cursor:start]), "<mark>", html.escape(text[start:stop])]
        pieces.append("</mark>")
        cursor = stop
    pieces += [html.escape(text[cursor:end]), "…" if end < len(text) else ""]
    return "".join(pieces)
