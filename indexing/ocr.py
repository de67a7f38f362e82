"""OCR with Tesseract, and the bounded image handling around it.

Runs inside the extraction child (``_extract_child.py`` loads this file by path, after its
resource limits are set), so it is self-contained: standard library, plus Pillow and pypdfium2
imported only by the functions that need them. Tesseract is a subprocess with its own time limit;
it inherits the child's memory limit and minimal environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# A scanned A3 page at 600 dpi is ~70 Mpx; anything far beyond that is a bomb, not a letter.
MAX_IMAGE_PIXELS = 80_000_000
MAX_FRAMES = 200
# Tesseract reads 300 dpi text best; larger images only cost time, so they are scaled down.
RENDER_DPI = 300
MAX_OCR_SIDE = 4400  # A4 at ~375 dpi
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF", "GIF", "BMP")
_LANGUAGES = re.compile(r"[a-z][a-z_]*(?:\+[a-z][a-z_]*)*\Z")


class OcrError(Exception):
    """Tesseract gave no text. ``reason``: 'timeout' or 'failed'."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def find_tesseract() -> str | None:
    """The Tesseract executable on PATH, or None when it is not installed."""
    return shutil.which("tesseract")


def valid_languages(languages: str) -> bool:
    """Whether ``languages`` has the form 'ara+fra+eng' (it becomes a command-line argument)."""
    return bool(_LANGUAGES.match(languages))


def usable_languages(binary: str, requested: str, *, timeout_s: float = 10) -> str:
    """The requested languages whose trained data is installed, in the requested order ('' if
    none): Tesseract refuses to run at all when one of the languages it is given is missing."""
    if not valid_languages(requested):
        raise ValueError(f"bad Tesseract language list {requested!r}")
    try:
        listing = subprocess.run(  # noqa: S603 - fixed argv
            [binary, "--list-langs"], capture_output=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OcrError("failed", f"tesseract --list-langs: {exc}") from exc
    # The first line is a header ('List of available languages in "/usr/share/...":').
    installed = set(listing.stdout.decode("utf-8", "replace").split()[1:])
    return "+".join(code for code in requested.split("+") if code in installed)


def recognise(
    binary: str, image: Path, languages: str, *, timeout_s: float, dpi: int | None = None
) -> str:
    """Text of one page image. Raises OcrError on a timeout or a Tesseract error."""
    if not valid_languages(languages):
        raise ValueError(f"bad Tesseract language list {languages!r}")
    command = [binary, str(image), "stdout", "-l", languages]
    if dpi:
        # PNGs rendered by PDFium carry no resolution; without it Tesseract assumes 70 dpi.
        command += ["--dpi", str(dpi)]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, languages validated
            command, capture_output=True, timeout=max(timeout_s, 0.1), check=False
        )
    except subprocess.TimeoutExpired:
        raise OcrError("timeout", f"no result within {timeout_s:.1f} s") from None
    except OSError as exc:
        raise OcrError("failed", str(exc)) from exc
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-300:]
        raise OcrError("failed", f"exit {done.returncode}: {tail}")
    # Tesseract ends every page with a form feed; pages are joined with one later.
    return done.stdout.decode("utf-8", "replace").replace("\f", "\n").strip()


def render_pdf_page(document: Any, index: int, dest: Path, *, dpi: int = RENDER_DPI) -> int:
    """Render page ``index`` of a pypdfium2 document to a greyscale PNG; return the dpi used
    (lowered so the longer side stays within MAX_OCR_SIDE)."""
    page = document[index]
    width_pt, height_pt = page.get_size()
    if not (width_pt > 0 and height_pt > 0):
        raise ValueError("page has no area")
    longest_in = max(width_pt, height_pt) / 72
    dpi = max(1, min(dpi, int(MAX_OCR_SIDE / longest_in)))
    bitmap = page.render(scale=dpi / 72, grayscale=True)
    bitmap.to_pil().save(dest, "PNG")
    return dpi


def image_frames(path: Path) -> Iterator[Any]:
    """The pages of a scanned image (TIFF frames; one page for other formats), each loaded,
    oriented and bounded. Raises PIL.Image.DecompressionBombError for oversized images, before
    their pixels are decoded."""
    import warnings

    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse those too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            frames = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
            if frames > MAX_FRAMES:
                raise Image.DecompressionBombError(f"{frames} frames")
            for index in range(frames):
                image.seek(index)
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(f"frame {index}: {width}x{height} pixels")
                yield ImageOps.exif_transpose(image)


def save_for_ocr(frame: Any, dest: Path) -> None:
    """Save one frame as a PNG Tesseract reads well: greyscale (or bilevel), at most
    MAX_OCR_SIDE pixels on its longer side."""
    from PIL import Image

    if frame.mode not in ("1", "L"):
        if frame.mode in ("LA", "PA", "RGBA", "RGBa", "La") or "transparency" in frame.info:
            rgba = frame.convert("RGBA")
            background = Image.new("RGB", rgba.size, "white")
            background.paste(rgba, mask=rgba.getchannel("A"))
            frame = background
        frame = frame.convert("L")
    if max(frame.size) > MAX_OCR_SIDE:
        frame = frame.copy()
        frame.thumbnail((MAX_OCR_SIDE, MAX_OCR_SIDE))
    frame.save(dest, "PNG")
    os.chmod(dest, 0o600)
