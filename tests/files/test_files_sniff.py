"""Content sniffing: the type comes from the bytes, never from the name."""

from __future__ import annotations

import pytest
from files_testsupport import image_bytes, make_pdf, multipage_tiff
from PIL import Image

from app.files.sniff import ACCEPTED_TYPES, extension_for, sniff_media_type


def test_pdf() -> None:
    assert sniff_media_type(make_pdf()[:2048]) == "application/pdf"


def test_pdf_after_leading_junk_within_1024_bytes() -> None:
    assert sniff_media_type(b"\x00junk" * 200 + b"%PDF-1.7\n") == "application/pdf"


def test_pdf_header_beyond_1024_bytes_is_not_a_pdf() -> None:
    assert sniff_media_type(b" " * 1024 + b"%PDF-1.7\n") is None


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("TIFF", "image/tiff")],
)
def test_images(fmt: str, expected: str) -> None:
    data = image_bytes(Image.new("RGB", (8, 8), "red"), fmt)
    assert sniff_media_type(data[:2048]) == expected


def test_big_endian_tiff() -> None:
    assert sniff_media_type(b"MM\x00*\x00\x00\x00\x08") == "image/tiff"
    assert sniff_media_type(multipage_tiff(2)[:64]) == "image/tiff"


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + b"PE\x00\x00", id="exe"),
        pytest.param("Lettre au ministère\n".encode() * 10, id="text"),
        pytest.param(b"GIF89a\x01\x00\x01\x00", id="gif"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 26, id="zip-docx"),
        pytest.param(b"<html><body>%PDF</body></html>", id="html"),
        pytest.param(b"", id="empty"),
    ],
)
def test_refused_content(head: bytes) -> None:
    assert sniff_media_type(head) is None


def test_image_signature_wins_over_embedded_pdf_header() -> None:
    # A JPEG/PDF polyglot is handled as what its first bytes say: an image.
    assert sniff_media_type(b"\xff\xd8\xff\xe0" + b"%PDF-1.4") == "image/jpeg"


def test_extensions() -> None:
    assert [extension_for(t) for t in ACCEPTED_TYPES] == [".pdf", ".jpg", ".png", ".tif"]
    with pytest.raises(ValueError):
        extension_for("application/x-msdownload")
