"""Helpers for the app.files tests: generated documents and access to the shared corpus.

A plain module (not conftest) so test modules can import it by its unique name."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import fpdf
from PIL import Image
from pypdf import PdfReader, PdfWriter

from tests.testdata import TESTDATA, needs_testdata  # noqa: F401 - re-exported

# Shared, read-only test data; tests that need it are skipped where it is not mounted.

# Lower than production's 20 s so a hanging file shows up quickly; nothing needs more than ~1 s.
TEST_TIMEOUT_S = 8
GUNZIP_CAP = 64 * 1024 * 1024


def make_pdf(pages: int = 1, text: str = "Diwan test page") -> bytes:
    """A small real PDF with one line of text per page."""
    pdf = fpdf.FPDF()
    pdf.set_font("helvetica", size=14)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(text=f"{text} {number}")
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_bytes(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def multipage_tiff(frames: int, size: tuple[int, int] = (120, 170)) -> bytes:
    images = [Image.new("RGB", size, (40 * i % 256, 90, 160)) for i in range(frames)]
    return image_bytes(images[0], "TIFF", save_all=True, append_images=images[1:])


def gunzip_capped(data: bytes, cap: int = GUNZIP_CAP) -> bytes:
    """Unpack a gzip member in memory, stopping at ``cap`` bytes (the corpus holds bombs)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    return inflater.decompress(data, cap)


def corpus_file(path: Path, tmp_path: Path) -> Path:
    """The corpus file to upload: ``.gz`` files are unpacked (capped) into tmp_path first."""
    if path.suffix != ".gz":
        return path
    target = tmp_path / path.stem
    target.write_bytes(gunzip_capped(path.read_bytes()))
    return target


def content_bomb_pdf(inflated_mb: int) -> bytes:
    """A one-page PDF whose content stream inflates to ``inflated_mb`` MiB of spaces."""
    deflater = zlib.compressobj(9)
    block = b" " * (1024 * 1024)
    stream = b"".join(deflater.compress(block) for _ in range(inflated_mb)) + deflater.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()
