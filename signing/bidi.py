"""Direction runs of one line of stamp text, in the order they are drawn.

pyHanko shapes a whole line as a single run with no bidi step, so in an
Arabic line ``2026-11-22`` comes out ``22-11-6202``.  Here each line goes
through the Unicode bidirectional algorithm (UAX #9, fpdf2's implementation)
and is cut into runs of one direction, each to be shaped on its own and
placed left to right.

Latin and number runs in a line with Arabic are first wrapped in LEFT-TO-RIGHT ISOLATE ... POP
DIRECTIONAL ISOLATE.  Plain UAX #9 turns digits after Arabic letters into
Arabic numbers (rule W2), so ``المرجع: 2026/D/000123`` would read
``D/000123/2026`` and a date ``22-11-2026``: correct by the algorithm, wrong
for a reference or a date, which must read exactly as registered.  Inside an
isolate the reference reads left to right, as one unit, in its place in the
sentence (what ``<bdi dir=ltr>`` does in HTML).  The generated reports
(``app/reports/layout.py``) use the same ``isolate_ltr_runs``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from fpdf.bidi import BidiCharacter, BidiParagraph
from fpdf.enums import TextDirection

__all__ = [
    "Direction",
    "base_direction",
    "clean_line",
    "has_rtl",
    "isolate_ltr_runs",
    "visual_order_runs",
]

Direction = Literal["ltr", "rtl"]

_LRI = "\u2066"
_PDI = "\u2069"
# Explicit embeddings, overrides and isolates typed by users are dropped: they
# could reorder a name or a reference (Trojan-Source style) or break our isolates.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_ISOLATE_CLASSES = frozenset(("LRI", "RLI", "FSI", "PDI"))
# A space-free token, or a number with space-separated thousands ("1 250,50").
_NUMBER_TOKEN = re.compile(r"(?<![^ ])\d{1,3}(?: \d{3})+(?:[.,\u066b]\d+)?(?![^ ])|[^ ]+")


def _bidi(ch: str) -> str:
    return unicodedata.bidirectional(ch)


def clean_line(text: str) -> str:
    """NFC text without control characters or bidi embeddings; tabs become spaces.

    Line breaks are not allowed in a stamp line: :class:`ValueError`.
    """
    text = unicodedata.normalize("NFC", text).replace("\t", " ").translate(_BIDI_CONTROLS)
    if any(_bidi(ch) == "B" for ch in text) or "\u2028" in text:
        raise ValueError(f"a stamp line must not contain a line break: {text!r}")
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs", "Co")).strip()


def has_rtl(text: str) -> bool:
    """Whether ``text`` contains a right-to-left (Arabic, Hebrew...) letter."""
    return any(_bidi(ch) in ("R", "AL") for ch in text)


def base_direction(line: str, default: Direction = "ltr") -> Direction:
    """Direction of the line's first strong character (UAX #9 P2-P3).

    A line without one (a bare date) takes ``default``, as an HTML element
    with ``dir=auto`` takes its parent's direction.
    """
    for ch in line:
        cls = _bidi(ch)
        if cls == "L":
            return "ltr"
        if cls in ("R", "AL"):
            return "rtl"
    return default


def _anchor_span(segment: str) -> tuple[int, int] | None:
    """First and last+1 index of the Latin/digit part of ``segment``."""
    anchors = [i for i, ch in enumerate(segment) if _bidi(ch) in ("L", "EN", "AN")]
    if not anchors:
        return None
    end = anchors[-1] + 1
    while end < len(segment) and _bidi(segment[end]) == "NSM":
        end += 1
    # An abbreviation's period ("S.A.", "M.") stays with its Latin word when the
    # text goes on; at the end of the line it closes the Arabic sentence.
    if segment[end : end + 2] == ". " and _bidi(segment[end - 1]) == "L":
        end += 1
    return anchors[0], end


def _isolate(segment: str) -> str:
    span = _anchor_span(segment)
    if span is None:
        return segment
    start, end = span
    return f"{segment[:start]}{_LRI}{segment[start:end]}{_PDI}{segment[end:]}"


def isolate_ltr_runs(line: str) -> str:
    """Wrap the Latin/number runs of a line in LTR isolates.

    A run is a maximal stretch without Arabic letters, trimmed to its first and
    last Latin letter or digit.  A run with Latin letters is one isolate (so
    ``Société Générale S.A.`` keeps its word order); a run of bare numbers is
    isolated number by number (``12 - 13`` keeps the Arabic reading order),
    a number grouped by spaces (``1 250,50``) being one number.
    """
    out: list[str] = []
    start = 0
    n = len(line)
    while start < n:
        rtl = _bidi(line[start]) in ("R", "AL")
        end = start
        while end < n and (_bidi(line[end]) in ("R", "AL")) == rtl:
            end += 1
        segment = line[start:end]
        if rtl:
            out.append(segment)
        elif any(_bidi(ch) == "L" for ch in segment):
            out.append(_isolate(segment))
        else:
            out.append(_NUMBER_TOKEN.sub(lambda m: _isolate(m.group()), segment))
        start = end
    return "".join(out)


def _level_runs(visual: tuple[BidiCharacter, ...], position: dict[int, int]):
    """Group visually ordered characters into runs of one level, contiguous in the text.

    ``position`` maps ``id(char)`` to its index in logical order.  Yields
    ``(first_logical_index, last_logical_index, level)`` per run.
    """
    run: list[BidiCharacter] = []
    for char in visual:
        if run:
            last = run[-1]
            step = -1 if last.embedding_level % 2 else 1
            if (
                char.embedding_level == last.embedding_level
                and position[id(char)] == position[id(last)] + step
            ):
                run.append(char)
                continue
            yield _span(run)
        run = [char]
    if run:
        yield _span(run)


def _span(run: list[BidiCharacter]) -> tuple[int, int, int]:
    indexes = [char.character_index for char in run]
    return min(indexes), max(indexes), run[0].embedding_level


def visual_order_runs(line: str, default: Direction = "ltr") -> list[tuple[str, Direction]]:
    """Split a line into ``(text, direction)`` runs in visual (left-to-right drawing) order.

    Each run's text is in logical order, ready to be shaped in its direction
    (HarfBuzz lays out a right-to-left run right to left).  The base direction
    of the line is its first strong character, ``default`` when it has none.
    Bidi controls are not part of any run; characters the bidi algorithm sets
    aside (ZWJ, ZWNJ...) stay in the run they sit in.
    """
    line = clean_line(line)
    if not line:
        return []
    direction = base_direction(line, default)
    text = isolate_ltr_runs(line) if has_rtl(line) else line
    paragraph = BidiParagraph(
        text, base_direction=TextDirection.RTL if direction == "rtl" else TextDirection.LTR
    )
    position = {id(char): i for i, char in enumerate(paragraph.get_characters())}
    runs: list[tuple[str, Direction]] = []
    previous: tuple[int, int] | None = None  # logical span of the last run kept
    for first, last, level in _level_runs(paragraph.get_reordered_characters(), position):
        piece = text[first : last + 1]
        run_text = "".join(ch for ch in piece if _bidi(ch) not in _ISOLATE_CLASSES)
        if not run_text:
            continue
        run_direction: Direction = "rtl" if level % 2 else "ltr"
        # Runs split only by an isolate control (``Fatima⁩ — ``) are one run again.
        if runs and previous and runs[-1][1] == run_direction:
            gap = (
                text[previous[1] + 1 : first]
                if run_direction == "ltr"
                else text[last + 1 : previous[0]]
            )
            if all(_bidi(ch) in _ISOLATE_CLASSES for ch in gap):
                merged = (
                    runs[-1][0] + run_text if run_direction == "ltr" else run_text + runs[-1][0]
                )
                runs[-1] = (merged, run_direction)
                previous = (min(previous[0], first), max(previous[1], last))
                continue
        runs.append((run_text, run_direction))
        previous = (first, last)
    return runs
