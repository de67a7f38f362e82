"""Child side of ``sandbox.run_sandboxed``: the only code that opens untrusted files.

Run as a script (``python -I _sandboxed.py OP MEMORY_MB CPU_S OUTPUT_MB``), never imported by
the application, so it must stay self-contained: standard library plus pypdf, Pillow and
pypdfium2, each imported only by the operation that needs it, and only after the resource limits
are in place. Reads a JSON object of arguments on stdin, writes ``{"ok": true, "result": {...}}``
or ``{"ok": false, "error": "..."}`` on the original stdout; anything a library prints goes to
stderr instead so it cannot corrupt the answer. Exits with status 3 after a MemoryError.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import resource
import sys
import time
import warnings
from typing import Any

EXIT_MEMORY = 3

# Pillow's own default is ~89 Mpx; a scanned A3 page at 600 dpi is ~70 Mpx, A4 at 600 dpi ~35 Mpx.
MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_FRAMES = 500
MAX_TOTAL_PIXELS = 500_000_000
JPEG_QUALITY = 90
MAX_RENDER_PIXELS = 30_000_000
A4_LONG_SIDE_IN = 297 / 25.4
MAX_PAGE_SIDE_IN = 200  # PDF viewers' practical page size limit (14 400 pt)


def set_limits(memory_mb: int, cpu_s: int, output_mb: int) -> None:
    """Cap address space, CPU seconds and written file size; disable core dumps."""

    def lower(kind: int, value: int, hard_extra: int = 0) -> None:
        _soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
            hard_value = min(value + hard_extra, hard)
        else:
            hard_value = value + hard_extra
        resource.setrlimit(kind, (value, hard_value))

    lower(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    lower(resource.RLIMIT_CPU, cpu_s, hard_extra=1)  # SIGXCPU first, SIGKILL a second later
    lower(resource.RLIMIT_FSIZE, output_mb * 1024 * 1024)
    lower(resource.RLIMIT_CORE, 0)


# -- inspect_pdf ---------------------------------------------------------------------------------


def inspect_pdf(args: dict[str, Any]) -> dict[str, Any]:
    """Count pages and detect encryption with pypdf (lenient mode: real-world PDFs are broken).

    Parser errors are part of the answer ("readable": false), not a failure of the operation.
    """
    from pypdf import PasswordType, PdfReader

    result: dict[str, Any] = {
        "pages": None,
        "encrypted": False,
        "readable": False,
        "password_required": False,
        "error": None,
    }
    try:
        reader = PdfReader(args["path"], strict=False)
        result["encrypted"] = bool(reader.is_encrypted)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            result["password_required"] = True
            result["error"] = "a password is required to open this document"
            return result
        pages = len(reader.pages)
        if pages < 1:
            result["error"] = "the document has no pages"
            return result
        result["pages"] = pages
        result["readable"] = True
    except MemoryError:
        raise
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
    return result


# -- image_to_pdf --------------------------------------------------------------------------------


def image_to_pdf(args: dict[str, Any]) -> dict[str, Any]:
    """Convert a JPEG/PNG/TIFF to a PDF, one page per TIFF frame; refuse bombs and broken files.

    Frames are decoded one at a time, so memory is bounded by the largest frame.
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)

    with Image.open(args["src"], formats=("JPEG", "PNG", "TIFF")) as image:
        # Only TIFF pages are document pages; extra JPEG (MPO) and APNG frames are not.
        frames = image.n_frames if image.format == "TIFF" else 1
        if frames > MAX_IMAGE_FRAMES:
            raise ValueError(f"too many frames ({frames})")
        pages: list[bytes] = []
        total_pixels = 0
        for index in range(frames):
            image.seek(index)
            width, height = image.size
            total_pixels += width * height
            if width * height > MAX_IMAGE_PIXELS or total_pixels > MAX_TOTAL_PIXELS:
                raise Image.DecompressionBombError(f"frame {index} is {width}x{height} pixels")
            pages.append(_frame_pdf(image))
    if len(pages) == 1:
        with open(args["dest"], "wb") as out:
            out.write(pages[0])
    else:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter()
        for page in pages:
            writer.append(PdfReader(io.BytesIO(page)))
        with open(args["dest"], "wb") as out:
            writer.write(out)
    return {"pages": len(pages)}


def _frame_pdf(frame: Any) -> bytes:
    """One frame as a one-page PDF: bilevel stays lossless (CCITT G4), the rest JPEG q90."""
    page = _printable(frame)
    resolution = _resolution(frame.info.get("dpi"), page.size)
    buffer = io.BytesIO()
    # No creation/modification dates: the same image must give the same PDF (and hash).
    options: dict[str, Any] = {"resolution": resolution, "creationDate": None, "modDate": None}
    if page.mode != "1":  # Pillow passes options on to the G4 TIFF encoder, which refuses this
        options["quality"] = JPEG_QUALITY
    page.save(buffer, "PDF", **options)
    return buffer.getvalue()


def _printable(frame: Any) -> Any:
    """Apply EXIF orientation and convert to a mode Pillow's PDF writer stores well (1, L, RGB)."""
    from PIL import Image, ImageOps

    page = ImageOps.exif_transpose(frame)  # a loaded copy; raises on truncated data
    mode = page.mode
    if mode in ("1", "L", "RGB"):
        return page
    if mode.startswith("I") or mode == "F":  # 16/32-bit grey: stretch to 8 bits
        page = page.convert("F")
        low, high = page.getextrema()
        scale = 255.0 / (high - low) if high > low else 1.0
        return page.point(lambda v: v * scale - low * scale).convert("L")
    if mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in page.info:
        rgba = page.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background.convert("L") if mode in ("LA", "La") else background
    return page.convert("RGB")


def _resolution(dpi: Any, size: tuple[int, int]) -> float:
    """Pixels per inch for the PDF page: the scanner's DPI if plausible, else fit to A4.

    Cameras and screenshots write 72 or 96 dpi as a placeholder, which would make pages several
    feet wide, so values under 100 are ignored.
    """
    longest = max(size)
    try:
        value = float(dpi[0]) if isinstance(dpi, tuple) else 0.0
    except (TypeError, ValueError, IndexError):
        value = 0.0
    if not (math.isfinite(value) and 100 <= value <= 4800):
        value = longest / A4_LONG_SIDE_IN
    return max(value, longest / MAX_PAGE_SIDE_IN, 1.0)


# -- render_page ---------------------------------------------------------------------------------


def render_page(args: dict[str, Any]) -> dict[str, Any]:
    """Render one page (0-based) to a PNG ``width`` pixels wide with PDFium."""
    import pypdfium2 as pdfium

    page_index, width = args["page"], args["width"]
    if not isinstance(page_index, int) or not isinstance(width, int) or width < 1:
        raise ValueError("page and width must be integers, width positive")
    document = pdfium.PdfDocument(args["path"])
    # Form widgets (a signature's visible stamp among them) are drawn only with forms loaded.
    document.init_forms()
    count = len(document)
    if not 0 <= page_index < count:
        raise IndexError(f"page {page_index} out of range: the document has {count} pages")
    page = document[page_index]
    page_width, page_height = page.get_size()  # in points, after the page's /Rotate
    if not (page_width > 0 and page_height > 0):
        raise ValueError("page has no area")
    height = max(1, round(page_height * width / page_width))
    if width * height > MAX_RENDER_PIXELS:
        raise ValueError(f"rendering would need {width}x{height} pixels")
    image = page.render(scale=width / page_width).to_pil()
    if image.size != (width, height):
        image = image.resize((width, height))
    image.save(args["dest"], "PNG")
    return {"pages": count}


# -- probe ---------------------------------------------------------------------------------------


def probe(args: dict[str, Any]) -> dict[str, Any]:
    """Self-check of the sandbox itself (are the limits enforced on this host?).

    Modes: 'ok' reports the child's environment; 'spin', 'sleep', 'alloc', 'abort' and 'fail'
    misbehave on purpose so deployment checks and tests can see each limit work.
    """
    mode = args.get("mode", "ok")
    if mode == "spin":
        while True:
            pass
    if mode == "sleep":
        time.sleep(3600)
    if mode == "alloc":
        hoard = bytearray(int(args.get("mb", 8192)) * 1024 * 1024)
        return {"allocated": len(hoard)}
    if mode == "abort":
        os.abort()
    if mode == "fail":
        raise RuntimeError("probe failure requested")
    return {
        "modules": sorted({name.split(".")[0] for name in sys.modules}),
        "environment": sorted(os.environ),
        "sys_path": sys.path,
        "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
        "rlimit_cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
    }


OPS = {
    "inspect_pdf": inspect_pdf,
    "image_to_pdf": image_to_pdf,
    "render_page": render_page,
    "probe": probe,
}


def main(argv: list[str]) -> None:
    op, memory_mb, cpu_s, output_mb = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    set_limits(memory_mb, cpu_s, output_mb)
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints from libraries land in stderr, not in the answer
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    try:
        args = json.loads(sys.stdin.buffer.read())
        answer: dict[str, Any] = {"ok": True, "result": OPS[op](args)}
        status = 0
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except Exception as exc:
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        status = 1
    data = json.dumps(answer).encode()
    while data:
        data = data[os.write(answer_fd, data) :]
    # Skip interpreter teardown: finalizers of half-parsed hostile objects have nothing to add.
    os._exit(status)


if __name__ == "__main__":
    main(sys.argv)
