"""Decide what an upload is from its bytes, never from its name or the browser's Content-Type.

Both the file name and the declared type are chosen by the sender; only the content decides which
parser will see the file. Image signatures are fixed at offset 0 and are checked first; a PDF
header may follow up to 1024 bytes of junk because PDF readers (Acrobat, PDFium) accept that.
A file with no ``%PDF-`` in that window is not opened by those readers either, so it is refused.
"""

from __future__ import annotations

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"

ACCEPTED_TYPES: tuple[str, ...] = (PDF, JPEG, PNG, TIFF)
IMAGE_TYPES: tuple[str, ...] = (JPEG, PNG, TIFF)

# How many leading bytes sniffing needs; the store keeps more than this in StagedFile.head.
SNIFF_BYTES = 1024

_EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png", TIFF: ".tif"}

# Extensions a sender may legitimately have used for each type (lower case).
KNOWN_EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    JPEG: (".jpg", ".jpeg", ".jpe", ".jfif"),
    PNG: (".png",),
    TIFF: (".tif", ".tiff"),
}

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)


def sniff_media_type(head: bytes) -> str | None:
    """Return the accepted media type of a file starting with ``head``, or None."""
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return media_type
    if b"%PDF-" in head[:SNIFF_BYTES]:
        return PDF
    return None


def extension_for(media_type: str) -> str:
    """Canonical file extension (with the dot) for an accepted media type."""
    try:
        return _EXTENSIONS[media_type]
    except KeyError:
        raise ValueError(f"not an accepted media type: {media_type!r}") from None
