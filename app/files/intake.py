"""Receive one uploaded file: size-check, sniff, analyse or convert in the sandbox, store.

Called by the registration service for each file *before* its database transaction, so the
transaction only records hashes of objects that are already durably stored. (If that transaction
then fails, the objects stay unreferenced; a later garbage collection over ``iter_hashes`` can
drop them.)

Policy, and why:
* PDFs are accepted even when encrypted, broken or hostile: a registry must record what it was
  sent. Problems become ``flags`` and ``pdf_sha256`` is None when the file cannot be shown.
* Images are converted to a PDF for viewing and signing; an image that cannot be decoded
  (bomb, truncated, corrupt) is refused, because a registry entry nobody can look at is useless.
* Everything else is refused. Refusals are ``UploadRejected(code)``; the web layer turns codes
  into translated messages (``REJECTION_MESSAGES`` holds the English source texts).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import BinaryIO

from .sandbox import SandboxError, run_sandboxed
from .sniff import KNOWN_EXTENSIONS, PDF, extension_for, sniff_media_type
from .store import FileStore, FileTooLarge

FLAG_ENCRYPTED = "encrypted"
FLAG_PASSWORD_PROTECTED = "password_protected"  # noqa: S105 - a flag name
FLAG_UNREADABLE = "unreadable"
FLAG_ANALYSIS_FAILED = "analysis_failed"
FLAGS = (FLAG_ENCRYPTED, FLAG_PASSWORD_PROTECTED, FLAG_UNREADABLE, FLAG_ANALYSIS_FAILED)

# English source texts, to be passed through the web layer's gettext.
REJECTION_MESSAGES: dict[str, str] = {
    "empty": "The file is empty.",
    "too_large": "The file is too large.",
    "unsupported_type": "Only PDF, JPEG, PNG and TIFF files are accepted.",
    "invalid_image": "The image is damaged, truncated or too large to be displayed.",
}
REJECTION_CODES = tuple(REJECTION_MESSAGES)

# A converted PDF is ours, not the sender's; this only guards against a runaway conversion.
MAX_CONVERTED_BYTES = 512 * 1024 * 1024
MAX_DISPLAY_NAME = 200
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"|?*]')


class UploadRejected(Exception):
    """The upload was refused; ``code`` is one of REJECTION_CODES."""

    def __init__(self, code: str) -> None:
        if code not in REJECTION_MESSAGES:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(code)
        self.code = code

    @property
    def message(self) -> str:
        """English text for logs and as the gettext source string."""
        return REJECTION_MESSAGES[self.code]


def rejection_message(code: str) -> str:
    """English source text for a rejection code (for the web layer to translate)."""
    return REJECTION_MESSAGES[code]


@dataclass(frozen=True)
class IngestedFile:
    """What the registration service records about one received file."""

    original_sha256: str
    size: int
    media_type: str
    display_name: str
    pdf_sha256: str | None  # the PDF to view and sign; None when it cannot be shown
    page_count: int | None
    flags: frozenset[str] = field(default_factory=frozenset)


def ingest_upload(
    store: FileStore,
    stream: BinaryIO,
    filename: str,
    *,
    max_bytes: int,
    timeout_s: float = 20,
    memory_mb: int = 1024,
) -> IngestedFile:
    """Store one upload and return what to record about it; raise UploadRejected to refuse it.

    ``timeout_s`` and ``memory_mb`` limit each sandboxed step (tests use a lower timeout).
    """
    try:
        staged = store.stage(stream, max_bytes)
    except FileTooLarge:
        raise UploadRejected("too_large") from None
    try:
        if staged.size == 0:
            raise UploadRejected("empty")
        media_type = sniff_media_type(staged.head)
        if media_type is None:
            raise UploadRejected("unsupported_type")
        limits = {"timeout_s": timeout_s, "memory_mb": memory_mb}
        if media_type == PDF:
            pdf_sha256, page_count, flags = _analyse_pdf(staged.path, staged.sha256, limits)
        else:
            pdf_sha256, page_count = _convert_image(store, staged.path, limits)
            flags = frozenset()
        original_sha256 = store.commit(staged)
    finally:
        staged.discard()
    return IngestedFile(
        original_sha256=original_sha256,
        size=staged.size,
        media_type=media_type,
        display_name=display_name(filename, media_type),
        pdf_sha256=pdf_sha256,
        page_count=page_count,
        flags=flags,
    )


def _analyse_pdf(
    path: os.PathLike[str], sha256: str, limits: dict
) -> tuple[str | None, int | None, frozenset[str]]:
    """Page count and flags for a received PDF; the original is shown only if it is readable."""
    try:
        info = run_sandboxed("inspect_pdf", {"path": os.fspath(path)}, **limits)
    except SandboxError:
        return None, None, frozenset({FLAG_ANALYSIS_FAILED})
    flags = set()
    if info.get("encrypted"):
        flags.add(FLAG_ENCRYPTED)
    if info.get("password_required"):
        flags.add(FLAG_PASSWORD_PROTECTED)
    elif not info.get("readable"):
        flags.add(FLAG_UNREADABLE)
    if info.get("readable") and isinstance(info.get("pages"), int):
        return sha256, info["pages"], frozenset(flags)
    return None, None, frozenset(flags)


def _convert_image(store: FileStore, path: os.PathLike[str], limits: dict) -> tuple[str, int]:
    """Convert an image to PDF in the sandbox and store the PDF; refuse undecodable images."""
    dest = store.temp_path(".pdf")
    try:
        try:
            result = run_sandboxed(
                "image_to_pdf", {"src": os.fspath(path), "dest": os.fspath(dest)}, **limits
            )
        except SandboxError:
            raise UploadRejected("invalid_image") from None
        with open(dest, "rb") as converted:
            pdf_sha256 = store.commit(store.stage(converted, MAX_CONVERTED_BYTES))
    finally:
        dest.unlink(missing_ok=True)
    return pdf_sha256, int(result["pages"])


def display_name(filename: str | None, media_type: str) -> str:
    """A safe name to show and to offer on download.

    Keeps the sender's wording (Arabic included) but drops directories, control and bidi
    formatting characters (which can disguise an extension), leading dots and characters Windows
    forbids; ensures the extension matches the *content*, so "invoice.exe" holding a PDF is
    offered as "invoice.exe.pdf"; never longer than 200 characters.
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        " " if unicodedata.category(ch) in ("Zs", "Zl", "Zp") else ch
        for ch in name
        if not unicodedata.category(ch).startswith("C")
    )
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = " ".join(name.split()).lstrip(". ").rstrip(". ")
    extension = extension_for(media_type)
    stem, dot_ext = os.path.splitext(name)
    if dot_ext.lower() in KNOWN_EXTENSIONS[media_type] and stem:
        extension = dot_ext
        name = stem
    name = name[: MAX_DISPLAY_NAME - len(extension)].rstrip(". ") or "document"
    return name + extension


__all__ = [
    "FLAGS",
    "REJECTION_CODES",
    "REJECTION_MESSAGES",
    "IngestedFile",
    "UploadRejected",
    "display_name",
    "ingest_upload",
    "rejection_message",
]
