"""The signature stamp's font: where it is, how runs are shaped, what glyphs look like.

The stamp draws glyph outlines as PDF paths instead of embedding the font:
embedding means subsetting an OpenType font on every signature, which costs
about 200 ms for Amiri, while outlines are extracted once per glyph per
process.  HarfBuzz does both the shaping and the outline extraction, so glyph
ids are the same in both and no second font parser (fontTools would take
~25 ms to open Amiri) is loaded.

Resolution order for :func:`find_stamp_font`:

1. ``DIWAN_SIGNING_FONT``: when set, the file must exist (a misconfigured
   path is an error, never silently replaced by another font).
2. Amiri Regular from Debian's ``fonts-hosny-amiri``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import uharfbuzz as hb

from .bidi import Direction

__all__ = [
    "ENV_FONT",
    "FontMissing",
    "GlyphRun",
    "StampFont",
    "find_stamp_font",
    "load_stamp_font",
]

ENV_FONT = "DIWAN_SIGNING_FONT"

_INSTALL_HINT = (
    "install Debian's Amiri font with `apt-get install fonts-hosny-amiri` "
    f"(or point {ENV_FONT} at a TrueType/OpenType font covering Arabic and Latin)"
)
_AMIRI_DIRS = (
    Path("/usr/share/fonts/opentype/fonts-hosny-amiri"),
    Path("/usr/share/fonts/truetype/fonts-hosny-amiri"),
)
_AMIRI_FILE = "Amiri-Regular.ttf"
# A font for the stamp must at least have these: Arabic alef and Latin A.
_REQUIRED_CHARS = "\u0627A"


class FontMissing(RuntimeError):
    """No usable font for the signature stamp."""


def find_stamp_font() -> Path:
    """The font file for stamps; :class:`FontMissing` when there is none."""
    configured = os.environ.get(ENV_FONT, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise FontMissing(
                f"{ENV_FONT}={configured!r} does not name an existing font file; "
                f"fix it, unset it, or {_INSTALL_HINT}."
            )
        return path
    for directory in _AMIRI_DIRS:
        path = directory / _AMIRI_FILE
        if path.is_file():
            return path
    raise FontMissing(f"No font for signature stamps found: {_INSTALL_HINT}.")


@dataclass(frozen=True)
class GlyphRun:
    """A shaped run: ``(glyph id, x, y)`` in font units from the run's origin, left to right."""

    glyphs: tuple[tuple[int, int, int], ...]
    advance: int  # total width in font units


class _PdfPathPen:
    """Collect an outline from HarfBuzz as PDF path operators (m, l, c, h), in font units.

    HarfBuzz calls these with one point per segment; its quadratic (TrueType)
    segments are turned into the cubic ones PDF has.  Coordinates are rounded
    to whole font units: 1/1000 em is 0.01 pt at 10 pt, far below what print
    or screen shows, and whole numbers keep the stream short.
    """

    __slots__ = ("_x", "_y", "ops")

    def __init__(self) -> None:
        self.ops: list[bytes] = []
        self._x = self._y = 0.0

    def moveTo(self, point):
        self._x, self._y = point
        self.ops.append(b"%d %d m" % (round(point[0]), round(point[1])))

    def lineTo(self, point):
        self._x, self._y = point
        self.ops.append(b"%d %d l" % (round(point[0]), round(point[1])))

    def qCurveTo(self, control, point):
        # The cubic with the same curve: both control points 2/3 of the way
        # from each end towards the quadratic one.
        (x0, y0), (cx, cy), (x3, y3) = (self._x, self._y), control, point
        self.ops.append(
            b"%d %d %d %d %d %d c"
            % (
                round(x0 + 2 * (cx - x0) / 3),
                round(y0 + 2 * (cy - y0) / 3),
                round(x3 + 2 * (cx - x3) / 3),
                round(y3 + 2 * (cy - y3) / 3),
                round(x3),
                round(y3),
            )
        )
        self._x, self._y = point

    def curveTo(self, control1, control2, point):
        self.ops.append(
            b"%d %d %d %d %d %d c" % tuple(round(v) for v in (*control1, *control2, *point))
        )
        self._x, self._y = point

    def closePath(self):
        self.ops.append(b"h")


class StampFont:
    """A font opened with HarfBuzz: shapes runs, gives glyph outlines as PDF paths.

    One instance per font file per process (:func:`load_stamp_font`); the
    outline of each glyph is computed once and kept.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        face = hb.Face(hb.Blob.from_file_path(str(path)))
        if face.glyph_count == 0:
            raise FontMissing(f"{path} is not a font file HarfBuzz can read; {_INSTALL_HINT}.")
        self._font = hb.Font(face)
        missing = [ch for ch in _REQUIRED_CHARS if self._font.get_nominal_glyph(ord(ch)) is None]
        if missing:
            raise FontMissing(
                f"{path} has no glyph for {''.join(missing)!r}: a stamp font must cover "
                f"Arabic and Latin; {_INSTALL_HINT}."
            )
        self.units_per_em: int = face.upem
        self._paths: dict[int, bytes] = {}
        self._extents: dict[int, tuple[int, int]] = {}
        self._paths_lock = threading.Lock()

    def shape(self, text: str, direction: Direction) -> GlyphRun:
        """Shape one run of a single direction; glyphs come out left to right."""
        buffer = hb.Buffer()
        buffer.add_str(text)
        buffer.direction = direction
        buffer.guess_segment_properties()  # script and language, for Arabic joining
        hb.shape(self._font, buffer)
        glyphs = []
        pen_x = 0
        for info, pos in zip(buffer.glyph_infos, buffer.glyph_positions, strict=True):
            glyphs.append((info.codepoint, pen_x + pos.x_offset, pos.y_offset))
            pen_x += pos.x_advance
        return GlyphRun(glyphs=tuple(glyphs), advance=pen_x)

    def ink_bounds(self, glyphs: Iterable[tuple[int, int, int]]) -> tuple[int, int]:
        """Highest and lowest ink of positioned glyphs, font units from the baseline.

        ``(0, 0)`` when nothing has ink.
        """
        top = bottom = 0
        for glyph_id, _x, y in glyphs:
            extents = self._extents.get(glyph_id)
            if extents is None:
                got = self._font.get_glyph_extents(glyph_id)
                # y_bearing is the top of the ink; height is negative (downwards).
                extents = (got.y_bearing, got.y_bearing + got.height) if got else (0, 0)
                self._extents[glyph_id] = extents
            if extents != (0, 0):
                top = max(top, extents[0] + y)
                bottom = min(bottom, extents[1] + y)
        return top, bottom

    def glyph_path(self, glyph_id: int) -> bytes:
        """The glyph's outline as PDF path construction operators in font units.

        Empty for glyphs without ink (spaces).  Fill with the nonzero rule (``f``),
        as TrueType and CFF outlines expect.
        """
        path = self._paths.get(glyph_id)
        if path is None:
            pen = _PdfPathPen()
            self._font.draw_glyph_with_pen(glyph_id, pen)
            path = b" ".join(pen.ops)
            with self._paths_lock:
                self._paths[glyph_id] = path
        return path


@lru_cache(maxsize=4)
def load_stamp_font(path: Path) -> StampFont:
    """The :class:`StampFont` for ``path``, opened once per process."""
    return StampFont(path)
