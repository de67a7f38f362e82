"""An outgoing letter (a reply) as an A4 portrait PDF, Arabic or French.

The page follows the layout of Moroccan and Algerian administrative letters,
mirrored for Arabic:

* the letterhead -- organisation (bold) and department, lines centred on each
  other -- at the top on the side where reading starts (right in Arabic);
  the letter number and the place and date on the other side;
* the recipient block, on the end side of the page;
* ``الموضوع: …`` / ``Objet : …`` and the optional reference line, their
  labels in bold with the text hanging after them;
* the body, justified, paragraphs separated by blank lines;
* the signature block on the end side, lines centred on each other;
* ``page / pages`` at the foot of every page when there is more than one.

The text machinery (shaping, bidi isolation of Latin and numbers inside
Arabic, wrapping) is :mod:`app.reports.layout`.  The content is laid out and
paginated before anything is drawn: the heading lines of the letter stay with
the start of the body, a paragraph leaves neither its first nor its last line
alone on a page, and the signature always comes with the end of the body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fpdf.enums import Align

from .layout import FAMILY, Direction, PortraitPages, clean, line_height, paragraph_direction

__all__ = ["render_reply_pdf"]

# Layout, in millimetres unless stated.
_MARGIN_X = 20.0
_MARGIN_TOP = 15.0
_MARGIN_BOTTOM = 12.0
_HEAD_PT = 12  # organisation
_SMALL_PT = 11  # department, number, place and date
_BODY_PT = 12
_FOOTER_PT = 9
_HEAD_MAX = 0.55  # of the text width: letterhead block
_RECIPIENT_W = 0.5  # of the text width
_SIGNATURE_W = 0.45  # of the text width
_COLUMN_GAP = 8.0
_LABEL_GAP = 1.5

# A bare letter number ("2026/D/000004"): gets the usual label in front.
_BARE_NUMBER = re.compile(r"[\w/.-]*\d[\w/.-]*", re.ASCII)
_NUMBER_LABELS = {True: "رقم: ", False: "N°: "}
# "Réf. : …", "المرجع: …": the label of a reference line, bold like the subject's.
_REFERENCE_LABEL = re.compile(r"([^:\n]{1,24}:) *(\S.*)", re.DOTALL)


@dataclass(frozen=True)
class _Line:
    """One line of text, placed ``dy`` below the top of its item."""

    text: str
    x: float
    w: float
    dy: float
    size: float
    direction: Direction
    align: Align | None = None  # None: the start of the line's direction
    style: str = ""


@dataclass
class _Item:
    """What must stay on one page: a line of the body, the letterhead, the signature..."""

    height: float
    lines: list[_Line] = field(default_factory=list)
    space_before: float = 0.0  # dropped at the top of a page
    keep_with_next: bool = False
    decorate: Callable[[float], None] | None = None  # more drawing, given the item's top


class _LetterPDF(PortraitPages):
    def __init__(self, *, texts: Sequence[str], rtl: bool) -> None:
        super().__init__(
            texts=texts,
            rtl=rtl,
            margin_x=_MARGIN_X,
            margin_top=_MARGIN_TOP,
            margin_bottom=_MARGIN_BOTTOM,
            footer_pt=_FOOTER_PT,
        )

    def draw_item(self, item: _Item, top: float) -> None:
        for line in item.lines:
            self.set_font(FAMILY, line.style, line.size)
            self.draw_line(
                line.x,
                top + line.dy,
                line.w,
                line_height(line.size),
                line.text,
                line.direction,
                line.align,
            )
        if item.decorate:
            item.decorate(top)


# -- building the items --------------------------------------------------------------


def _block_lines(
    pdf: _LetterPDF,
    parts: Sequence[tuple[str, str, float]],
    width: float,
) -> tuple[list[tuple[str, str, float, Direction]], float]:
    """Wrap ``(text, style, size)`` parts to ``width``: the lines and the widest one."""
    lines: list[tuple[str, str, float, Direction]] = []
    widest = 0.0
    for text, style, size in parts:
        pdf.set_font(FAMILY, style, size)
        for segment in text.split("\n"):
            direction = paragraph_direction(segment, pdf.rtl)
            for line in pdf.wrap(segment, width):
                lines.append((line, style, size, direction))
                widest = max(widest, pdf.width(line.strip(" ")))
    return lines, widest


def _place(
    lines: Sequence[tuple[str, str, float, Direction]], x: float, w: float, align: Align | None
) -> tuple[list[_Line], float]:
    placed: list[_Line] = []
    dy = 0.0
    for text, style, size, direction in lines:
        placed.append(_Line(text, x, w, dy, size, direction, align, style))
        dy += line_height(size)
    return placed, dy


def _letterhead(
    pdf: _LetterPDF, organisation: str, department: str, number: str, place_and_date: str
) -> _Item | None:
    """Organisation and department on the start side; number, place and date opposite."""
    head_parts = [(organisation, "B", _HEAD_PT), (department, "", _SMALL_PT)]
    head_parts = [part for part in head_parts if part[0]]
    max_w = pdf.epw * _HEAD_MAX
    head, widest = _block_lines(pdf, head_parts, max_w)
    head_w = min(max_w, widest) if head else 0.0
    head_lines, head_h = _place(head, pdf.start_x(head_w), head_w, Align.C)

    side_w = pdf.epw - head_w - _COLUMN_GAP
    side_parts = [(text, "", _SMALL_PT) for text in (number, place_and_date) if text]
    side, _widest = _block_lines(pdf, side_parts, side_w)
    # Flush against the outer edge: left in Arabic, right in French.
    side_lines, side_h = _place(side, pdf.end_x(side_w), side_w, Align.L if pdf.rtl else Align.R)

    if not head_lines and not side_lines:
        return None

    def rule(top: float) -> None:
        # A short rule under the letterhead, as on printed letterheads.
        if not head_lines:
            return
        length = min(head_w * 0.4, 30.0)
        x = pdf.start_x(head_w) + (head_w - length) / 2
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(0.3)
        pdf.line(x, top + head_h + 2.5, x + length, top + head_h + 2.5)

    return _Item(max(head_h + 4, side_h), head_lines + side_lines, decorate=rule)


def _recipient(pdf: _LetterPDF, recipient_lines: Sequence[str]) -> _Item | None:
    parts = [(line, "B", _BODY_PT) for line in recipient_lines if line]
    if not parts:
        return None
    width = pdf.epw * _RECIPIENT_W
    lines, _widest = _block_lines(pdf, parts, width)
    placed, height = _place(lines, pdf.end_x(width), width, Align.R if pdf.rtl else Align.L)
    return _Item(height, placed, space_before=line_height(_BODY_PT) * 1.5, keep_with_next=True)


def _labelled(pdf: _LetterPDF, label: str, text: str, space_before: float) -> list[_Item]:
    """``label text``: the label in bold on the start side, the text wrapped after it."""
    lh = line_height(_BODY_PT)
    pdf.set_font(FAMILY, "B", _BODY_PT)
    label_w = pdf.width(label) + 0.5 if label else 0.0
    text_w = pdf.epw - label_w - (_LABEL_GAP if label else 0.0)
    text_x = pdf.l_margin if pdf.rtl else pdf.w - pdf.r_margin - text_w
    # Towards the label: the text reads on from it, whatever its own direction.
    align = Align.R if pdf.rtl else Align.L
    lines, _widest = _block_lines(pdf, [(text, "", _BODY_PT)], text_w)
    items = [
        _Item(lh, [_Line(line, text_x, text_w, 0.0, size, direction, align, style)])
        for line, style, size, direction in lines
    ]
    if label:
        direction = paragraph_direction(label, pdf.rtl)
        # Drawn first, so that the label comes first in the PDF's text too.
        items[0].lines.insert(
            0, _Line(label, pdf.start_x(label_w), label_w, 0.0, _BODY_PT, direction, align, "B")
        )
    items[0].space_before = space_before
    for item in items:
        item.keep_with_next = True
    return items


def _body(pdf: _LetterPDF, body: str, space_before: float) -> list[_Item]:
    """One item per line; a paragraph's first and last two lines stay together."""
    lh = line_height(_BODY_PT)
    pdf.set_font(FAMILY, "", _BODY_PT)
    items: list[_Item] = []
    paragraphs = [p.strip() for p in re.split(r"\n[ \u00a0]*\n", body) if p.strip()]
    for number, paragraph in enumerate(paragraphs):
        lines: list[_Item] = []
        for segment in paragraph.split("\n"):
            direction = paragraph_direction(segment, pdf.rtl)
            for line in pdf.wrap(segment, pdf.epw):
                # A line broken by the wrap is justified; the last one of a
                # paragraph or before a line break keeps its natural spacing.
                align = Align.J if line.endswith(" ") else None
                lines.append(
                    _Item(lh, [_Line(line, pdf.l_margin, pdf.epw, 0.0, _BODY_PT, direction, align)])
                )
        lines[0].space_before = space_before if number == 0 else lh * 0.5
        if len(lines) > 1:
            lines[0].keep_with_next = True  # no orphan
            lines[-2].keep_with_next = True  # no widow
        items.extend(lines)
    return items


def _signature(pdf: _LetterPDF, signature_lines: Sequence[str]) -> _Item | None:
    if not any(signature_lines):
        return None
    width = pdf.epw * _SIGNATURE_W
    parts = [(line, "B" if i == 0 else "", _BODY_PT) for i, line in enumerate(signature_lines)]
    lines: list[tuple[str, str, float, Direction]] = []
    for part in parts:
        if part[0]:
            lines.extend(_block_lines(pdf, [part], width)[0])
        else:  # an empty line leaves room (for a stamp, a handwritten signature)
            lines.append(("", "", _BODY_PT, "ltr"))
    placed, height = _place(lines, pdf.end_x(width), width, Align.C)
    return _Item(height, placed, space_before=line_height(_BODY_PT) * 2)


# -- pagination ----------------------------------------------------------------------


def _paginate(items: Sequence[_Item], top: float, bottom: float) -> list[list[tuple[_Item, float]]]:
    """Give every item a page and a y.

    Items chained by ``keep_with_next`` move to a new page together when they
    do not fit at the bottom of the current one (unless the chain is taller
    than a page: it is then broken where the page ends).
    """
    pages: list[list[tuple[_Item, float]]] = [[]]
    y = top
    index = 0
    while index < len(items):
        end = index
        while end < len(items) - 1 and items[end].keep_with_next:
            end += 1
        group = items[index : end + 1]
        height = sum(item.space_before + item.height for item in group)
        if pages[-1] and y + height > bottom and height - group[0].space_before <= bottom - top:
            pages.append([])
            y = top
        for item in group:
            space = item.space_before if pages[-1] else 0.0
            if pages[-1] and y + space + item.height > bottom:
                pages.append([])
                y, space = top, 0.0
            pages[-1].append((item, y + space))
            y += space + item.height
        index = end + 1
    return pages


def _subject_label(label: str, rtl: bool) -> str:
    """``Objet`` -> ``Objet :``, ``الموضوع`` -> ``الموضوع:``; a label with its colon is kept."""
    if not label or label.endswith((":", "：")):
        return label
    return f"{label}:" if rtl else f"{label} :"


def render_reply_pdf(
    *,
    organisation: str,
    department: str,
    number: str,
    place_and_date: str,
    recipient_lines: list[str],
    subject_label: str,
    subject: str,
    reference_line: str,
    body: str,
    signature_lines: list[str],
    rtl: bool,
    lang: str | None = None,
    creation_date: datetime | None = None,
) -> bytes:
    """Render an outgoing letter as an A4 portrait PDF.

    All text comes already translated and formatted, as it is to be printed:

    * ``organisation`` (bold) and ``department``: the letterhead; line breaks
      in them are kept.
    * ``number``: the number line, e.g. ``"رقم: 2026/D/000004"`` or
      ``"N°: 2026/D/000004"``; a bare number (no space, no colon) gets
      ``رقم:`` / ``N°:`` in front of it.
    * ``place_and_date``: e.g. ``"الرباط في 22 نونبر 2026"`` or
      ``"Rabat, le 22 novembre 2026"``.
    * ``recipient_lines``: the recipient block, one entry per line.
    * ``subject_label``: ``"الموضوع"`` / ``"Objet"`` (a colon is added unless
      it ends with one) and ``subject``.
    * ``reference_line``: the whole line (``"المرجع: رسالتكم رقم …"``,
      ``"Réf. : …"``), or ``""`` for none; the part before the first colon is
      set in bold like the subject's label.
    * ``body``: paragraphs separated by blank lines; a single line break is
      kept as such.
    * ``signature_lines``: the signature block, the first line (the signer's
      title) in bold; an empty entry leaves a blank line.

    ``rtl=True`` lays the letter out for Arabic.  Pass ``creation_date`` for
    byte-identical output; ``lang`` (``"ar"``, ``"fr"``) sets the document
    language.  The PDF title is the subject.

    Raises :class:`app.reports.fonts.FontMissing` when no font is available.
    """
    organisation = clean(organisation)
    department = clean(department)
    number = clean(number)
    if _BARE_NUMBER.fullmatch(number):
        number = _NUMBER_LABELS[rtl] + number
    place_and_date = clean(place_and_date)
    recipients = [clean(line) for line in recipient_lines]
    label = _subject_label(clean(subject_label), rtl)
    subject = clean(subject)
    reference = clean(reference_line)
    body = clean(body)
    signatures = [clean(line) for line in signature_lines]

    pdf = _LetterPDF(
        texts=[
            *(organisation, department, number, place_and_date, *recipients),
            *(label, subject, reference, body, *signatures),
        ],
        rtl=rtl,
    )
    pdf.describe(subject, organisation, creation_date or datetime.now(UTC), lang)

    lh = line_height(_BODY_PT)
    items: list[_Item] = []
    for item in (
        _letterhead(pdf, organisation, department, number, place_and_date),
        _recipient(pdf, recipients),
    ):
        if item is not None:
            items.append(item)
    if subject or label:
        items.extend(_labelled(pdf, label, subject, lh * 1.5))
    if reference:
        match = _REFERENCE_LABEL.fullmatch(reference)
        ref_label, ref_text = (match.group(1), match.group(2)) if match else ("", reference)
        items.extend(_labelled(pdf, ref_label, ref_text, lh * 0.25))
    if body:
        items.extend(_body(pdf, body, lh * 1.5))
    signature = _signature(pdf, signatures)
    if signature is not None:
        if items:
            items[-1].keep_with_next = True
            if len(items) > 1 and not items[-2].keep_with_next:
                items[-2].keep_with_next = True  # two lines of the body with it
        items.append(signature)
    if items:
        items[-1].keep_with_next = False

    pages = _paginate(items, pdf.t_margin, pdf.bottom_limit)
    pdf.total_pages = len(pages)
    for page in pages:
        pdf.add_page()
        for item, top in page:
            pdf.draw_item(item, top)
    return bytes(pdf.output())
