"""ingest_upload: what is accepted, flagged, converted and refused."""

from __future__ import annotations

import io
import zlib

import pytest
from files_testsupport import (
    TEST_TIMEOUT_S,
    encrypt_pdf,
    image_bytes,
    make_pdf,
    multipage_tiff,
)
from PIL import Image
from pypdf import PdfReader

from app.files.intake import (
    FLAGS,
    REJECTION_CODES,
    IngestedFile,
    UploadRejected,
    display_name,
    ingest_upload,
    rejection_message,
)
from app.files.store import FileStore

MAX = 5 * 1024 * 1024


def ingest(store: FileStore, data: bytes, name: str = "upload", **kw: object) -> IngestedFile:
    kw.setdefault("timeout_s", TEST_TIMEOUT_S)
    return ingest_upload(store, io.BytesIO(data), name, max_bytes=MAX, **kw)  # type: ignore[arg-type]


def refused(store: FileStore, data: bytes, name: str = "upload", **kw: object) -> str:
    with pytest.raises(UploadRejected) as info:
        ingest(store, data, name, **kw)
    assert list(store.tmp_dir.iterdir()) == [], "staged file left behind"
    assert list(store.iter_hashes()) == [], "refused upload was stored"
    return info.value.code


def pdf_pages(store: FileStore, sha: str) -> list[tuple[float, float]]:
    reader = PdfReader(io.BytesIO(store.open_verified(sha)))
    return [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]


# -- PDFs ----------------------------------------------------------------------------------------


def test_pdf_is_stored_as_is(store: FileStore) -> None:
    data = make_pdf(pages=2)
    result = ingest(store, data, "كتاب رسمي.pdf")
    assert result.media_type == "application/pdf"
    assert result.size == len(data)
    assert result.page_count == 2
    assert result.flags == frozenset()
    assert result.pdf_sha256 == result.original_sha256
    assert store.open_verified(result.original_sha256) == data
    assert result.display_name == "كتاب رسمي.pdf"
    assert list(store.tmp_dir.iterdir()) == []


def test_pdf_with_leading_junk_is_accepted(store: FileStore) -> None:
    result = ingest(store, b"\r\n\x00junk\n" + make_pdf())
    assert result.media_type == "application/pdf"
    assert result.flags <= set(FLAGS)


def test_encrypted_pdf_without_user_password_is_readable(store: FileStore) -> None:
    result = ingest(store, encrypt_pdf(make_pdf(pages=3), user_password=""))
    assert result.flags == {"encrypted"}
    assert result.page_count == 3
    assert result.pdf_sha256 == result.original_sha256


def test_password_protected_pdf_is_kept_and_flagged(store: FileStore) -> None:
    result = ingest(store, encrypt_pdf(make_pdf(), user_password="secret"))
    assert result.flags == {"encrypted", "password_protected"}
    assert result.page_count is None and result.pdf_sha256 is None
    assert store.exists(result.original_sha256)


def test_broken_pdf_is_kept_and_flagged(store: FileStore) -> None:
    result = ingest(store, b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\n%%EOF\n")
    assert result.flags == {"unreadable"}
    assert result.page_count is None and result.pdf_sha256 is None
    assert store.exists(result.original_sha256)


def test_analysis_timeout_is_flagged_not_refused(store: FileStore) -> None:
    result = ingest(store, make_pdf(), timeout_s=0.01)
    assert result.flags == {"analysis_failed"}
    assert result.pdf_sha256 is None and store.exists(result.original_sha256)


# -- images --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "params"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "L", {}),
        ("PNG", "1", {}),
        ("PNG", "P", {}),
        ("PNG", "P", {"transparency": 0}),
        ("PNG", "RGBA", {}),
        ("PNG", "LA", {}),
        ("PNG", "I;16", {}),
        ("JPEG", "RGB", {}),
        ("JPEG", "L", {}),
        ("JPEG", "CMYK", {}),
        ("TIFF", "1", {"compression": "group4"}),
        ("TIFF", "F", {}),
    ],
)
def test_image_is_converted_to_a_one_page_pdf(
    store: FileStore, fmt: str, mode: str, params: dict
) -> None:
    image = Image.linear_gradient("L").resize((300, 200)).convert(mode)
    data = image_bytes(image, fmt, **params)
    result = ingest(store, data, f"scan.{fmt.lower()}")
    assert result.media_type == f"image/{fmt.lower()}"
    assert result.page_count == 1 and result.flags == frozenset()
    assert result.pdf_sha256 not in (None, result.original_sha256)
    assert store.open_verified(result.original_sha256) == data
    [(width, height)] = pdf_pages(store, result.pdf_sha256)
    assert width / height == pytest.approx(1.5, rel=0.01)


def test_multipage_tiff_gives_one_page_per_frame(store: FileStore) -> None:
    result = ingest(store, multipage_tiff(3), "fax.tiff")
    assert result.media_type == "image/tiff" and result.page_count == 3
    assert len(pdf_pages(store, result.pdf_sha256)) == 3
    assert result.display_name == "fax.tiff"


def test_scanner_dpi_sets_the_page_size(store: FileStore) -> None:
    data = image_bytes(Image.new("L", (600, 900), 255), "PNG", dpi=(300, 300))
    result = ingest(store, data)
    assert pdf_pages(store, result.pdf_sha256) == [
        pytest.approx((144.0, 216.0), abs=0.5)  # 2 x 3 inches
    ]


def test_placeholder_dpi_is_replaced_by_a4_fit(store: FileStore) -> None:
    data = image_bytes(Image.new("RGB", (4000, 3000), "white"), "JPEG", dpi=(72, 72))
    result = ingest(store, data, "photo.jpeg")
    [(width, _height)] = pdf_pages(store, result.pdf_sha256)
    assert width == pytest.approx(297 / 25.4 * 72, abs=1)  # landscape A4 long side
    assert result.display_name == "photo.jpeg"


def test_exif_orientation_is_applied(store: FileStore) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = image_bytes(Image.new("RGB", (400, 200), "blue"), "JPEG", exif=exif)
    result = ingest(store, data)
    [(width, height)] = pdf_pages(store, result.pdf_sha256)
    assert height > width


def test_same_image_gives_the_same_pdf(store: FileStore) -> None:
    data = multipage_tiff(2)
    first, second = ingest(store, data), ingest(store, data)
    assert first.pdf_sha256 == second.pdf_sha256
    assert sorted(store.iter_hashes()) == sorted({first.original_sha256, first.pdf_sha256})


# -- refusals ------------------------------------------------------------------------------------


def test_empty(store: FileStore) -> None:
    assert refused(store, b"", "empty.pdf") == "empty"


def test_too_large(store: FileStore) -> None:
    with pytest.raises(UploadRejected) as info:
        ingest_upload(store, io.BytesIO(make_pdf()), "big.pdf", max_bytes=100)
    assert info.value.code == "too_large"
    assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 500, "invoice.pdf"),
        ("نص عادي وليس ملف PDF\n".encode() * 20, "letter.pdf"),
        (image_bytes(Image.new("RGB", (10, 10)), "GIF"), "scan.png"),
        (image_bytes(Image.new("RGB", (10, 10)), "BMP"), "scan.tif"),
    ],
    ids=["renamed-exe", "text", "gif", "bmp"],
)
def test_unsupported_type(store: FileStore, data: bytes, name: str) -> None:
    assert refused(store, data, name) == "unsupported_type"


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring a huge greyscale image, with a tiny deflate stream."""
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1) * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            image_bytes(Image.new("RGB", (400, 300), "red"), "PNG")[:300], id="truncated-png"
        ),
        pytest.param(
            image_bytes(Image.effect_noise((400, 300), 50), "JPEG")[:2000], id="truncated-jpeg"
        ),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, id="garbage-png"),
        pytest.param(b"II*\x00" + b"\xff" * 100, id="garbage-tiff"),
        pytest.param(_png_bomb(60_000, 60_000), id="png-bomb-3.6Gpx"),
        pytest.param(_png_bomb(10_000, 5_100), id="png-just-over-50Mpx"),
    ],
)
def test_invalid_image(store: FileStore, data: bytes) -> None:
    assert refused(store, data, "scan.png") == "invalid_image"


def test_rejection_codes_have_messages() -> None:
    assert set(REJECTION_CODES) == {"empty", "too_large", "unsupported_type", "invalid_image"}
    for code in REJECTION_CODES:
        assert rejection_message(code) == UploadRejected(code).message
    with pytest.raises(ValueError):
        UploadRejected("nope")


# -- display names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "media_type", "expected"),
    [
        ("report.pdf", "application/pdf", "report.pdf"),
        ("../../etc/passwd", "application/pdf", "passwd.pdf"),
        ("C:\\Users\\amina\\Desktop\\scan.PDF", "application/pdf", "scan.PDF"),
        (".htaccess", "application/pdf", "htaccess.pdf"),
        ("...", "application/pdf", "document.pdf"),
        ("", "image/png", "document.png"),
        (None, "image/tiff", "document.tif"),
        ("invoice.exe", "application/pdf", "invoice.exe.pdf"),
        ("photo.png", "image/jpeg", "photo.png.jpg"),
        ("a\x00b\r\nc\u202egpj.pdf", "application/pdf", "abcgpj.pdf"),
        ("  رسالة   الوزارة  .pdf", "application/pdf", "رسالة الوزارة.pdf"),
        ('what?<>:"|*.pdf', "application/pdf", "what_______.pdf"),
        ("x" * 500 + ".pdf", "application/pdf", "x" * 196 + ".pdf"),
        ("ش" * 300, "image/jpeg", "ش" * 196 + ".jpg"),
    ],
)
def test_display_name(filename: str | None, media_type: str, expected: str) -> None:
    assert display_name(filename, media_type) == expected
    assert len(expected) <= 200
