"""PDF export of a day's mail registry: a landscape A4 table, Arabic or French.

The text machinery -- fonts, HarfBuzz shaping, paragraph direction, LTR
isolates for Latin and numbers inside Arabic, word wrapping on measured
widths -- lives in :mod:`app.reports.layout`.  Cells are word-wrapped and
drawn line by line with it, so a row taller than a page continues on the next
one; a 1,000-row register renders in a few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fpdf.enums import Align

from .layout import FAMILY as _FAMILY
from .layout import Direction, ShapedPDF, clean, line_height, paragraph_direction

__all__ = ["render_register_pdf"]

# Layout, in millimetres unless stated.
_MARGIN = 10.0
_TITLE_PT = 14
_SUBTITLE_PT = 10
_BODY_PT = 9
_FOOTER_PT = 8
_CELL_PAD_X = 1.5
_CELL_PAD_Y = 0.8
_HEADER_FILL = (222, 226, 232)
_STRIPE_FILL = (246, 247, 249)
_BORDER_GREY = (150, 150, 150)
_TEXT_GREY = (90, 90, 90)


@dataclass(frozen=True)
class _Cell:
    lines: list[str]
    direction: Direction


class _RegisterPDF(ShapedPDF):
    def __init__(
        self,
        *,
        title: str,
        subtitle: str,
        footer_text: str,
        rtl: bool,
        extra_text: Sequence[str],
    ) -> None:
        super().__init__(
            orientation="L", texts=[title, subtitle, footer_text, *extra_text], rtl=rtl
        )
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(False)
        self.title_text = title
        self.subtitle_text = subtitle
        self.footer_text = footer_text
        self.set_font(_FAMILY, "", _FOOTER_PT)
        self.footer_lines = self.wrap(footer_text, self.epw * 0.8)

    @property
    def footer_height(self) -> float:
        return len(self.footer_lines) * line_height(_FOOTER_PT)

    @property
    def bottom_limit(self) -> float:
        """Lowest y the table may reach."""
        return self.h - _MARGIN - self.footer_height - 3

    def cell_text(self, text: str, width: float, direction: Direction) -> _Cell:
        return _Cell(self.wrap(text, width), direction)

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
            direction = paragraph_direction(text, self.rtl)
            lh = line_height(size)
            for line in self.wrap(text, self.epw):
                self.draw_line(self.l_margin, y, self.epw, lh, line, direction)
                y += lh
        self.set_text_color(0, 0, 0)
        self.set_y(y + 2)

    def footer(self) -> None:
        self.set_font(_FAMILY, "", _FOOTER_PT)
        self.set_text_color(*_TEXT_GREY)
        lh = line_height(_FOOTER_PT)
        top = self.h - _MARGIN - self.footer_height
        self.set_draw_color(*_BORDER_GREY)
        self.set_line_width(0.2)
        self.line(self.l_margin, top - 1, self.w - self.r_margin, top - 1)
        text_w = self.epw * 0.8
        # Footer text on the reading-start side, page number on the other.
        text_x = self.w - self.r_margin - text_w if self.rtl else self.l_margin
        for i, line in enumerate(self.footer_lines):
            direction = paragraph_direction(line, self.rtl)
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

    title = clean(title)
    subtitle = clean(subtitle)
    footer_text = clean(footer)
    labels = [clean(label) for _key, label, _weight in columns]
    table = [[clean(row.get(key)) for key, _label, _weight in columns] for row in rows]

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

    line_h = line_height(_BODY_PT)
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
        pdf.cell_text(label, w, paragraph_direction(label, rtl))
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
            pdf.cell_text(value, w, paragraph_direction(value, rtl))
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
