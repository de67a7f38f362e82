"""PDF export of a day's mail registry: a landscape A4 table, Arabic or French.

Text is shaped by fpdf2's HarfBuzz integration (``set_text_shaping``), which
also runs fpdf2's own implementation of the Unicode bidirectional algorithm
(UAX #9) on every string.  Two things are added on top of it here:

* The paragraph direction of each cell is chosen explicitly (see
  :func:`_paragraph_direction`) instead of relying on first-strong detection
  everywhere.
* In lines that contain Arabic or belong to a right-to-left paragraph, runs of
  Latin text and numbers are wrapped in LEFT-TO-RIGHT ISOLATE ... POP
  DIRECTIONAL ISOLATE.  Plain UAX #9 turns European digits that follow Arabic
  letters into Arabic numbers (rule W2), so ``رقم 2026/A/000123`` would
  display as ``A/000123/2026`` and ``2026-11-22`` as ``22-11-2026`` --
  correct by the algorithm, wrong for a register.  Inside an isolate the
  reference reads left to right, as one unit, in its place in the
  right-to-left sentence (what ``<bdi dir=ltr>`` does in HTML).  Isolates also
  keep numbers from nesting inside Arabic in left-to-right lines, which fpdf2
  would misplace: its line reordering knows run directions, not embedding
  levels.

Cells are word-wrapped on measured (shaped) word widths and drawn line by
line with ``cell()``, so a row taller than a page continues on the next one.
Lines without Arabic in left-to-right cells are drawn without shaping, which
is several times faster; a 1,000-row register renders in a few seconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fpdf import FPDF
from fpdf.enums import Align, TextDirection

from .fonts import find_fallback_fonts, find_font

__all__ = ["render_register_pdf"]

Direction = Literal["ltr", "rtl"]

_FAMILY = "diwan"
_FALLBACK_FAMILY = "diwanfallback"
_MM_PER_PT = 25.4 / 72

# Layout, in millimetres unless stated.
_MARGIN = 10.0
_TITLE_PT = 14
_SUBTITLE_PT = 10
_BODY_PT = 9
_FOOTER_PT = 8
_LINE_FACTOR = 1.55  # Amiri has tall ascenders and deep descenders
_CELL_PAD_X = 1.5
_CELL_PAD_Y = 0.8
_HEADER_FILL = (222, 226, 232)
_STRIPE_FILL = (246, 247, 249)
_BORDER_GREY = (150, 150, 150)
_TEXT_GREY = (90, 90, 90)

# A space-free token, or a number with space-separated thousands ("1 250,50").
_NUMBER_TOKEN = re.compile(r"(?<![^ ])\d{1,3}(?: \d{3})+(?:[.,\u066b]\d+)?(?![^ ])|[^ ]+")
_FEATURES = {"calt": False}  # see _RegisterPDF._shape
_LRI = "\u2066"
_PDI = "\u2069"
# Explicit embeddings, overrides and isolates typed by users are dropped: they
# could reorder a register entry (Trojan-Source style) or break our isolates.
# LRM/RLM/ALM are kept: harmless, and sometimes typed on purpose.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


_SIMPLE_BIDI = frozenset(("L", "EN", "ES", "ET", "CS", "WS", "ON", "B", "S"))


def _line_height(size_pt: float) -> float:
    return size_pt * _MM_PER_PT * _LINE_FACTOR


def _clean(value: object) -> str:
    """Normalise a user-supplied value to NFC text without control characters."""
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


def _has_rtl(text: str) -> bool:
    return any(_bidi(ch) in ("R", "AL") for ch in text)


def _needs_shaping(text: str) -> bool:
    """Whether ``text`` needs HarfBuzz and the bidi algorithm to display correctly.

    Plain left-to-right text (Latin with precomposed accents, digits,
    punctuation) is drawn without them, which is several times faster.
    """
    return any(
        _bidi(ch) not in _SIMPLE_BIDI or unicodedata.category(ch) in ("Mn", "Mc", "Me", "Cf")
        for ch in text
    )


def _paragraph_direction(text: str, rtl_ui: bool) -> Direction:
    """Base direction of a cell.

    Arabic interface: right-to-left as soon as the text contains any Arabic
    (so ``Réf. ٢٠٢٦/١٤٥ — وزارة الداخلية`` reads as an Arabic line), otherwise
    left-to-right (a French name keeps its trailing period on the right).
    French interface: the first strong character decides, like HTML
    ``dir="auto"``; text without strong characters is left-to-right.
    """
    if rtl_ui:
        return "rtl" if _has_rtl(text) else "ltr"
    for ch in text:
        cls = _bidi(ch)
        if cls == "L":
            return "ltr"
        if cls in ("R", "AL"):
            return "rtl"
    return "ltr"


def _anchor_span(segment: str) -> tuple[int, int] | None:
    """First and last+1 index of the Latin/digit part of ``segment``."""
    anchors = [i for i, ch in enumerate(segment) if _bidi(ch) in ("L", "EN", "AN")]
    if not anchors:
        return None
    end = anchors[-1] + 1
    while end < len(segment) and _bidi(segment[end]) == "NSM":
        end += 1
    # An abbreviation's period ("S.A.", "M.") stays with its Latin word when the
    # text goes on; at the end of the text it is left to close the Arabic sentence.
    # (Lines are stripped; draw_line() adds back a space when the text goes on.)
    if segment[end : end + 2] == ". " and _bidi(segment[end - 1]) == "L":
        end += 1
    return anchors[0], end


def _isolate(segment: str) -> str:
    span = _anchor_span(segment)
    if span is None:
        return segment
    start, end = span
    return f"{segment[:start]}{_LRI}{segment[start:end]}{_PDI}{segment[end:]}"


def _isolate_ltr_runs(line: str) -> str:
    """Wrap the Latin/number runs of a line with Arabic in LTR isolates.

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


def _word_kind(word: str) -> str:
    if _has_rtl(word):
        return "R"
    if any(_bidi(ch) == "L" for ch in word):
        return "L"
    if any(_bidi(ch) in ("EN", "AN") for ch in word):
        return "N"
    return ""


def _ltr_line_pieces(line: str) -> list[tuple[str, bool]]:
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


@dataclass(frozen=True)
class _Cell:
    lines: list[str]
    direction: Direction


class _RegisterPDF(FPDF):
    def __init__(
        self,
        *,
        title: str,
        subtitle: str,
        footer_text: str,
        rtl: bool,
        extra_text: Sequence[str],
    ) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.rtl = rtl
        self.c_margin = 0
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(False)
        self._register_fonts([title, subtitle, footer_text, *extra_text])
        self.title_text = title
        self.subtitle_text = subtitle
        self.footer_text = footer_text
        self._widths: dict[tuple[str, str, float], float] = {}
        self.set_font(_FAMILY, "", _FOOTER_PT)
        self.footer_lines = self.wrap(footer_text, self.epw * 0.8)

    @property
    def footer_height(self) -> float:
        return len(self.footer_lines) * _line_height(_FOOTER_PT)

    @property
    def bottom_limit(self) -> float:
        """Lowest y the table may reach."""
        return self.h - _MARGIN - self.footer_height - 3

    # -- fonts --------------------------------------------------------------

    def _register_fonts(self, texts: Sequence[str]) -> None:
        self.add_font(_FAMILY, "", str(find_font(bold=False)))
        self.add_font(_FAMILY, "B", str(find_font(bold=True)))
        needed = {
            ord(ch)
            for text in texts
            for ch in text
            if not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc")
        }
        covered = set(self.fonts[_FAMILY].cmap) & set(self.fonts[_FAMILY + "B"].cmap)
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

    def _start_align(self, direction: Direction) -> Align:
        """Right-aligned in the Arabic interface; elsewhere aligned where the text starts."""
        return Align.R if self.rtl or direction == "rtl" else Align.L

    def _shape(self, on: bool, direction: Direction | None = None) -> None:
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

    def _width(self, text: str) -> float:
        """Width of ``text`` in the current font, memoised (register cells repeat a lot)."""
        key = (text, self.font_style, self.font_size_pt)
        width = self._widths.get(key)
        if width is None:
            self._shape(_needs_shaping(text))
            width = self._widths[key] = self.get_string_width(text)
        return width

    def _split_word(self, word: str, width: float) -> list[str]:
        """Break a word wider than ``width`` between characters (never before a mark)."""
        pieces: list[str] = []
        current = ""
        for ch in word:
            candidate = current + ch
            if current and unicodedata.combining(ch) == 0 and self._width(candidate) > width:
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
        space = self._width(" ")
        lines: list[str] = []
        current: list[str] = []
        current_width = 0.0
        for word in words:
            word_width = self._width(word)
            if word_width > width:
                if current:
                    lines.append(" ".join(current))
                *full, last = self._split_word(word, width)
                lines.extend(full)
                current, current_width = [last], self._width(last)
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
        # draw_line() that the sentence goes on (see _isolate_ltr_runs).
        return [line + " " for line in lines[:-1]] + lines[-1:]

    def wrap(self, text: str, width: float) -> list[str]:
        """Split ``text`` into the lines it occupies in ``width`` with the current font.

        Greedy word wrap on measured (shaped, for Arabic) word widths; line
        breaks in the text are kept; lines that continue a paragraph end with
        the space they were broken at.  Measuring words rather than calling
        ``multi_cell(dry_run=True)`` keeps big registers fast: fpdf2's line
        breaker reshapes the line for every character it adds.
        """
        lines: list[str] = []
        for paragraph in text.split("\n"):
            lines.extend(self._wrap_paragraph(paragraph, width))
        return lines or [""]

    def cell_text(self, text: str, width: float, direction: Direction) -> _Cell:
        return _Cell(self.wrap(text, width), direction)

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
        """Draw one wrapped line in the box (x, y, w, h)."""
        continues = line.endswith(" ")
        line = line.strip(" ")
        if not line:
            return
        align = align or self._start_align(direction)
        if direction == "ltr" and _has_rtl(line):
            self._draw_ltr_mixed(x, y, w, h, line, align)
            return
        if direction == "rtl":
            # Isolate as if the next line's words followed (they do, in the text).
            line = _isolate_ltr_runs(line + " ")[:-1] if continues else _isolate_ltr_runs(line)
            self._shape(True, direction)
        else:
            self._shape(_needs_shaping(line), direction)  # plain Latin: no shaping, faster
        self.set_xy(x, y)
        self.cell(w, h, line, align=align)

    def _draw_ltr_mixed(
        self, x: float, y: float, w: float, h: float, line: str, align: Align
    ) -> None:
        """A left-to-right line with Arabic phrases in it, drawn piece by piece.

        fpdf2 reorders a line by the direction of its runs only, so a number
        inside an Arabic phrase of a left-to-right line (``Lettre de طلب رقم 145
        بتاريخ اليوم``) would end up between the wrong Arabic words.  Each Arabic
        phrase is therefore drawn as its own right-to-left text, where fpdf2's
        ordering is right, and placed in the line in logical order.
        """
        pieces = [
            (_isolate_ltr_runs(text) if rtl else text, rtl, self._width(text))
            for text, rtl in _ltr_line_pieces(line)
        ]
        total = sum(width for _text, _rtl, width in pieces)
        cursor = x if align == Align.L else x + w - total
        for text, rtl, width in pieces:
            self._shape(rtl or _needs_shaping(text), "rtl" if rtl else "ltr")
            self.set_xy(cursor, y)
            self.cell(width, h, text, align=Align.L)
            cursor += width

    # -- page furniture -----------------------------------------------------

    def header(self) -> None:
        y = self.t_margin
        for text, size, style, colour in (
            (self.title_text, _TITLE_PT, "B", (0, 0, 0)),
            (self.subtitle_text, _SUBTITLE_PT, "", _TEXT_GREY),
        ):
            if not text:
                continue
            self.set_font(_FAMILY, style, size)
            self.set_text_color(*colour)
            direction = _paragraph_direction(text, self.rtl)
            lh = _line_height(size)
            for line in self.wrap(text, self.epw):
                self.draw_line(self.l_margin, y, self.epw, lh, line, direction)
                y += lh
        self.set_text_color(0, 0, 0)
        self.set_y(y + 2)

    def footer(self) -> None:
        self.set_font(_FAMILY, "", _FOOTER_PT)
        self.set_text_color(*_TEXT_GREY)
        lh = _line_height(_FOOTER_PT)
        top = self.h - _MARGIN - self.footer_height
        self.set_draw_color(*_BORDER_GREY)
        self.set_line_width(0.2)
        self.line(self.l_margin, top - 1, self.w - self.r_margin, top - 1)
        text_w = self.epw * 0.8
        # Footer text on the reading-start side, page number on the other.
        text_x = self.w - self.r_margin - text_w if self.rtl else self.l_margin
        for i, line in enumerate(self.footer_lines):
            direction = _paragraph_direction(line, self.rtl)
            self.draw_line(text_x, top + i * lh, text_w, lh, line, direction)
        number_w = self.epw - text_w
        number_x = self.l_margin if self.rtl else self.w - self.r_margin - number_w
        self.draw_line(
            number_x,
            top,
            number_w,
            lh,
            f"{self.page_no()} / {self.str_alias_nb_pages}",
            "ltr",
            align=Align.L if self.rtl else Align.R,
        )
        self.set_text_color(0, 0, 0)


def _draw_row_part(
    pdf: _RegisterPDF,
    cells: Sequence[_Cell],
    xs: Sequence[float],
    widths: Sequence[float],
    first_line: int,
    line_count: int,
    line_h: float,
    fill: tuple[int, int, int] | None,
) -> None:
    """Draw lines ``first_line .. first_line + line_count`` of every cell of a row."""
    y = pdf.get_y()
    height = line_count * line_h + 2 * _CELL_PAD_Y
    pdf.set_draw_color(*_BORDER_GREY)
    pdf.set_line_width(0.2)
    if fill:
        pdf.set_fill_color(*fill)
    for cell, x, w in zip(cells, xs, widths, strict=True):
        pdf.rect(x, y, w, height, style="DF" if fill else "D")
        for i, line in enumerate(cell.lines[first_line : first_line + line_count]):
            pdf.draw_line(
                x + _CELL_PAD_X,
                y + _CELL_PAD_Y + i * line_h,
                w - 2 * _CELL_PAD_X,
                line_h,
                line,
                cell.direction,
            )
    pdf.set_y(y + height)


def render_register_pdf(
    *,
    title: str,
    subtitle: str,
    columns: list[tuple[str, str, float]],
    rows: list[dict[str, str]],
    rtl: bool,
    footer: str,
    creation_date: datetime | None = None,
    lang: str | None = None,
) -> bytes:
    """Render a day's registry as a landscape A4 PDF table.

    ``columns`` are ``(key, header label, relative width)`` in reading order;
    with ``rtl=True`` the first column is drawn at the right edge and cells are
    right-aligned.  Long cells wrap inside their column, rows grow to their
    tallest cell, a row taller than a page continues on the next page, and the
    header row is repeated on every page.  The footer shows ``footer`` and
    "page / pages".  Pass ``creation_date`` for byte-identical output; ``lang``
    (e.g. ``"ar"``, ``"fr"``) sets the document language for screen readers.

    Raises :class:`app.reports.fonts.FontMissing` when no font is available and
    ``ValueError`` for no columns or a non-positive column width.
    """
    if not columns:
        raise ValueError("at least one column is required")
    if any(not float(weight) > 0 for _key, _label, weight in columns):
        raise ValueError("relative column widths must be positive numbers")
    total_weight = sum(float(weight) for _key, _label, weight in columns)

    title = _clean(title)
    subtitle = _clean(subtitle)
    footer_text = _clean(footer)
    labels = [_clean(label) for _key, label, _weight in columns]
    table = [[_clean(row.get(key)) for key, _label, _weight in columns] for row in rows]

    pdf = _RegisterPDF(
        title=title,
        subtitle=subtitle,
        footer_text=footer_text,
        rtl=rtl,
        extra_text=[*labels, *(value for row in table for value in row)],
    )
    pdf.set_title(title)
    if subtitle:
        pdf.set_subject(subtitle)
    pdf.set_creator("Diwan")
    if lang:
        pdf.set_lang(lang)
    pdf.set_creation_date(creation_date or datetime.now(UTC))

    widths = [pdf.epw * float(w) / total_weight for _k, _l, w in columns]
    # x of each column, in reading order; RTL puts the first column on the right.
    xs: list[float] = []
    edge = pdf.w - pdf.r_margin if rtl else pdf.l_margin
    for w in widths:
        xs.append(edge - w if rtl else edge)
        edge = edge - w if rtl else edge + w

    line_h = _line_height(_BODY_PT)
    inner = [w - 2 * _CELL_PAD_X for w in widths]

    def table_header() -> None:
        pdf.set_font(_FAMILY, "B", _BODY_PT)
        _draw_row_part(pdf, header_cells, xs, widths, 0, header_lines, line_h, _HEADER_FILL)
        pdf.set_font(_FAMILY, "", _BODY_PT)

    def new_page() -> None:
        pdf.add_page()
        table_header()

    pdf.set_font(_FAMILY, "B", _BODY_PT)
    header_cells = [
        pdf.cell_text(label, w, _paragraph_direction(label, rtl))
        for label, w in zip(labels, inner, strict=True)
    ]
    header_lines = max(len(c.lines) for c in header_cells)
    new_page()
    page_capacity = int((pdf.bottom_limit - pdf.get_y() - 2 * _CELL_PAD_Y) // line_h)
    if page_capacity < 1:
        raise ValueError("title, header row and footer leave no room for the table")

    for index, values in enumerate(table):
        pdf.set_font(_FAMILY, "", _BODY_PT)
        cells = [
            pdf.cell_text(value, w, _paragraph_direction(value, rtl))
            for value, w in zip(values, inner, strict=True)
        ]
        total = max(len(c.lines) for c in cells)
        fill = _STRIPE_FILL if index % 2 else None
        done = 0
        while done < total:
            room = int((pdf.bottom_limit - pdf.get_y() - 2 * _CELL_PAD_Y) // line_h)
            remaining = total - done
            if room < remaining:
                # Keep a row whole when it fits on a fresh page; a row taller
                # than a page is split, but not into a sliver at a page bottom.
                fits_fresh_page = done == 0 and remaining <= page_capacity
                if fits_fresh_page or room < min(3, page_capacity):
                    new_page()
                    continue
            count = min(room, remaining)
            _draw_row_part(pdf, cells, xs, widths, done, count, line_h, fill)
            done += count

    return bytes(pdf.output())
