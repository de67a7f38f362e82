"""The visible signature stamp: lines of Arabic/Latin text and an optional QR code.

Each line is split into direction runs (:mod:`signing.bidi`), each run is
shaped by HarfBuzz and its glyphs are drawn as filled outlines
(:mod:`signing.fonts`): no font is embedded or subsetted, so a stamp costs a
few milliseconds and stays sharp at any zoom.  The QR code is drawn as filled
rectangles.  The lines are also the widget's /Contents, the description
assistive technology reads for an annotation.

Layout: one font size for all lines, as large as the box allows (at most
:data:`MAX_FONT_SIZE`), shrunk to fit the widest line but never below
:data:`MIN_FONT_SIZE`; a line still too wide is cut at its logical end with an
ellipsis.  Each line has its own direction, its first strong character (a
line without letters, like a bare date, follows the first line): right-to-left
lines are right-aligned, left-to-right lines left-aligned.  The QR code sits
at the inline end of the stamp (left when the first line is Arabic, right
otherwise).
"""

from __future__ import annotations

import io
import itertools
import math
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import pypdfium2
import segno
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PageObject, PdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

from .bidi import Direction, base_direction, clean_line, visual_order_runs
from .fonts import GlyphRun, StampFont, find_stamp_font, load_stamp_font

__all__ = [
    "MAX_FONT_SIZE",
    "MIN_FONT_SIZE",
    "StampSpec",
    "StampStyle",
    "render_stamp_png",
    "stamp_style",
    "visual_order_runs",
]

MIN_FONT_SIZE = 5.0  # points; smaller is not legible once printed
MAX_FONT_SIZE = 11.0
MAX_LINES = 8
MAX_LINE_CHARS = 200
MAX_URL_CHARS = 512  # keeps the QR code at a version a phone reads from paper

_PADDING = 3.0  # points between the frame and the content
_FRAME_WIDTH = 0.6
_QR_GAP = 4.0  # points between the QR code and the text
_QR_QUIET_MODULES = 2  # white margin around the QR code, in modules
_QR_MIN_SIDE = 36.0  # points (12.7 mm): smaller is hard to scan from print
_QR_MAX_SHARE = 0.4  # of the inner width
_MIN_TEXT_WIDTH = 30.0  # points
# Vertical ink bounds of a line, in ems: lines are spaced by the ink they have
# (in Amiri, vowel marks over lam reach 1.23 em, descenders -0.6 em), within
# limits, so that a box checked before any font is opened always fits: marks
# stacked beyond them (Zalgo text) may touch the next line.
_MIN_TOP, _MAX_TOP = 0.75, 1.25
_MIN_BOTTOM, _MAX_BOTTOM = -0.25, -0.65
_MIN_PITCH = 1.2
_LINE_GAP = 0.08
_WORST_LINE_EMS = _MAX_TOP - _MAX_BOTTOM + _LINE_GAP
_ELLIPSIS = "\u2026"
_TEXT_GRAY = b"0.1 g"
_FRAME_GRAY = b"0.35 G"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class StampSpec:
    """What a visible signature shows and where.

    ``box`` is ``(x1, y1, x2, y2)`` in PDF user-space points on page ``page``
    (0-based), origin bottom-left; the caller creates the signature field there.
    ``lines`` are shown top to bottom, each in its own direction (first strong
    character).  ``qr_url`` (http or https) is drawn as a QR code at the inline end.
    Lines are normalised (NFC, no control characters or bidi overrides).
    """

    page: int
    box: tuple[float, float, float, float]
    lines: tuple[str, ...]
    qr_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.page, int) or isinstance(self.page, bool) or self.page < 0:
            raise ValueError(f"page must be a page index >= 0, not {self.page!r}")
        self._check_lines()
        self._check_box()
        if self.qr_url is not None:
            self._check_qr_url()

    def _check_lines(self) -> None:
        if isinstance(self.lines, str) or not self.lines:
            raise ValueError("a stamp needs at least one line of text")
        if len(self.lines) > MAX_LINES:
            raise ValueError(f"a stamp has at most {MAX_LINES} lines, not {len(self.lines)}")
        cleaned = []
        for line in self.lines:
            if not isinstance(line, str):
                raise ValueError(f"stamp lines must be text, not {line!r}")
            if len(line) > MAX_LINE_CHARS:
                raise ValueError(f"a stamp line has at most {MAX_LINE_CHARS} characters")
            text = clean_line(line)
            if all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text):
                raise ValueError(f"stamp line {len(cleaned) + 1} is empty")
            cleaned.append(text)
        object.__setattr__(self, "lines", tuple(cleaned))

    def _check_box(self) -> None:
        if len(self.box) != 4 or not all(_is_number(v) for v in self.box):
            raise ValueError(f"box must be four finite numbers (x1, y1, x2, y2), not {self.box!r}")
        x1, y1, x2, y2 = self.box
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"box must have a positive width and height: {self.box!r}")
        object.__setattr__(self, "box", (float(x1), float(y1), float(x2), float(y2)))
        width, height = x2 - x1, y2 - y1
        needed = 2 * _PADDING + len(self.lines) * _WORST_LINE_EMS * MIN_FONT_SIZE
        if height < needed:
            raise ValueError(
                f"box is {height:.0f} pt high; {len(self.lines)} lines need at least "
                f"{needed:.0f} pt"
            )
        if width < 2 * _PADDING + _MIN_TEXT_WIDTH:
            raise ValueError(
                f"box is {width:.0f} pt wide; a stamp needs at least "
                f"{2 * _PADDING + _MIN_TEXT_WIDTH:.0f} pt"
            )

    def _check_qr_url(self) -> None:
        url = self.qr_url
        if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
            raise ValueError(f"qr_url must be a URL of at most {MAX_URL_CHARS} characters")
        if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
            raise ValueError("qr_url must not contain spaces or control characters")
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"qr_url must be an http(s) URL with a host, not {url!r}")
        width = self.box[2] - self.box[0]
        height = self.box[3] - self.box[1]
        side, text_width = _qr_side_and_text_width(width, height)
        if side < _QR_MIN_SIDE or text_width < _MIN_TEXT_WIDTH:
            raise ValueError(
                f"a {width:.0f}x{height:.0f} pt box is too small for a QR code "
                f"of at least {_QR_MIN_SIDE:.0f} pt beside the text"
            )


def _qr_side_and_text_width(width: float, height: float) -> tuple[float, float]:
    inner_width = width - 2 * _PADDING
    side = min(height - 2 * _PADDING, inner_width * _QR_MAX_SHARE)
    return side, inner_width - side - _QR_GAP


# -- text lines ---------------------------------------------------------------


@dataclass(frozen=True)
class _ShapedLine:
    text: str  # logical text drawn (with the ellipsis when cut)
    direction: Direction
    runs: tuple[GlyphRun, ...]  # left to right
    width: int  # font units
    top: int  # ink above the baseline, font units (_MIN_TOP to _MAX_TOP em)
    bottom: int  # ink below the baseline, negative (_MAX_BOTTOM to _MIN_BOTTOM em)

    def placed_glyphs(self) -> Iterator[tuple[int, int, int]]:
        """``(glyph id, x, y)`` in font units from the line's origin, in drawing order."""
        pen_x = 0
        for run in self.runs:
            for glyph_id, x, y in run.glyphs:
                yield glyph_id, pen_x + x, y
            pen_x += run.advance


def _shape_line(font: StampFont, text: str, direction: Direction) -> _ShapedLine:
    runs = tuple(
        font.shape(run_text, run_dir) for run_text, run_dir in visual_order_runs(text, direction)
    )
    top, bottom = font.ink_bounds(glyph for run in runs for glyph in run.glyphs)
    em = font.units_per_em
    return _ShapedLine(
        text=text,
        direction=direction,
        runs=runs,
        width=sum(run.advance for run in runs),
        top=min(max(top, round(_MIN_TOP * em)), round(_MAX_TOP * em)),
        bottom=max(min(bottom, round(_MIN_BOTTOM * em)), round(_MAX_BOTTOM * em)),
    )


def _cut_points(text: str) -> list[int]:
    """Indexes where ``text`` may be cut: never before a combining mark or a joiner."""
    return [
        i
        for i in range(len(text))
        if unicodedata.combining(text[i]) == 0 and text[i] not in "\u200c\u200d"
    ]


def _truncated(font: StampFont, line: _ShapedLine, max_units: float) -> _ShapedLine:
    """The longest logical prefix of the line that fits with an ellipsis after it."""
    points = _cut_points(line.text)
    best = _shape_line(font, _ELLIPSIS, line.direction)
    low, high = 0, len(points) - 1
    while low <= high:  # binary search: a longer prefix is never narrower
        middle = (low + high) // 2
        candidate = line.text[: points[middle]].rstrip() + _ELLIPSIS
        shaped = _shape_line(font, candidate, line.direction)
        if shaped.width <= max_units:
            best, low = shaped, middle + 1
        else:
            high = middle - 1
    return best


@dataclass(frozen=True)
class _Layout:
    size: float  # points
    lines: tuple[_ShapedLine, ...]
    pitch: float  # baseline to baseline, points
    first_baseline: float  # from the bottom of the box, points


def _layout_lines(font: StampFont, texts: tuple[str, ...], width: float, height: float) -> _Layout:
    """Choose the font size and cut lines that are too wide, for a text area."""
    em = font.units_per_em
    # A line without letters (a bare date) follows the stamp's direction, its first line's.
    stamp_direction = base_direction(texts[0])
    lines = [_shape_line(font, text, base_direction(text, stamp_direction)) for text in texts]
    # One pitch for all lines, enough for the tallest pair of neighbours.
    pitch_units = max(
        [round(_MIN_PITCH * em)]
        + [
            below.top - above.bottom + round(_LINE_GAP * em)
            for above, below in itertools.pairwise(lines)
        ]
    )
    block_units = lines[0].top + pitch_units * (len(lines) - 1) - lines[-1].bottom
    size = min(MAX_FONT_SIZE, height * em / block_units)
    if size < MIN_FONT_SIZE:
        raise ValueError(
            f"a {height:.0f} pt high text area cannot hold {len(lines)} lines "
            f"at {MIN_FONT_SIZE:g} pt or more"
        )
    widest = max(line.width for line in lines)
    if widest * size / em > width:
        size = max(MIN_FONT_SIZE, width * em / widest)
    max_units = width * em / size
    lines = [
        line if line.width <= max_units else _truncated(font, line, max_units) for line in lines
    ]
    scale = size / em
    block = block_units * scale
    first_baseline = (height + block) / 2 - lines[0].top * scale
    return _Layout(size, tuple(lines), pitch_units * scale, first_baseline)


def _draw_lines(font: StampFont, lay: _Layout, left: float, bottom: float, width: float):
    scale = lay.size / font.units_per_em
    for index, line in enumerate(lay.lines):
        baseline = bottom + lay.first_baseline - index * lay.pitch
        line_width = line.width * scale
        x = left + width - line_width if line.direction == "rtl" else left
        yield b"q %s 0 0 %s %s %s cm" % (_fmt(scale), _fmt(scale), _fmt(x), _fmt(baseline))
        for glyph_id, gx, gy in line.placed_glyphs():
            path = font.glyph_path(glyph_id)
            if path:
                yield b"q 1 0 0 1 %d %d cm %s f Q" % (gx, gy, path)
        yield b"Q"


def _fmt(value: float) -> bytes:
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    return (text if text not in ("", "-0") else "0").encode("ascii")


# -- QR code ------------------------------------------------------------------


def _dark_rectangles(matrix) -> Iterator[tuple[int, int, int, int]]:
    """Dark modules merged into rectangles ``(column, row, width, height)``.

    Runs of dark modules in a row become one rectangle, which grows downwards
    while the rows below have the very same run.
    """
    open_runs: dict[tuple[int, int], int] = {}  # (first column, end column) -> first row
    for row_index, row in enumerate(matrix):
        runs = set()
        column = 0
        while column < len(row):
            if row[column]:
                start = column
                while column < len(row) and row[column]:
                    column += 1
                runs.add((start, column))
            else:
                column += 1
        for run in [run for run in open_runs if run not in runs]:
            first_row = open_runs.pop(run)
            yield run[0], first_row, run[1] - run[0], row_index - first_row
        for run in runs:
            open_runs.setdefault(run, row_index)
    for run, first_row in open_runs.items():
        yield run[0], first_row, run[1] - run[0], len(matrix) - first_row


@lru_cache(maxsize=64)
def _qr_modules(url: str) -> tuple[int, bytes]:
    """The QR code's size in modules (quiet zone included) and its dark rectangles.

    Rectangles are in module units, origin at the bottom-left of the quiet
    zone; the caller scales them into place.  Cached: a letter's verification
    URL is the same for each of its signers.
    """
    matrix = segno.make_qr(url, error="m").matrix
    count = len(matrix)
    quiet = _QR_QUIET_MODULES
    rects = b" ".join(
        b"%d %d %d %d re" % (quiet + column, quiet + count - row - rows, columns, rows)
        for column, row, columns, rows in _dark_rectangles(matrix)
    )
    return count + 2 * quiet, rects


def _draw_qr(url: str, left: float, bottom: float, side: float) -> Iterator[bytes]:
    """The QR code in a ``side``-point square, quiet zone included, painted white first."""
    modules, rects = _qr_modules(url)
    yield b"1 g %s %s %s %s re f" % (_fmt(left), _fmt(bottom), _fmt(side), _fmt(side))
    module = _fmt(side / modules)
    yield b"q %s 0 0 %s %s %s cm 0 g %s f Q" % (module, module, _fmt(left), _fmt(bottom), rects)


# -- the pyHanko stamp --------------------------------------------------------


def _stamp_content(font: StampFont, spec: StampSpec, width: float, height: float) -> bytes:
    """Content stream of the stamp in a ``width`` x ``height`` box (origin bottom-left)."""
    half = _FRAME_WIDTH / 2
    ops: list[bytes] = [
        b"q %s %s w %s %s %s %s re S Q"
        % (
            _FRAME_GRAY,
            _fmt(_FRAME_WIDTH),
            _fmt(half),
            _fmt(half),
            _fmt(width - _FRAME_WIDTH),
            _fmt(height - _FRAME_WIDTH),
        )
    ]
    inner_height = height - 2 * _PADDING
    text_left, text_width = _PADDING, width - 2 * _PADDING
    if spec.qr_url is not None:
        side, text_width = _qr_side_and_text_width(width, height)
        qr_bottom = (height - side) / 2
        if base_direction(spec.lines[0]) == "rtl":  # inline end is on the left
            qr_left = _PADDING
            text_left = _PADDING + side + _QR_GAP
        else:
            qr_left = width - _PADDING - side
        ops.extend(_draw_qr(spec.qr_url, qr_left, qr_bottom, side))
    lay = _layout_lines(font, spec.lines, text_width, inner_height)
    ops.append(b"q " + _TEXT_GRAY)
    ops.extend(_draw_lines(font, lay, text_left, _PADDING, text_width))
    ops.append(b"Q")
    return b"\n".join(ops)


class DiwanStamp(BaseStamp):
    """The stamp's appearance: a form XObject with vector text, frame and QR code."""

    def __init__(self, writer: BasePdfFileWriter, style: StampStyle, box: layout.BoxConstraints):
        if not (box and box.width_defined and box.height_defined):
            raise layout.LayoutError("a signature stamp needs a box of known size")
        super().__init__(writer=writer, style=style, box=box)

    def _render_inner_content(self) -> list[bytes]:
        style: StampStyle = self.style
        font = load_stamp_font(style.font_path)
        return [_stamp_content(font, style.spec, self.box.width, self.box.height)]

    def apply_appearance(self, annot_dict: generic.DictionaryObject) -> None:
        """Set the appearance, and the stamp's lines as the widget's /Contents.

        The lines are drawn as outlines, not text: /Contents is the alternate
        description that assistive technology reads for an annotation.
        """
        super().apply_appearance(annot_dict)
        style: StampStyle = self.style
        annot_dict[pdf_name("/Contents")] = generic.TextStringObject("\n".join(style.spec.lines))

    def as_form_xobject(self) -> generic.StreamObject:
        xobject = super().as_form_xobject()
        # Outlines compress about 3.5:1. zlib level 1 is 6 times faster than
        # pyHanko's default level for a stream 15 % larger.
        xobject[pdf_name("/Filter")] = pdf_name("/FlateDecode")
        return generic.StreamObject(
            dict(xobject), stream_data=xobject.data, encoded_data=zlib.compress(xobject.data, 1)
        )


@dataclass(frozen=True)
class StampStyle(BaseStampStyle):
    """pyHanko stamp style drawing a :class:`StampSpec`; make it with :func:`stamp_style`.

    The text comes from the spec: pyHanko's ``text_params`` (signer name,
    timestamp) are not used, the caller writes the lines it wants shown.
    """

    spec: StampSpec | None = None
    font_path: Path | None = None
    border_width: int = 0  # the frame is drawn inside the box by the stamp itself

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict
    ) -> DiwanStamp:
        if self.spec is None or self.font_path is None:
            raise ValueError("make the stamp style with stamp_style(spec)")
        return DiwanStamp(writer=writer, style=self, box=box)


def stamp_style(spec: StampSpec) -> StampStyle:
    """The style to pass to pyHanko's ``PdfSigner(stamp_style=...)`` for ``spec``.

    The font is found and opened now, so a missing font
    (:class:`~signing.fonts.FontMissing`) fails before any signing starts.
    """
    font_path = find_stamp_font()
    load_stamp_font(font_path)
    return StampStyle(spec=spec, font_path=font_path)


def render_stamp_png(spec: StampSpec, path: str | Path, *, scale: float = 3.0) -> Path:
    """Draw the stamp alone on a page the size of its box and save it as PNG.

    Signs nothing: it is for people to look at the stamp.  ``scale`` is pixels
    per point.
    """
    x1, y1, x2, y2 = spec.box
    writer = PdfFileWriter()
    empty = writer.add_object(generic.StreamObject(stream_data=b""))
    writer.insert_page(PageObject(contents=empty, media_box=(0, 0, x2 - x1, y2 - y1)))
    stamp = stamp_style(spec).create_stamp(
        writer, layout.BoxConstraints(width=x2 - x1, height=y2 - y1), {}
    )
    stamp.apply(0, 0, 0)
    buffer = io.BytesIO()
    writer.write(buffer)
    pdf = pypdfium2.PdfDocument(buffer.getvalue())
    try:
        image = pdf[0].render(scale=scale).to_pil()
    finally:
        pdf.close()
    target = Path(path)
    image.save(target, format="PNG")
    return target
