"""PNG previews of PDF pages, rendered in the sandbox and cached on disk.

Rendering is the most expensive and most exposed step (PDFium runs over the document's content
streams), so it happens in a limited child process, once per (document, page, width): the cache
key is the document's hash, which never changes meaning, so cached files never go stale. Files
are written under a temporary name and renamed, so a reader never sees a half-written PNG.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .sandbox import SandboxError, run_sandboxed
from .store import FileStore, validate_sha256

MIN_WIDTH = 16
MAX_WIDTH = 4000


class PreviewUnavailable(Exception):
    """No preview can be produced (bad page or width, unrenderable or protected document)."""


def preview_path(cache_dir: Path, pdf_sha256: str, page: int, width: int) -> Path:
    """Where the cached preview for this key lives."""
    validate_sha256(pdf_sha256)
    return Path(cache_dir) / pdf_sha256[:2] / f"{pdf_sha256}-p{page}-w{width}.png"


def page_preview(
    store: FileStore,
    cache_dir: Path,
    pdf_sha256: str,
    page: int,
    width: int = 900,
    *,
    timeout_s: float = 20,
    memory_mb: int = 1024,
) -> Path:
    """Return the path of a PNG of ``page`` (0-based) of the stored PDF, ``width`` pixels wide.

    Raises PreviewUnavailable for a bad page or width or a document PDFium cannot render,
    ValueError for a malformed hash, and MissingFile / CorruptFile (from the store) when the
    document itself is gone or damaged: those are integrity problems, not preview problems.
    """
    if type(page) is not int or page < 0:
        raise PreviewUnavailable(f"no page {page!r}")
    if type(width) is not int or not MIN_WIDTH <= width <= MAX_WIDTH:
        raise PreviewUnavailable(f"unsupported width {width!r}")
    target = preview_path(cache_dir, pdf_sha256, page, width)
    if target.is_file() and target.stat().st_size > 0:
        return target
    source = store.ensure_verified(pdf_sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".render-", suffix=".png")
    os.close(fd)
    try:
        run_sandboxed(
            "render_page",
            {"path": os.fspath(source), "page": page, "width": width, "dest": name},
            timeout_s=timeout_s,
            memory_mb=memory_mb,
        )
        with open(name, "rb") as rendered:
            os.fsync(rendered.fileno())
        os.replace(name, target)
    except SandboxError as exc:
        raise PreviewUnavailable(exc.reason) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return target
