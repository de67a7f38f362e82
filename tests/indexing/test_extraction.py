"""Text extraction: hostile files end within their limits, Arabic comes out in logical order,
scans are read by OCR, and the child process is limited and sees no secrets."""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import textwrap
import time
import unicodedata
import zlib
from pathlib import Path

import pytest
from testdata import TESTDATA, needs_testdata

from indexing import sandbox
from indexing._extract_child import clean_page_text, usable_text, visual_to_logical
from indexing.extraction import CHILD_SCRIPT, REASONS, STATUSES, Extraction, extract_text
from indexing.sandbox import ChildFailure, run_child

AMIRI = Path("/usr/share/fonts/opentype/fonts-hosny-amiri/Amiri-Regular.ttf")
needs_amiri = pytest.mark.skipif(not AMIRI.is_file(), reason=f"Amiri font not found at {AMIRI}")
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="no Tesseract")
TIMEOUT_S = 6
SLACK_S = 2  # process start and clean-up beyond the extraction's own limit
MAX_UNPACKED = 64 * 1024 * 1024  # what a test unpacks of a gzipped bomb


def _hostile_files() -> list[Path]:
    folder = TESTDATA / "extraction"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def _bounded_gunzip(data: bytes, limit: int = MAX_UNPACKED) -> bytes:
    """Unpack gzip data in memory, at most ``limit`` bytes: a deflate bomb is cut, not run."""
    unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    return unpacker.decompress(data, limit)


def _words(text: str) -> list[str]:
    return unicodedata.normalize("NFKC", text).split()


def _unmarked(text: str) -> str:
    """Without combining marks: OCR does not reliably read harakat."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _assert_outcome(result: Extraction) -> None:
    assert result.status in STATUSES
    assert result.reason in REASONS
    assert result.text == "\f".join(result.pages)
    if result.status == "ok":
        assert result.text.strip() and result.method in ("text-layer", "ocr")
    else:
        assert result.reason and not result.text.strip() and result.method == "none"


# -- the shared hostile files --------------------------------------------------------------------


@needs_testdata
@pytest.mark.parametrize("path", _hostile_files(), ids=lambda p: str(p.relative_to(TESTDATA)))
def test_every_hostile_file_ends_with_text_or_a_recorded_failure_in_time(path):
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = _bounded_gunzip(data)
    started = time.monotonic()
    result = extract_text(data, "application/pdf", timeout_s=TIMEOUT_S, memory_mb=768)
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    _assert_outcome(result)


@needs_testdata
def test_the_hostile_corpus_is_there():
    """The parametrised test above must not pass by having nothing to run."""
    assert len(_hostile_files()) >= 30


def test_bounded_gunzip_cuts_a_bomb(tmp_path):
    bomb = gzip.compress(b"\0" * (MAX_UNPACKED * 2), compresslevel=9)
    assert len(bomb) < MAX_UNPACKED // 100
    assert len(_bounded_gunzip(bomb)) == MAX_UNPACKED


@needs_testdata
@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [
        ("sample-files/libreoffice-writer-password.pdf", "failed", "encrypted"),
        ("qpdf/bad1.pdf", "failed", "damaged"),
        ("pyhanko/circular-page-tree.pdf", "failed", "damaged"),
        ("sample-files/minimal-document.pdf", "ok", ""),
    ],
)
def test_known_files_give_their_reason(name, status, reason):
    result = extract_text(TESTDATA / "extraction" / name, "application/pdf", timeout_s=TIMEOUT_S)
    assert (result.status, result.reason) == (status, reason), result.detail


@needs_testdata
def test_a_text_pdf_keeps_its_pages_apart():
    path = TESTDATA / "extraction" / "sample-files" / "pdflatex-4-pages.pdf"
    result = extract_text(path, "application/pdf", ocr="never", timeout_s=TIMEOUT_S)
    assert result.method == "text-layer" and len(result.pages) == 4
    assert result.text.count("\f") == 3 and all(page.strip() for page in result.pages)


def _pdf_with_content(raw_length: int) -> bytes:
    """A one-page PDF whose content stream deflates to ``raw_length`` bytes of text operators."""
    operators = b"BT /F1 12 Tf 72 720 Td (A) Tj ET\n"
    body = (operators * (raw_length // len(operators) + 1))[:raw_length]
    packed = zlib.compress(body, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body_ in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body_)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_a_deflate_bomb_is_refused_quickly():
    bomb = _pdf_with_content(500_000_000)  # 500 MB of operators in ~1.5 MB
    started = time.monotonic()
    result = extract_text(bomb, "application/pdf", timeout_s=TIMEOUT_S)
    assert time.monotonic() - started < TIMEOUT_S
    assert (result.status, result.reason) == ("failed", "too-large"), result.detail


def test_the_memory_limit_ends_a_greedy_document_as_memory():
    result = extract_text(_pdf_with_content(60_000_000), "application/pdf", memory_mb=200)
    assert (result.status, result.reason) == ("failed", "memory"), result.detail


def test_a_tiny_budget_ends_as_a_timeout_not_a_dead_parent():
    started = time.monotonic()
    result = extract_text(_pdf_with_content(60_000_000), "application/pdf", timeout_s=1.5)
    assert time.monotonic() - started < 1.5 + SLACK_S
    assert (result.status, result.reason) == ("failed", "timeout"), result.detail


# -- Arabic in logical order ---------------------------------------------------------------------

ARABIC_LINES = [
    "وزارة الرّقمنة والإدارة العمومية",
    "رسالة رقم ١٢٣ بتاريخ ٢٠٢٦/٠٣/١٥",
    "المرجع 2026/145 المؤرخة في 12 مارس، السلام عليكم",
    "Objet : réponse à la lettre (وزارة المالية) du 3 mars",
    "المديرية العامة (DGSN) للأمن الوطني، شكراً.",
]


def _fpdf_document(lines: list[str], size: int = 14) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("Amiri", fname=str(AMIRI))
    pdf.set_font("Amiri", size=size)
    pdf.set_text_shaping(True)
    for line in lines:
        pdf.multi_cell(0, size * 0.75, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@needs_amiri
def test_arabic_pdf_round_trips_in_logical_order():
    result = extract_text(_fpdf_document(ARABIC_LINES), "application/pdf", ocr="never")
    assert (result.status, result.method) == ("ok", "text-layer"), result.detail
    lines = [line for line in result.text.splitlines() if line.strip()]
    assert [_words(line) for line in lines] == [_words(line) for line in ARABIC_LINES]


def test_visual_lines_are_put_in_logical_order():
    cases = {
        "ةرازو": "وزارة",
        # Arabic-Indic numbers keep their digit order (pypdf 7.1 reverses them).
        "١٥/٠٣/٢٠٢٦ خيراتب ١٢٣ مقر": "رقم ١٢٣ بتاريخ ١٥/٠٣/٢٠٢٦",
        "Objet (ةيلاملا ةرازو) du 3 mars": "Objet (وزارة المالية) du 3 mars",
        ")DGSN( ةماعلا ةيريدملا": "المديرية العامة (DGSN)",
        "Bonjour, réf. 2026/145": "Bonjour, réf. 2026/145",
        "": "",
        # A ligature glyph maps to several characters, already in logical order: kept whole.
        "م\ufdd0لا\ufdd1سلا": "السلام",
    }
    for visual, logical in cases.items():
        assert visual_to_logical(visual) == logical


def test_page_text_clean_up():
    # A mark pushed off its letter by a text move, as fpdf2 draws "شكراً." (visual order).
    assert clean_page_text(".ً اركش", reorder=True) == "شكراً."
    # Presentation forms (lam-alef, final meem), direction marks and private-use glyph codes.
    assert clean_page_text("\ufefb\u200f\ufee2\ue000", reorder=False) == "لام"
    assert clean_page_text("a\fb\x00c\ufffd", reorder=False) == "abc"
    assert clean_page_text("\ufb01n \u0661\u0662", reorder=False) == "fin ١٢"


def test_missing_or_garbage_text_layers_are_detected():
    assert usable_text("Objet : demande") and usable_text("وزارة المالية")
    assert not usable_text("")
    assert not usable_text(" 2 \n")  # a page number alone
    assert not usable_text("\ue000\ue001\ue002\ue003 ab")  # private-use glyph codes
    assert not usable_text("\ufffd" * 10 + "abc")
    assert not usable_text("\x01\x02\x03\x04\x05 text")
    assert not usable_text("-- ** ## !! ?? //")


# -- OCR -----------------------------------------------------------------------------------------

SCAN_LINES = ["وزارة المالية والاقتصاد", "المديرية العامة للضرائب", "Demande de numérisation"]


def _scanned_pdf(lines: list[str]) -> bytes:
    """A text PDF rendered to a 200 dpi greyscale image, wrapped in a PDF without text."""
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(_fpdf_document(lines, size=20))[0]
    image = page.render(scale=200 / 72, grayscale=True).to_pil()
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=200)
    return buffer.getvalue()


@needs_amiri
@needs_tesseract
def test_a_scanned_page_is_read_in_arabic_and_french():
    result = extract_text(_scanned_pdf(SCAN_LINES), "application/pdf", timeout_s=30)
    assert (result.status, result.method) == ("ok", "ocr"), result.detail
    words = set(_unmarked(result.text).split())
    for word in ("وزارة", "المالية", "المديرية", "للضرائب", "Demande", "numérisation"):
        assert _unmarked(word) in words, (word, result.text)


@needs_amiri
@needs_tesseract
def test_an_image_is_read_directly():
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(_fpdf_document(SCAN_LINES, size=20))[0]
    buffer = io.BytesIO()
    page.render(scale=200 / 72).to_pil().save(buffer, "PNG")
    result = extract_text(buffer.getvalue(), "image/png", ocr_languages="ara+fra", timeout_s=30)
    assert (result.status, result.method) == ("ok", "ocr"), result.detail
    assert "المالية" in _unmarked(result.text)


@needs_amiri
def test_a_scan_without_ocr_is_flagged_not_failed():
    result = extract_text(_scanned_pdf(SCAN_LINES), "application/pdf", ocr="never")
    assert (result.status, result.reason, result.text) == ("no-text", "ocr-disabled", "")


@needs_amiri
def test_missing_tesseract_gives_no_ocr(monkeypatch, tmp_path):
    monkeypatch.setitem(sandbox.CHILD_ENV, "PATH", str(tmp_path))  # a PATH without Tesseract
    result = extract_text(_scanned_pdf(SCAN_LINES), "application/pdf")
    assert (result.status, result.reason) == ("no-text", "no-ocr"), result.detail


@needs_amiri
@needs_tesseract
def test_missing_language_data_gives_no_ocr():
    result = extract_text(_scanned_pdf(SCAN_LINES), "application/pdf", ocr_languages="xyz")
    assert (result.status, result.reason) == ("no-text", "no-ocr"), result.detail


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring ``width`` x ``height`` pixels with almost no data: a bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@needs_tesseract
def test_an_image_bomb_is_refused_fast():
    started = time.monotonic()
    result = extract_text(_png_header_only(40_000, 40_000), "image/png", timeout_s=TIMEOUT_S)
    assert time.monotonic() - started < 3
    assert (result.status, result.reason) == ("failed", "too-large"), result.detail


@needs_testdata
@needs_tesseract
@pytest.mark.parametrize("path", sorted((TESTDATA / "images").rglob("*.*")), ids=lambda p: p.name)
def test_shared_image_bombs_are_refused_fast(path):
    started = time.monotonic()
    result = extract_text(path, "image/gif", timeout_s=TIMEOUT_S)
    assert time.monotonic() - started < 3
    _assert_outcome(result)
    assert result.status != "ok"


# -- arguments, other media types ----------------------------------------------------------------


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="ocr"):
        extract_text(b"%PDF", "application/pdf", ocr="sometimes")
    with pytest.raises(ValueError, match="language"):
        extract_text(b"%PDF", "application/pdf", ocr_languages="ara --psm 0")
    with pytest.raises(ValueError, match="timeout"):
        extract_text(b"%PDF", "application/pdf", timeout_s=0.5)
    with pytest.raises(FileNotFoundError):
        extract_text("/nonexistent/letter.pdf", "application/pdf")


def test_other_media_types():
    assert extract_text(b"PK\3\4", "application/zip").reason == "not-supported"
    text = extract_text("Réf. 2026/145 — وزارة".encode(), "text/plain; charset=utf-8")
    assert (text.status, text.text) == ("ok", "Réf. 2026/145 — وزارة")
    legacy = extract_text("وزارة".encode("cp1256"), "text/plain")
    assert legacy.text == "وزارة"
    assert extract_text(b"  \n", "text/plain").reason == "blank"


# -- the child process ---------------------------------------------------------------------------


def test_the_child_sees_no_secrets_and_is_limited(monkeypatch):
    monkeypatch.setenv("DIWAN_SECRET_KEY", "not-for-the-child")
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/diwan")
    seen = run_child(CHILD_SCRIPT, "probe", {}, timeout_s=10, memory_mb=300)
    assert set(seen["environment"]) <= set(sandbox.CHILD_ENV)
    assert seen["rlimit_as"] == 300 * 1024 * 1024 and seen["rlimit_cpu"] == 10
    assert not {"app", "flask", "indexing", "sqlalchemy"} & set(seen["modules"])


_MISBEHAVING = textwrap.dedent(
    """
    import json, os, resource, subprocess, sys, time
    op, memory_mb = sys.argv[1], int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (int(sys.argv[3]), int(sys.argv[3]) + 1))
    args = json.loads(sys.stdin.read())
    if op == "spin":
        while True:
            pass
    if op == "helper":
        helper = subprocess.Popen(["sleep", "60"])
        with open(args["pidfile"], "w") as out:
            out.write(str(helper.pid))
        time.sleep(60)
    if op == "alloc":
        try:
            hoard = bytearray(4096 << 20)
        except MemoryError:
            os._exit(3)
    if op == "abort":
        os.abort()
    if op == "noise":
        print("not json")
        sys.exit(0)
    if op == "fail":
        print(json.dumps({"ok": False, "error": "ValueError: refused"}))
        sys.exit(1)
    print(json.dumps({"ok": True, "result": {"echo": args}}))
    """
)


@pytest.fixture
def misbehaving(tmp_path) -> Path:
    script = tmp_path / "child.py"
    script.write_text(_MISBEHAVING)
    return script


@pytest.mark.parametrize(
    ("op", "reason"),
    [("alloc", "memory"), ("abort", "crashed"), ("noise", "crashed"), ("fail", "failed")],
)
def test_child_failures_are_named(misbehaving, op, reason):
    with pytest.raises(ChildFailure) as caught:
        run_child(misbehaving, op, {}, timeout_s=5, memory_mb=200)
    assert caught.value.reason == reason


def test_a_spinning_child_is_stopped_by_its_cpu_limit(misbehaving):
    started = time.monotonic()
    with pytest.raises(ChildFailure) as caught:
        run_child(misbehaving, "spin", {}, timeout_s=1, memory_mb=200)
    assert caught.value.reason == "timeout" and time.monotonic() - started < 1 + SLACK_S


def test_a_timeout_kills_the_helpers_too(misbehaving, tmp_path):
    pidfile = tmp_path / "helper.pid"
    with pytest.raises(ChildFailure) as caught:
        run_child(misbehaving, "helper", {"pidfile": str(pidfile)}, timeout_s=1.5, memory_mb=200)
    assert caught.value.reason == "timeout"
    helper = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and _alive(helper):
        time.sleep(0.05)
    assert not _alive(helper)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, waiting for init to reap it, counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_a_well_behaved_child_answers(misbehaving):
    assert run_child(misbehaving, "echo", {"x": "و"}, timeout_s=5, memory_mb=200) == {
        "echo": {"x": "و"}
    }
    with pytest.raises(ValueError):
        run_child(misbehaving, "echo", {}, timeout_s=0, memory_mb=200)
