"""The acknowledgement receipt of a letter submitted on the public portal, as an A4 PDF.

The citizen gets it when the letter is registered, in their language: Arabic
(right to left) or French/English (left to right).  Everything is mirrored for
Arabic; from the top of the page:

* the letterhead -- the organisation, bold, lines centred on each other -- on
  the side where reading starts (right in Arabic), over a full-width rule;
* the title (``وصل إيداع`` / ``Accusé de réception``), large and centred;
* the fields as a two-column table: labels in bold on the start side, on a
  light grey ground, values wrapped in the other column;
* the attachments: a heading, then one row per file -- its name wrapped on the
  start side, its SHA-256 in a smaller size on the other side, the 64 hex
  digits as two lines of 32, always left to right -- or a one-cell row saying
  there are none;
* the tracking code, large, in a box on the start side, its label above it;
  the QR code of the tracking page (segno, with its 4-module quiet zone) on
  the end side, its caption under it;
* the note (how to check the electronic seal...), small and grey, under a
  rule at the foot of the last page;
* ``page / pages`` at the foot of every page when there is more than one.

The text machinery (HarfBuzz shaping, bidi isolation of Latin and numbers
inside Arabic, wrapping on measured widths) is :mod:`app.reports.layout`.  The
content is cut into items (a text line, a table row, the tracking block) and
paginated before anything is drawn: table rows taller than the room left on a
page continue on the next one, headings stay with what follows them, and
nothing is drawn outside the margins.  The PDF is a plain one (no encryption,
no form), ready to be sealed (PAdES) by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import segno
from fpdf.enums import Align, PathPaintRule

from .layout import FAMILY, Direction, PortraitPages, clean, line_height, paragraph_direction

__all__ = ["ReceiptContent", "render_receipt_pdf"]

# Layout, in millimetres unless stated.
_MARGIN_X = 18.0
_MARGIN_TOP = 15.0
_MARGIN_BOTTOM = 12.0
_HEAD_PT = 13  # organisation
_TITLE_PT = 20
_BODY_PT = 10.5  # fields table
_HEADING_PT = 12  # attachments heading
_FILE_PT = 10
_HASH_PT = 8
_TRACKING_LABEL_PT = 10
_TRACKING_PT = 18
_CAPTION_PT = 9
_NOTE_PT = 9
_FOOTER_PT = 8
_HEAD_MAX = 0.6  # of the text width: letterhead block
_LABEL_W = 0.34  # of the text width: label column of the fields table
_CELL_PAD_X = 2.0
_CELL_PAD_Y = 1.2
_QR_SIZE = 34.0  # the symbol with its quiet zone
_QR_QUIET = 4  # modules of quiet zone around the symbol
_QR_COLUMN = 50.0  # the QR and its caption, on the end side
_BOX_PAD_X = 5.0
_BOX_PAD_Y = 3.0
_BOX_MIN_W = 80.0
_COLUMN_GAP = 8.0
_HASH_SPLIT = 32  # hex digits per line
_MIN_SPLIT_LINES = 2  # a row is not cut to leave fewer lines at a page bottom
_LABEL_FILL = (236, 239, 243)
_BORDER_GREY = (150, 150, 150)
_TEXT_GREY = (90, 90, 90)
_BLACK = (0, 0, 0)


@dataclass(frozen=True)
class ReceiptContent:
    """Everything printed on a receipt, already translated and formatted.

    ``fields`` are ``(label, value)`` rows (registry number, date and time,
    administration, request type, subject, submitted by, legal deadline...);
    ``attachments`` are ``(file name, SHA-256 as 64 hex digits)`` and may be
    empty, ``no_attachments`` is then shown instead.  ``tracking_code`` stays
    left to right whatever the language; ``qr_url`` (http or https) is drawn
    as a QR code with ``qr_caption`` under it; ``note`` is the paragraph at
    the foot (line breaks kept).
    """

    rtl: bool
    organisation: str
    title: str
    fields: Sequence[tuple[str, str]]
    attachments_title: str
    attachments: Sequence[tuple[str, str]]
    no_attachments: str
    tracking_label: str
    tracking_code: str
    qr_url: str
    qr_caption: str
    note: str


@dataclass(frozen=True)
class _Text:
    """One wrapped line of text, as drawn in its box."""

    text: str
    size: float
    direction: Direction
    style: str = ""
    align: Align | None = None  # None: the start of the line's direction

    @property
    def height(self) -> float:
        return line_height(self.size)


@dataclass(frozen=True)
class _Cell:
    """A table cell: its column and its wrapped lines, from the top."""

    x: float
    w: float
    lines: tuple[_Text, ...]
    fill: tuple[int, int, int] | None = None

    @property
    def height(self) -> float:
        return sum(line.height for line in self.lines)


@dataclass
class _Item:
    """What is placed on a page as one: a line of text, a table row, the tracking block."""

    height: float
    draw: Callable[[float], None]  # given the item's top
    space_before: float = 0.0  # dropped at the top of a page
    keep_with_next: bool = False
    # Cuts the item to fit ``room``: the part that fits and the rest, or None.
    split: Callable[[float], tuple[_Item, _Item] | None] | None = None
    at_foot: bool = False  # pushed down to the bottom margin on the last page


class _ReceiptPDF(PortraitPages):
    def __init__(self, *, texts: Sequence[str], rtl: bool) -> None:
        super().__init__(
            texts=texts,
            rtl=rtl,
            margin_x=_MARGIN_X,
            margin_top=_MARGIN_TOP,
            margin_bottom=_MARGIN_BOTTOM,
            footer_pt=_FOOTER_PT,
        )

    def draw_text(self, x: float, y: float, w: float, line: _Text) -> None:
        self.set_font(FAMILY, line.style, line.size)
        self.draw_line(x, y, w, line.height, line.text, line.direction, line.align)

    def wrap_text(
        self, text: str, width: float, size: float, style: str = "", align: Align | None = None
    ) -> list[_Text]:
        """``text`` wrapped to ``width``, each paragraph in its own direction."""
        self.set_font(FAMILY, style, size)
        lines: list[_Text] = []
        for segment in text.split("\n"):
            direction = paragraph_direction(segment, self.rtl)
            lines.extend(
                _Text(line, size, direction, style, align) for line in self.wrap(segment, width)
            )
        return lines


# -- building the items --------------------------------------------------------------


def _text_items(
    pdf: _ReceiptPDF,
    lines: Sequence[_Text],
    x: float,
    w: float,
    *,
    colour: tuple[int, int, int] = _BLACK,
    space_before: float = 0.0,
    keep_together: bool = False,
) -> list[_Item]:
    """One item per line, in the box of ``x`` and ``w``."""

    def drawer(line: _Text) -> Callable[[float], None]:
        def draw(top: float) -> None:
            pdf.set_text_color(*colour)
            pdf.draw_text(x, top, w, line)
            pdf.set_text_color(*_BLACK)

        return draw

    items = [_Item(line.height, drawer(line), keep_with_next=keep_together) for line in lines]
    if items:
        items[0].space_before = space_before
    return items


def _letterhead(pdf: _ReceiptPDF, organisation: str) -> list[_Item]:
    """The organisation on the start side, lines centred on each other, over a rule."""
    if not organisation:
        return []
    max_w = pdf.epw * _HEAD_MAX
    lines = pdf.wrap_text(organisation, max_w, _HEAD_PT, "B", Align.C)
    pdf.set_font(FAMILY, "B", _HEAD_PT)
    head_w = min(max_w, max(pdf.width(line.text.strip(" ")) for line in lines) + 1)
    items = _text_items(pdf, lines, pdf.start_x(head_w), head_w, keep_together=True)
    last = items[-1]
    draw_text, text_h = last.draw, last.height

    def draw_with_rule(top: float) -> None:
        draw_text(top)
        y = top + text_h + 2.5
        pdf.set_draw_color(*_BLACK)
        pdf.set_line_width(0.4)
        pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)

    last.draw = draw_with_rule
    last.height += 3.0
    return items


def _inner(width: float) -> float:
    """Width of the text in a cell of ``width``."""
    return width - 2 * _CELL_PAD_X


def _row(pdf: _ReceiptPDF, cells: Sequence[_Cell], space_before: float = 0.0) -> _Item:
    """A bordered table row; a row taller than the room left is cut between lines."""
    height = max(cell.height for cell in cells) + 2 * _CELL_PAD_Y

    def draw(top: float) -> None:
        pdf.set_draw_color(*_BORDER_GREY)
        pdf.set_line_width(0.2)
        for cell in cells:
            if cell.fill:
                pdf.set_fill_color(*cell.fill)
            pdf.rect(cell.x, top, cell.w, height, style="DF" if cell.fill else "D")
            y = top + _CELL_PAD_Y
            for line in cell.lines:
                pdf.draw_text(cell.x + _CELL_PAD_X, y, cell.w - 2 * _CELL_PAD_X, line)
                y += line.height

    def split(room: float) -> tuple[_Item, _Item] | None:
        inner = room - 2 * _CELL_PAD_Y
        heads: list[_Cell] = []
        tails: list[_Cell] = []
        for cell in cells:
            used, count = 0.0, 0
            while count < len(cell.lines) and used + cell.lines[count].height <= inner + 1e-6:
                used += cell.lines[count].height
                count += 1
            heads.append(_Cell(cell.x, cell.w, cell.lines[:count], cell.fill))
            tails.append(_Cell(cell.x, cell.w, cell.lines[count:], cell.fill))
        taken = max(len(cell.lines) for cell in heads)
        if taken < _MIN_SPLIT_LINES or not any(cell.lines for cell in tails):
            return None
        return _row(pdf, heads, space_before), _row(pdf, tails)

    return _Item(height, draw, space_before=space_before, split=split)


def _fields(
    pdf: _ReceiptPDF, fields: Sequence[tuple[str, str]], space_before: float
) -> list[_Item]:
    """Label (bold, start side) and value (wrapped) rows."""
    label_w = pdf.epw * _LABEL_W
    value_w = pdf.epw - label_w
    items: list[_Item] = []
    for label, value in fields:
        label_cell = _Cell(
            pdf.start_x(label_w),
            label_w,
            tuple(pdf.wrap_text(label, _inner(label_w), _BODY_PT, "B")),
            _LABEL_FILL,
        )
        value_cell = _Cell(
            pdf.end_x(value_w),
            value_w,
            tuple(pdf.wrap_text(value, _inner(value_w), _BODY_PT)),
        )
        items.append(_row(pdf, [label_cell, value_cell], 0.0 if items else space_before))
    return items


def _hash_lines(pdf: _ReceiptPDF, digest: str, width: float) -> list[_Text]:
    """The digest on one line, or as two halves of 32 digits, left to right."""
    pdf.set_font(FAMILY, "", _HASH_PT)
    if pdf.width(digest) <= width:
        parts = [digest]
    elif len(digest) == 2 * _HASH_SPLIT and all(
        pdf.width(half) <= width for half in (digest[:_HASH_SPLIT], digest[_HASH_SPLIT:])
    ):
        parts = [digest[:_HASH_SPLIT], digest[_HASH_SPLIT:]]
    else:  # not a SHA-256 after all: wrapped like any word
        parts = [line.strip(" ") for line in pdf.wrap(digest, width)]
    return [_Text(part, _HASH_PT, "ltr", "", Align.L) for part in parts]


def _attachments(
    pdf: _ReceiptPDF,
    title: str,
    attachments: Sequence[tuple[str, str]],
    no_attachments: str,
    space_before: float,
) -> list[_Item]:
    """The heading, then a row per file: name on the start side, digest on the other."""
    items = _text_items(
        pdf,
        pdf.wrap_text(title, pdf.epw, _HEADING_PT, "B"),
        pdf.l_margin,
        pdf.epw,
        space_before=space_before,
        keep_together=True,
    )
    gap = line_height(_BODY_PT) * 0.2 if items else space_before
    if not attachments:
        if not no_attachments:
            return items
        lines = pdf.wrap_text(no_attachments, _inner(pdf.epw), _FILE_PT)
        items.append(_row(pdf, [_Cell(pdf.l_margin, pdf.epw, tuple(lines))], gap))
        return items
    pdf.set_font(FAMILY, "", _HASH_PT)
    widest = max(
        [pdf.width("0" * _HASH_SPLIT)]
        + [
            pdf.width(digest[i : i + _HASH_SPLIT])
            for _name, digest in attachments
            for i in (0, _HASH_SPLIT)
        ]
    )
    hash_w = min(widest + 2 * _CELL_PAD_X + 1, pdf.epw * 0.45)
    name_w = pdf.epw - hash_w
    for name, digest in attachments:
        name_cell = _Cell(
            pdf.start_x(name_w),
            name_w,
            tuple(pdf.wrap_text(name, _inner(name_w), _FILE_PT)),
        )
        hash_cell = _Cell(
            pdf.end_x(hash_w),
            hash_w,
            tuple(_hash_lines(pdf, digest, _inner(hash_w))),
        )
        items.append(_row(pdf, [name_cell, hash_cell], gap if len(items) == 1 else 0.0))
    return items


def _draw_qr(pdf: _ReceiptPDF, url: str, x: float, y: float, size: float) -> None:
    """The QR code of ``url`` in the square (x, y, size), quiet zone included.

    Dark modules are painted as one path of rectangles (a run of dark modules
    in a row is one rectangle), filled in one go so that viewers show no
    hairlines between neighbouring modules.
    """
    matrix = segno.make_qr(url, error="m").matrix
    count = len(matrix) + 2 * _QR_QUIET
    module = size / count
    with pdf.new_path(paint_rule=PathPaintRule.FILL_NONZERO) as path:
        path.style.fill_color = "#000000"
        path.style.stroke_color = None
        for row_index, row in enumerate(matrix):
            top = y + (row_index + _QR_QUIET) * module
            column = 0
            while column < len(row):
                if not row[column]:
                    column += 1
                    continue
                start = column
                while column < len(row) and row[column]:
                    column += 1
                left = x + (start + _QR_QUIET) * module
                path.rectangle(left, top, (column - start) * module, module)


def _tracking(
    pdf: _ReceiptPDF,
    label: str,
    code: str,
    url: str,
    caption: str,
    space_before: float,
) -> list[_Item]:
    """The tracking code in a box on the start side, the QR code on the end side.

    The caption lines under the QR code follow as items of their own.
    """
    column_w = min(_QR_COLUMN, pdf.epw * 0.4)
    side_w = pdf.epw - column_w - _COLUMN_GAP
    label_lines = pdf.wrap_text(label, side_w - 2 * _BOX_PAD_X, _TRACKING_LABEL_PT, "", Align.C)
    # The code reads left to right in every language.
    pdf.set_font(FAMILY, "B", _TRACKING_PT)
    code_lines = [
        _Text(line.strip(" "), _TRACKING_PT, "ltr", "B", Align.C)
        for line in pdf.wrap(code, side_w - 2 * _BOX_PAD_X)
    ]
    widest = max(pdf.width(line.text) for line in code_lines)
    pdf.set_font(FAMILY, "", _TRACKING_LABEL_PT)
    widest = max([widest] + [pdf.width(line.text.strip(" ")) for line in label_lines])
    box_w = min(side_w, max(_BOX_MIN_W, widest + 2 * _BOX_PAD_X + 6))
    box_lines = [*label_lines, *code_lines] if label or code else []
    box_h = sum(line.height for line in box_lines) + 2 * _BOX_PAD_Y if box_lines else 0.0
    height = max(box_h, _QR_SIZE)
    box_x = pdf.start_x(side_w) + (side_w - box_w) / 2
    column_x = pdf.end_x(column_w)

    def draw(top: float) -> None:
        box_top = top + (height - box_h) / 2
        if box_lines:
            pdf.set_draw_color(*_BLACK)
            pdf.set_line_width(0.5)
            pdf.rect(box_x, box_top, box_w, box_h, style="D", round_corners=True, corner_radius=2)
        y = box_top + _BOX_PAD_Y
        for number, line in enumerate(box_lines):
            if number < len(label_lines):
                pdf.set_text_color(*_TEXT_GREY)
            pdf.draw_text(box_x + _BOX_PAD_X, y, box_w - 2 * _BOX_PAD_X, line)
            pdf.set_text_color(*_BLACK)
            y += line.height
        qr_top = top + (height - _QR_SIZE) / 2
        _draw_qr(pdf, url, column_x + (column_w - _QR_SIZE) / 2, qr_top, _QR_SIZE)

    block = _Item(height, draw, space_before=space_before)
    caption_lines = pdf.wrap_text(caption, column_w, _CAPTION_PT, "", Align.C)
    captions = _text_items(pdf, caption_lines if caption else [], column_x, column_w)
    block.keep_with_next = bool(captions)
    for item in captions[:-1]:
        item.keep_with_next = True
    return [block, *captions]


def _note(pdf: _ReceiptPDF, note: str, space_before: float) -> list[_Item]:
    """The note at the foot: small, grey, justified, under a rule."""
    if not note:
        return []
    lines = pdf.wrap_text(note, pdf.epw, _NOTE_PT)
    lines = [
        _Text(
            line.text, line.size, line.direction, align=Align.J if line.text.endswith(" ") else None
        )
        for line in lines
    ]
    items = _text_items(
        pdf, lines, pdf.l_margin, pdf.epw, colour=_TEXT_GREY, space_before=space_before
    )
    first = items[0]
    draw_text = first.draw
    rule_gap = 2.5

    def draw_with_rule(top: float) -> None:
        pdf.set_draw_color(*_BORDER_GREY)
        pdf.set_line_width(0.2)
        pdf.line(pdf.l_margin, top, pdf.w - pdf.r_margin, top)
        draw_text(top + rule_gap)

    first.draw = draw_with_rule
    first.height += rule_gap
    for item in items:
        item.keep_with_next = True
        item.at_foot = True
    items[-1].keep_with_next = False
    return items


# -- pagination ----------------------------------------------------------------------


def _paginate(items: Sequence[_Item], top: float, bottom: float) -> list[list[tuple[_Item, float]]]:
    """Give every item a page and a y.

    Items chained by ``keep_with_next`` move to a new page together when they
    do not fit at the bottom of the current one (unless the chain is taller
    than a page: it is then broken where the page ends).  An item that does
    not fit is cut when it can be (a table row, between lines); otherwise it
    goes to the next page.
    """
    pages: list[list[tuple[_Item, float]]] = [[]]
    pending = list(items)
    y = top
    index = 0
    chain_end = -1

    def new_page() -> None:
        nonlocal y
        pages.append([])
        y = top

    while index < len(pending):
        item = pending[index]
        if index > chain_end:
            chain_end = index
            while chain_end < len(pending) - 1 and pending[chain_end].keep_with_next:
                chain_end += 1
            group = pending[index : chain_end + 1]
            height = sum(member.space_before + member.height for member in group)
            if pages[-1] and y + height > bottom and height - item.space_before <= bottom - top:
                new_page()
        space = item.space_before if pages[-1] else 0.0
        if y + space + item.height > bottom + 1e-6:
            parts = item.split(bottom - y - space) if item.split else None
            if parts is None:
                if pages[-1]:
                    new_page()
                    continue
                parts = item.split(bottom - top) if item.split else None
            if parts is not None:
                head, tail = parts
                pages[-1].append((head, y + space))
                new_page()
                tail.keep_with_next = item.keep_with_next
                pending[index] = tail
                continue
        pages[-1].append((item, y + space))
        y += space + item.height
        index += 1
    return pages


def _push_note_down(pages: list[list[tuple[_Item, float]]], bottom: float) -> None:
    """Move the note (the last items, ``at_foot``) down to the bottom margin of its page."""
    last = pages[-1]
    first = len(last)
    while first > 0 and last[first - 1][0].at_foot:
        first -= 1
    if first in (0, len(last)):
        return  # no note, or a note alone on its page: left at the top
    end = last[-1][1] + last[-1][0].height
    shift = bottom - end
    if shift > 0:
        last[first:] = [(item, top + shift) for item, top in last[first:]]


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or any(ch.isspace() or not ch.isprintable() for ch in url)
    ):
        raise ValueError(f"the QR code must link to an http(s) URL, not {url!r}")
    return url


def render_receipt_pdf(content: ReceiptContent) -> bytes:
    """Render the acknowledgement receipt as an A4 portrait PDF.

    All text comes already translated and formatted (see :class:`ReceiptContent`);
    user-supplied values are cleaned here (:func:`app.reports.layout.clean`).
    Typical content (up to about eight fields and five attachments) fits on
    one page; longer content continues on the following pages.

    Raises ``ValueError`` when ``qr_url`` is not an http(s) URL and
    :class:`app.reports.fonts.FontMissing` when no font is available.
    """
    url = _check_url(content.qr_url.strip())
    rtl = content.rtl
    organisation = clean(content.organisation)
    title = clean(content.title)
    fields = [(clean(label), clean(value)) for label, value in content.fields]
    fields = [(label, value) for label, value in fields if label or value]
    attachments_title = clean(content.attachments_title)
    attachments = [(clean(name), clean(digest)) for name, digest in content.attachments]
    no_attachments = clean(content.no_attachments)
    tracking_label = clean(content.tracking_label)
    tracking_code = clean(content.tracking_code)
    caption = clean(content.qr_caption)
    note = clean(content.note)

    pdf = _ReceiptPDF(
        texts=[
            *(organisation, title, attachments_title, no_attachments),
            *(tracking_label, tracking_code, caption, note),
            *(text for row in fields for text in row),
            *(text for row in attachments for text in row),
        ],
        rtl=rtl,
    )
    pdf.describe(title, organisation, datetime.now(UTC))

    lh = line_height(_BODY_PT)
    items: list[_Item] = []
    items.extend(_letterhead(pdf, organisation))
    if title:
        title_lines = pdf.wrap_text(title, pdf.epw, _TITLE_PT, "B", Align.C)
        items.extend(
            _text_items(
                pdf,
                title_lines,
                pdf.l_margin,
                pdf.epw,
                space_before=lh * 1.2 if items else 0.0,
                keep_together=True,
            )
        )
    if items:
        items[-1].keep_with_next = True  # the heading with the first row
    items.extend(_fields(pdf, fields, lh * 0.8))
    items.extend(_attachments(pdf, attachments_title, attachments, no_attachments, lh * 1.2))
    items.extend(_tracking(pdf, tracking_label, tracking_code, url, caption, lh * 1.2))
    items.extend(_note(pdf, note, lh * 1.2))

    bottom = pdf.bottom_limit
    pages = _paginate(items, pdf.t_margin, bottom)
    _push_note_down(pages, bottom)
    pdf.total_pages = len(pages)
    for page in pages:
        pdf.add_page()
        for item, top in page:
            item.draw(top)
    return bytes(pdf.output())
