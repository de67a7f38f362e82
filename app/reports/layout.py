"""Text machinery shared by the generated PDFs: fonts, shaping, bidi, wrapping.

Text is shaped by fpdf2's HarfBuzz integration (``set_text_shaping``), which
also runs fpdf2's own implementation of the Unicode bidirectional algorithm
(UAX #9) on every string.  Two things are added on top of it here:

* The paragraph direction of each block of text is chosen explicitly (see
  :func:`paragraph_direction`) instead of relying on first-strong detection
  everywhere.
* In lines that contain Arabic or belong to a right-to-left paragraph, runs of
  Latin text and numbers are wrapped in LEFT-TO-RIGHT ISOLATE ... POP
  DIRECTIONAL ISOLATE.  Plain UAX #9 turns European digits that follow Arabic
  letters into Arabic numbers (rule W2), so ``رقم 2026/A/000123`` would
  display as ``A/000123/2026`` and ``2026-11-22`` as ``22-11-2026`` --
  correct by the algorithm, wrong for a register or a letter.  Inside an
  isolate the reference reads left to right, as one unit, in its place in the
  right-to-left sentence (what ``<bdi dir=ltr>`` does in HTML).  Isolates also
  keep numbers from nesting inside Arabic in left-to-right lines, which fpdf2
  would misplace: its line reordering knows run directions, not embedding
  levels.

Text is word-wrapped on measured (shaped) word widths by :meth:`ShapedPDF.wrap`
and drawn line by line by :meth:`ShapedPDF.draw_line`.  Lines without Arabic
in left-to-right paragraphs are drawn without shaping, which is several times
faster.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from fpdf import FPDF
from fpdf.enums import Align, TextDirection
from fpdf.line_break import TextLine

from signing.bidi import isolate_ltr_runs  # one bidi rule for reports and signature stamps

from .fonts import find_fallback_fonts, find_font

__all__ = [
    "FAMILY",
    "Direction",
    "ShapedPDF",
    "clean",
    "has_rtl",
    "isolate_ltr_runs",
    "line_height",
    "ltr_line_pieces",
    "needs_shaping",
    "paragraph_direction",
]

Direction = Literal["ltr", "rtl"]

FAMILY = "diwan"
_FALLBACK_FAMILY = "diwanfallback"
_MM_PER_PT = 25.4 / 72
_LINE_FACTOR = 1.55  # Amiri has tall ascenders and deep descenders

# A space-free token, or a number with space-separated thousands ("1 250,50").
_FEATURES = {"calt": False}  # see ShapedPDF.shape
# Explicit embeddings, overrides and isolates typed by users are dropped: they
# could reorder a register entry (Trojan-Source style) or break our isolates.
# LRM/RLM/ALM are kept: harmless, and sometimes typed on purpose.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))

_SIMPLE_BIDI = frozenset(("L", "EN", "ES", "ET", "CS", "WS", "ON", "B", "S"))


def line_height(size_pt: float) -> float:
    """Height in millimetres of a text line in a ``size_pt`` font."""
    return size_pt * _MM_PER_PT * _LINE_FACTOR


def clean(value: object) -> str:
    """Normalise a user-supplied value to NFC text without control characters.

    Line breaks of every kind become ``\\n``; tabs become spaces; bidi
    embeddings, overrides and isolates are dropped; the result is stripped.
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    for newline in ("\r\n", "\r", "\u2028", "\u2029", "\x0b", "\x0c", "\x85"):
        text = text.replace(newline, "\n")
    text = text.replace("\t", " ")
    text = text.translate(_BIDI_CONTROLS)
    return "".join(
        ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs", "Co")
    ).strip()


def _bidi(ch: str) -> str:
    return unicodedata.bidirectional(ch)


def has_rtl(text: str) -> bool:
    """Whether ``text`` contains a right-to-left (Arabic, Hebrew...) letter."""
    return any(_bidi(ch) in ("R", "AL") for ch in text)


def needs_shaping(text: str) -> bool:
    """Whether ``text`` needs HarfBuzz and the bidi algorithm to display correctly.

    Plain left-to-right text (Latin with precomposed accents, digits,
    punctuation) is drawn without them, which is several times faster.
    """
    return any(
        _bidi(ch) not in _SIMPLE_BIDI or unicodedata.category(ch) in ("Mn", "Mc", "Me", "Cf")
        for ch in text
    )


def paragraph_direction(text: str, rtl_ui: bool) -> Direction:
    """Base direction of a block of text.

    Arabic interface: right-to-left as soon as the text contains any Arabic
    (so ``Réf. ٢٠٢٦/١٤٥ — وزارة الداخلية`` reads as an Arabic line), otherwise
    left-to-right (a French name keeps its trailing period on the right).
    French interface: the first strong character decides, like HTML
    ``dir="auto"``; text without strong characters is left-to-right.
    """
    if rtl_ui:
        return "rtl" if has_rtl(text) else "ltr"
    for ch in text:
        cls = _bidi(ch)
        if cls == "L":
            return "ltr"
        if cls in ("R", "AL"):
            return "rtl"
    return "ltr"


def _word_kind(word: str) -> str:
    if has_rtl(word):
        return "R"
    if any(_bidi(ch) == "L" for ch in word):
        return "L"
    if any(_bidi(ch) in ("EN", "AN") for ch in word):
        return "N"
    return ""


def ltr_line_pieces(line: str) -> list[tuple[str, bool]]:
    """Split a left-to-right line into (text, is_arabic_phrase) pieces, in order.

    An Arabic phrase runs from a word with Arabic letters to the last following
    word with Arabic letters or a bare number (``رقم 145``: the number belongs
    to the phrase, as UAX #9 rule W2 has it) before a word with Latin letters.
    Words with Latin letters, and punctuation around a phrase (``(وزارة).``),
    stay on the left-to-right side.
    """
    words = line.split(" ")
    kinds = [_word_kind(word) for word in words]
    spans: list[tuple[int, int, bool]] = []  # word index range, is_phrase
    i = 0
    while i < len(words):
        if kinds[i] != "R":
            start = i
            while i < len(words) and kinds[i] != "R":
                i += 1
            spans.append((start, i, False))
            continue
        end, j = i, i + 1
        while j < len(words) and kinds[j] != "L":
            if kinds[j] in ("R", "N"):
                end = j
            j += 1
        spans.append((i, end + 1, True))
        i = end + 1
    pieces: list[tuple[str, bool]] = []

    def add_ltr(text: str) -> None:
        if not text:
            return
        if pieces and not pieces[-1][1]:
            pieces[-1] = (pieces[-1][0] + text, False)
        else:
            pieces.append((text, False))

    for index, (start, stop, phrase) in enumerate(spans):
        text = " ".join(words[start:stop])
        if index > 0:
            add_ltr(" ")
        if not phrase:
            add_ltr(text)
            continue
        strong = [k for k, ch in enumerate(text) if _bidi(ch) in ("R", "AL", "EN", "AN", "NSM")]
        add_ltr(text[: strong[0]])
        pieces.append((text[strong[0] : strong[-1] + 1], True))
        add_ltr(text[strong[-1] + 1 :])
    return pieces


class ShapedPDF(FPDF):
    """An A4 FPDF, in millimetres, that wraps and draws Arabic/Latin text correctly.

    ``texts`` is all the text the document will show: it decides whether
    fallback fonts are needed.  ``rtl`` is the interface direction (Arabic).
    The font family to select is :data:`FAMILY` (styles ``""`` and ``"B"``).
    """

    def __init__(self, *, orientation: str, texts: Sequence[str], rtl: bool) -> None:
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self.rtl = rtl
        self.c_margin = 0
        self._widths: dict[tuple[str, str, float], float] = {}
        self.register_fonts(texts)

    # -- fonts --------------------------------------------------------------

    def register_fonts(self, texts: Sequence[str]) -> None:
        """Add the main font (regular, bold) and, when a text needs them, fallbacks."""
        self.add_font(FAMILY, "", str(find_font(bold=False)))
        self.add_font(FAMILY, "B", str(find_font(bold=True)))
        needed = {
            ord(ch)
            for text in texts
            for ch in text
            if not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc")
        }
        covered = set(self.fonts[FAMILY].cmap) & set(self.fonts[FAMILY + "B"].cmap)
        if needed <= covered:
            return
        # Only load other fonts when the main one lacks a glyph actually used.
        families: list[str] = []
        for bold in (False, True):
            for index, path in enumerate(find_fallback_fonts(bold=bold)):
                family = f"{_FALLBACK_FAMILY}{'b' if bold else 'r'}{index}"
                self.add_font(family, "B" if bold else "", str(path))
                families.append(family)
        if families:
            self.set_fallback_fonts(families, exact_match=False)

    def get_fallback_font(self, char: str, style: str = "") -> str | None:
        # Invisible format characters (our isolates, LRM, ZWJ...) are handled by
        # HarfBuzz; switching font for them would only split shaping runs.
        if unicodedata.category(char) in ("Cf", "Cc"):
            return None
        return super().get_fallback_font(char, style)

    # -- text ---------------------------------------------------------------

    def start_align(self, direction: Direction) -> Align:
        """Right-aligned in the Arabic interface; elsewhere aligned where the text starts."""
        return Align.R if self.rtl or direction == "rtl" else Align.L

    def shape(self, on: bool, direction: Direction | None = None) -> None:
        """Turn HarfBuzz shaping (and fpdf2's bidi algorithm) on or off.

        ``direction`` is the paragraph direction (None: first strong character).
        Contextual alternates are off: Amiri's ``calt`` inserts extra kashida
        glyphs into some letter clusters (e.g. the lam of ``الكراء``), which
        fpdf2 leaves out of the ToUnicode map, so the PDF's text would contain
        stray control characters and not be searchable.  Letters still join.
        """
        if not on:
            self.set_text_shaping(False)
            return
        self.set_text_shaping(
            True,
            features=dict(_FEATURES),
            direction=TextDirection.coerce(direction.upper()) if direction else None,
        )

    def width(self, text: str) -> float:
        """Width of ``text`` in the current font, memoised (register cells repeat a lot)."""
        key = (text, self.font_style, self.font_size_pt)
        width = self._widths.get(key)
        if width is None:
            self.shape(needs_shaping(text))
            width = self._widths[key] = self.get_string_width(text)
        return width

    def _split_word(self, word: str, width: float) -> list[str]:
        """Break a word wider than ``width`` between characters (never before a mark)."""
        pieces: list[str] = []
        current = ""
        for ch in word:
            candidate = current + ch
            if current and unicodedata.combining(ch) == 0 and self.width(candidate) > width:
                pieces.append(current)
                current = ch
            else:
                current = candidate
        pieces.append(current)
        return pieces

    def _wrap_paragraph(self, paragraph: str, width: float) -> list[str]:
        words = [word for word in paragraph.split(" ") if word]
        if not words:
            return [""]
        space = self.width(" ")
        lines: list[str] = []
        current: list[str] = []
        current_width = 0.0
        for word in words:
            word_width = self.width(word)
            if word_width > width:
                if current:
                    lines.append(" ".join(current))
                *full, last = self._split_word(word, width)
                lines.extend(full)
                current, current_width = [last], self.width(last)
                continue
            needed = current_width + space + word_width if current else word_width
            if needed <= width:
                current.append(word)
                current_width = needed
            else:
                lines.append(" ".join(current))
                current, current_width = [word], word_width
        if current:
            lines.append(" ".join(current))
        # The break space stays at the end of every line but the last: it tells
        # draw_line() that the sentence goes on (see isolate_ltr_runs).
        return [line + " " for line in lines[:-1]] + lines[-1:]

    def wrap(self, text: str, width: float) -> list[str]:
        """Split ``text`` into the lines it occupies in ``width`` with the current font.

        Greedy word wrap on measured (shaped, for Arabic) word widths; line
        breaks in the text are kept; lines that continue a paragraph end with
        the space they were broken at.  Measuring words rather than calling
        ``multi_cell(dry_run=True)`` keeps big documents fast: fpdf2's line
        breaker reshapes the line for every character it adds.
        """
        lines: list[str] = []
        for paragraph in text.split("\n"):
            lines.extend(self._wrap_paragraph(paragraph, width))
        return lines or [""]

    def draw_line(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        line: str,
        direction: Direction,
        align: Align | None = None,
    ) -> None:
        """Draw one wrapped line in the box (x, y, w, h).

        ``align`` defaults to :meth:`start_align`; ``Align.J`` stretches the
        spaces of the line so that it fills ``w`` (a line without spaces is
        start-aligned instead).
        """
        continues = line.endswith(" ")
        line = line.strip(" ")
        if not line:
            return
        align = align or self.start_align(direction)
        if direction == "ltr" and has_rtl(line):
            self._draw_ltr_mixed(x, y, w, h, line, align)
            return
        if direction == "rtl":
            # Isolate as if the next line's words followed (they do, in the text).
            line = isolate_ltr_runs(line + " ")[:-1] if continues else isolate_ltr_runs(line)
            self.shape(True, direction)
        else:
            self.shape(needs_shaping(line), direction)  # plain Latin: no shaping, faster
        self.set_xy(x, y)
        if align == Align.J:
            self._justified_cell(w, h, line, self.start_align(direction))
        else:
            self.cell(w, h, line, align=align)

    def _justified_cell(self, w: float, h: float, text: str, fallback: Align) -> None:
        """``cell()`` with the spaces of ``text`` widened so that it fills ``w``.

        fpdf2's ``cell()`` refuses ``Align.J`` (``multi_cell()`` never justifies
        the last line of a paragraph, which is all a pre-wrapped line is), so
        this builds the text line ``cell()`` would and renders it justified,
        through the same fpdf2 2.8 internals that ``multi_cell()`` uses: the
        extra space is added after every space glyph, shaped text included.
        """
        text = self.normalize_text(text)
        fragments = self._preload_bidirectional_text(text, False)
        spaces = sum(fragment.characters.count(" ") for fragment in fragments)
        natural = sum(fragment.get_width(initial_cs=i != 0) for i, fragment in enumerate(fragments))
        if not spaces or natural >= w:
            self.cell(w, h, text, align=fallback)
            return
        self._render_styled_text_line(
            TextLine(
                fragments,
                text_width=natural,
                number_of_spaces=spaces,
                align=Align.J,
                height=h,
                max_width=w,
                trailing_nl=False,
            ),
            h,
        )

    def _draw_ltr_mixed(
        self, x: float, y: float, w: float, h: float, line: str, align: Align
    ) -> None:
        """A left-to-right line with Arabic phrases in it, drawn piece by piece.

        fpdf2 reorders a line by the direction of its runs only, so a number
        inside an Arabic phrase of a left-to-right line (``Lettre de طلب رقم 145
        بتاريخ اليوم``) would end up between the wrong Arabic words.  Each Arabic
        phrase is therefore drawn as its own right-to-left text, where fpdf2's
        ordering is right, and placed in the line in logical order.  Justified,
        every piece gets its share of the extra space, by its number of spaces.
        """
        pieces = [
            (isolate_ltr_runs(text) if rtl else text, rtl, self.width(text))
            for text, rtl in ltr_line_pieces(line)
        ]
        total = sum(width for _text, _rtl, width in pieces)
        spaces = sum(text.count(" ") for text, _rtl, _width in pieces)
        extra = 0.0
        if align == Align.J:
            extra = (w - total) / spaces if spaces and total < w else 0.0
            align = Align.L
        cursor = x if align == Align.L else x + w - total
        for text, rtl, width in pieces:
            self.shape(rtl or needs_shaping(text), "rtl" if rtl else "ltr")
            self.set_xy(cursor, y)
            if extra and " " in text:
                width += extra * text.count(" ")
                self._justified_cell(width, h, text, Align.L)
            else:
                self.cell(width, h, text, align=Align.L)
            cursor += width


class PortraitPages(ShapedPDF):
    """An A4 portrait document laid out by its renderer page by page (no automatic page break),
    numbered "n / N" at the foot once it has more than one page (set ``total_pages``)."""

    _FOOTER_GREY = (90, 90, 90)

    def __init__(
        self,
        *,
        texts: Sequence[str],
        rtl: bool,
        margin_x: float,
        margin_top: float,
        margin_bottom: float,
        footer_pt: float,
    ) -> None:
        super().__init__(orientation="P", texts=texts, rtl=rtl)
        self.set_margins(margin_x, margin_top, margin_x)
        self.set_auto_page_break(False)
        self.total_pages = 1
        self._margin_bottom = margin_bottom
        self._footer_pt = footer_pt

    def describe(self, title: str, author: str, created: datetime, lang: str | None = None) -> None:
        """The document's properties: its title, the organisation (first line) as author."""
        self.set_title(title)
        if author:
            self.set_author(author.split("\n")[0])
        self.set_creator("Diwan")
        if lang:
            self.set_lang(lang)
        self.set_creation_date(created)

    @property
    def bottom_limit(self) -> float:
        """Lowest y the content may reach (the page number sits below)."""
        return self.h - self._margin_bottom - line_height(self._footer_pt) - 2

    def start_x(self, width: float) -> float:
        """x of a box of ``width`` against the margin where reading starts."""
        return self.w - self.r_margin - width if self.rtl else self.l_margin

    def end_x(self, width: float) -> float:
        """x of a box of ``width`` against the margin where reading ends."""
        return self.l_margin if self.rtl else self.w - self.r_margin - width

    def footer(self) -> None:
        if self.total_pages < 2:
            return
        self.set_font(FAMILY, "", self._footer_pt)
        self.set_text_color(*self._FOOTER_GREY)
        lh = line_height(self._footer_pt)
        text = f"{self.page_no()} / {self.total_pages}"
        self.draw_line(
            self.l_margin, self.h - self._margin_bottom - lh, self.epw, lh, text, "ltr", Align.C
        )
        self.set_text_color(0, 0, 0)
