"""Locate the TrueType fonts used for generated PDF reports.

The font must cover both Arabic and Latin (with French accents).  Debian's
``fonts-hosny-amiri`` package provides Amiri, which does; it is the default.

Resolution order for :func:`find_font`:

1. ``DIWAN_PDF_FONT`` (regular) / ``DIWAN_PDF_FONT_BOLD`` (bold, falls back to
   ``DIWAN_PDF_FONT``).  When set, the file must exist: a misconfigured path is
   an error, never silently replaced by another font.
2. Amiri from ``fonts-hosny-amiri``.
3. Noto Naskh Arabic, then Noto Sans, from ``fonts-noto-core`` (Noto Naskh
   Arabic has no Latin letters, so :func:`find_fallback_fonts` then supplies
   Noto Sans for them).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ENV_FONT",
    "ENV_FONT_BOLD",
    "FontMissing",
    "find_fallback_fonts",
    "find_font",
]

ENV_FONT = "DIWAN_PDF_FONT"
ENV_FONT_BOLD = "DIWAN_PDF_FONT_BOLD"

_INSTALL_HINT = (
    "install Debian's Amiri font with `apt-get install fonts-hosny-amiri` "
    f"(or point {ENV_FONT} / {ENV_FONT_BOLD} at a TrueType font covering Arabic and Latin)"
)

_AMIRI_DIRS = (
    Path("/usr/share/fonts/opentype/fonts-hosny-amiri"),
    Path("/usr/share/fonts/truetype/fonts-hosny-amiri"),
)
_NOTO_DIR = Path("/usr/share/fonts/truetype/noto")
_DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")


class FontMissing(RuntimeError):
    """No usable font for PDF generation was found."""


def _system_candidates(bold: bool) -> list[Path]:
    """Installed-font candidates, best first.

    For bold, a family's regular face comes right after its bold face: Amiri
    Regular is a better "bold" than Noto, which lacks Amiri's Arabic/Latin mix.
    """
    weights = ("Bold", "Regular") if bold else ("Regular",)
    families = (
        ("Amiri", _AMIRI_DIRS),
        ("NotoNaskhArabic", (_NOTO_DIR,)),
        ("NotoSans", (_NOTO_DIR,)),
    )
    return [
        directory / f"{name}-{weight}.ttf"
        for name, directories in families
        for weight in weights
        for directory in directories
    ]


def _env_font(bold: bool) -> Path | None:
    regular = os.environ.get(ENV_FONT, "").strip()
    bold_value = os.environ.get(ENV_FONT_BOLD, "").strip() if bold else ""
    for var, value in ((ENV_FONT_BOLD, bold_value), (ENV_FONT, regular)):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise FontMissing(
                    f"{var}={value!r} does not name an existing font file; fix it, unset it, "
                    f"or {_INSTALL_HINT}."
                )
            return path
    return None


def find_font(bold: bool = False) -> Path:
    """Return the TrueType font file to use for generated PDFs.

    Raises :class:`FontMissing` when no suitable font is installed or when
    ``DIWAN_PDF_FONT`` / ``DIWAN_PDF_FONT_BOLD`` names a missing file.
    """
    env = _env_font(bold)
    if env is not None:
        return env
    for path in _system_candidates(bold):
        if path.is_file():
            return path
    raise FontMissing(f"No font for PDF reports found: {_INSTALL_HINT}.")


def find_fallback_fonts(bold: bool = False) -> list[Path]:
    """Other installed fonts that may supply glyphs missing from :func:`find_font`.

    Meant for fpdf2 fallback fonts: Noto Sans for Latin letters when the main
    font is Noto Naskh Arabic, Amiri for Arabic when ``DIWAN_PDF_FONT`` is a
    Latin-only font, DejaVu Sans for symbols.  Best first; never raises.
    """
    try:
        primary: Path | None = find_font(bold).resolve()
    except FontMissing:
        primary = None
    weights = ("Bold", "") if bold else ("",)
    dejavu = [_DEJAVU_DIR / f"DejaVuSans{'-' + w if w else ''}.ttf" for w in weights]
    seen: set[Path] = set() if primary is None else {primary}
    result: list[Path] = []
    for path in [*_system_candidates(bold), *dejavu]:
        if path.is_file() and (resolved := path.resolve()) not in seen:
            seen.add(resolved)
            result.append(path)
    return result
