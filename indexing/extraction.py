"""Text out of a letter's documents (PDF text layers, OCR of scans and images), safely.

``extract_text`` never raises because of what a file contains: every document ends as text or as a
recorded outcome (``status`` and a stable ``reason`` code) within ``timeout_s``, because the work
happens in a limited child process (``_extract_child.py`` through ``sandbox.run_child``).

Outcomes:
* status "ok": text was found. ``reason`` is empty, or names why part of it is missing
  ("no-ocr", "timeout", "damaged", "too-large", "truncated", "ocr-failed", "ocr-disabled").
* status "no-text": the document was read but holds no text we can get: "no-ocr" (Tesseract or
  its language data is not installed: flag the letter), "ocr-disabled", "blank" (nothing found,
  OCR included), "not-supported" (a media type we do not read).
* status "failed": "encrypted", "damaged", "too-large" (a decompression bomb or an oversized
  image, refused), "timeout", "memory", "crashed", "error" (an unexpected fault in the child).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from indexing.ocr import valid_languages
from indexing.sandbox import ChildFailure, run_child

CHILD_SCRIPT = Path(__file__).with_name("_extract_child.py")
OCR_MODES = ("auto", "never", "always")
STATUSES = ("ok", "no-text", "failed")
METHODS = ("text-layer", "ocr", "none")
REASONS = frozenset(
    {
        "",
        "encrypted",
        "damaged",
        "too-large",
        "timeout",
        "memory",
        "crashed",
        "error",
        "no-ocr",
        "ocr-disabled",
        "ocr-failed",
        "blank",
        "not-supported",
        "truncated",
    }
)
_KINDS = {
    "application/pdf": "pdf",
    "image/png": "image",
    "image/jpeg": "image",
    "image/tiff": "image",
    "image/gif": "image",
    "image/bmp": "image",
}
PLAIN_TEXT = "text/plain"
MAX_PLAIN_TEXT_BYTES = 8 * 1024 * 1024
# Time the child keeps in hand to answer before the parent's wall-clock limit ends it.
ANSWER_MARGIN_S = 1.0
PAGE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Extraction:
    """What a document gave: ``text`` is its pages joined with form feeds."""

    text: str
    pages: tuple[str, ...]
    method: str  # "text-layer", "ocr" (OCR read at least one page) or "none"
    status: str  # "ok", "no-text" or "failed"
    reason: str = ""  # a stable code, see the module docstring
    detail: str = ""  # for logs and administrators, not for end users

    @classmethod
    def nothing(cls, status: str, reason: str, detail: str = "") -> Extraction:
        return cls(text="", pages=(), method="none", status=status, reason=reason, detail=detail)


def extract_text(
    source: str | os.PathLike[str] | bytes,
    media_type: str,
    *,
    timeout_s: float = 20,
    memory_mb: int = 768,
    ocr: str = "auto",
    ocr_languages: str = "ara+fra+eng",
    page_timeout_s: float = PAGE_TIMEOUT_S,
) -> Extraction:
    """Extract the text of a document given as a path or as bytes.

    ``ocr``: "auto" reads with Tesseract the pages without a usable text layer (and images),
    "never" does not OCR, "always" OCRs every page (keeping the text layer where OCR fails).
    Raises ValueError for bad arguments and OSError when ``source`` is a path that cannot be
    read; whatever the file contains, the outcome is returned, never raised.
    """
    if ocr not in OCR_MODES:
        raise ValueError(f"ocr must be one of {OCR_MODES}, not {ocr!r}")
    if not ocr_languages or not valid_languages(ocr_languages):
        raise ValueError(f"bad OCR language list {ocr_languages!r} (expected e.g. 'ara+fra')")
    if timeout_s <= ANSWER_MARGIN_S or memory_mb <= 0 or page_timeout_s <= 0:
        raise ValueError(f"timeout_s must exceed {ANSWER_MARGIN_S} s; limits must be positive")
    media = media_type.split(";", 1)[0].strip().lower()
    if media == PLAIN_TEXT:
        return _plain_text(source)
    kind = _KINDS.get(media)
    if kind is None:
        return Extraction.nothing("no-text", "not-supported", f"media type {media!r}")
    with tempfile.TemporaryDirectory(prefix="diwan-extract-") as workdir:
        if isinstance(source, bytes):
            path = Path(workdir) / "input"
            path.write_bytes(source)
        else:
            path = Path(source).resolve(strict=True)
        args = {
            "kind": kind,
            "path": str(path),
            "workdir": workdir,
            "ocr": ocr,
            "languages": ocr_languages,
            "page_timeout_s": page_timeout_s,
            "budget_s": timeout_s - ANSWER_MARGIN_S,
        }
        try:
            answer = run_child(
                CHILD_SCRIPT, "extract", args, timeout_s=timeout_s, memory_mb=memory_mb
            )
        except ChildFailure as failure:
            reason = "error" if failure.reason == "failed" else failure.reason
            return Extraction.nothing("failed", reason, failure.detail)
    return _from_answer(answer)


def _from_answer(answer: dict) -> Extraction:
    """The child's answer as an Extraction, checked: a confused child must not put nonsense
    into the index."""
    pages = answer.get("pages")
    fields = (answer.get("status"), answer.get("reason"), answer.get("method"))
    if (
        not isinstance(pages, list)
        or not all(isinstance(page, str) for page in pages)
        or fields[0] not in STATUSES
        or fields[1] not in REASONS
        or fields[2] not in METHODS
        or not isinstance(answer.get("detail"), str)
    ):
        return Extraction.nothing("failed", "crashed", "malformed answer from the child")
    return Extraction(
        text="\f".join(pages),
        pages=tuple(pages),
        method=fields[2],
        status=fields[0],
        reason=fields[1],
        detail=answer["detail"],
    )


def _plain_text(source: str | os.PathLike[str] | bytes) -> Extraction:
    """A text file needs no parser: decoded here (UTF-8, else Windows Arabic code page 1256,
    which decodes any byte string), bounded in size."""
    if isinstance(source, bytes):
        data = source[: MAX_PLAIN_TEXT_BYTES + 1]
    else:
        with open(source, "rb") as stream:
            data = stream.read(MAX_PLAIN_TEXT_BYTES + 1)
    reason = "truncated" if len(data) > MAX_PLAIN_TEXT_BYTES else ""
    data = data[:MAX_PLAIN_TEXT_BYTES]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if reason and exc.start >= len(data) - 3:  # the cut split the last character
            text = data[: exc.start].decode("utf-8-sig")
        else:
            text = data.decode("cp1256", "replace")
    text = text.replace("\f", "\n").replace("\x00", "")
    if not text.strip():
        return Extraction.nothing("no-text", "blank")
    return Extraction(
        text=text, pages=(text,), method="text-layer", status="ok", reason=reason, detail=""
    )
