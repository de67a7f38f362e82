"""PDF acknowledgement receipt: layout, bidi text, QR code, pagination, metadata."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
import pypdfium2 as pdfium
import pytest
import segno
from PIL import Image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from app.reports import receipt_pdf
from app.reports.receipt_pdf import ReceiptContent, render_receipt_pdf

pytestmark = pytest.mark.usefixtures("pdf_font")

ISOLATES = "\u2066\u2067\u2068\u2069"
PT_PER_MM = 72 / 25.4
MARGIN = receipt_pdf._MARGIN_X * PT_PER_MM
NUMBER = "2026/A/000123"
CODE = "K7QX-9M2P-T4HD-W8RA"
URL = "https://diwan.example.ma/suivi/K7QX-9M2P-T4HD-W8RA"


def _sha(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


RECEIPT_AR = ReceiptContent(
    rtl=True,
    organisation="وزارة الانتقال الرقمي وإصلاح الإدارة",
    title="وصل إيداع",
    fields=[
        ("رقم التسجيل", NUMBER),
        ("التاريخ والساعة", "2026-11-24 10:32"),
        ("الإدارة", "مديرية الموارد البشرية"),
        ("نوع الطلب", "شكاية"),
        ("الموضوع", "طلب الحصول على شهادة إدارية"),
        ("مقدم الطلب", "فاطمة الزهراء بنعلي"),
        ("الأجل القانوني", "60 يوم عمل — الجواب قبل 2027-02-19"),
    ],
    attachments_title="المرفقات (SHA-256)",
    attachments=[("شكاية.pdf", _sha("a")), ("scan.jpg", _sha("b"))],
    no_attachments="لا توجد مرفقات",
    tracking_label="رمز التتبع",
    tracking_code=CODE,
    qr_url=URL,
    qr_caption="امسح الرمز لتتبع طلبك",
    note=(
        "هذا الوصل مختوم إلكترونيا من طرف الإدارة. للتحقق من صحة الختم، افتح الملف في قارئ PDF "
        "أو قم بزيارة https://diwan.example.ma/verification وأدخل رمز التتبع."
    ),
)
RECEIPT_FR = ReceiptContent(
    rtl=False,
    organisation="Ministère de la Transition numérique et de la Réforme de l'Administration",
    title="Accusé de réception",
    fields=[
        ("Numéro d'enregistrement", NUMBER),
        ("Date et heure", "2026-11-24 10:32"),
        ("Administration", "Direction des ressources humaines"),
        ("Type de demande", "Réclamation"),
        ("Objet", "Demande d'obtention d'une attestation administrative"),
        ("Déposée par", "Fatima Zahra Benali"),
        ("Délai légal", "60 jours ouvrables — réponse avant le 2027-02-19"),
    ],
    attachments_title="Pièces jointes (SHA-256)",
    attachments=[("réclamation.pdf", _sha("a")), ("scan.jpg", _sha("b"))],
    no_attachments="Aucune pièce jointe",
    tracking_label="Code de suivi",
    tracking_code=CODE,
    qr_url=URL,
    qr_caption="Scannez pour suivre votre demande",
    note=(
        "Ce récépissé est scellé électroniquement par l'administration. Pour vérifier le cachet, "
        "ouvrez le fichier dans un lecteur PDF ou rendez-vous sur "
        "https://diwan.example.ma/verification et saisissez le code de suivi."
    ),
)
RECEIPTS = pytest.mark.parametrize("receipt", [RECEIPT_AR, RECEIPT_FR], ids=["ar", "fr"])


def _render(base: ReceiptContent = RECEIPT_AR, **changes: object) -> bytes:
    return render_receipt_pdf(dataclasses.replace(base, **changes))  # type: ignore[arg-type]


def _page_texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def _rev(arabic: str) -> str:
    """Arabic words as painted left to right: glyphs in reverse order, no spaces."""
    return arabic[::-1].replace(" ", "")


def _halves(digest: str) -> tuple[str, str]:
    return digest[:32], digest[32:]


# -- what is painted where, read back from the glyph positions ----------------------


@contextmanager
def _page(data: bytes, index: int = 0) -> Iterator[pdfium.PdfPage]:
    with pdfium.PdfDocument(data) as document:
        yield document[index]


def _chars(
    page: pdfium.PdfPage, loose: bool = True
) -> list[tuple[str, float, float, float, float]]:
    """Painted characters as (char, left, bottom, right, top) in PDF points.

    ``loose`` boxes span the font's whole line (same bottom on a baseline);
    tight ones are the glyph's ink.
    """
    textpage = page.get_textpage()
    result = []
    for index in range(textpage.count_chars()):
        char = textpage.get_text_range(index, 1)
        left, bottom, right, top = textpage.get_charbox(index, loose=loose)
        if char.strip() and char not in ISOLATES and right > left:
            result.append((char, left, bottom, right, top))
    return result


def _painted_lines(page: pdfium.PdfPage) -> list[tuple[str, float, float]]:
    """Each text line as (chars painted left to right without spaces, left, right).

    Lines are told apart by their baseline: a table row's label and value
    come out as one line.
    """
    lines: dict[int, list[tuple[float, float, str]]] = {}
    for char, left, bottom, right, _top in _chars(page):
        lines.setdefault(round(bottom), []).append((left, right, char))
    result = []
    for _bottom, chars in sorted(lines.items(), reverse=True):
        chars.sort()
        text = "".join(char for _left, _right, char in chars)
        result.append((text, chars[0][0], max(right for _left, right, _char in chars)))
    return result


def _painted(data: bytes, needle: str, index: int = 0) -> tuple[str, float, float]:
    with _page(data, index) as page:
        found = [line for line in _painted_lines(page) if needle in line[0]]
    assert len(found) == 1, f"{needle!r} painted on {len(found)} lines"
    return found[0]


def _image(data: bytes, index: int = 0, dpi: int = 300) -> Image.Image:
    with _page(data, index) as page:
        return page.render(scale=dpi / 72).to_pil().convert("L")


# -- basics -------------------------------------------------------------------------


@RECEIPTS
def test_one_plain_a4_page_with_metadata(receipt: ReceiptContent) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    data = render_receipt_pdf(receipt)
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 portrait
    meta = reader.metadata
    assert meta is not None
    assert meta.title == receipt.title
    assert meta.author == receipt.organisation
    assert meta.creator == "Diwan"
    assert meta.creation_date is not None
    assert before <= meta.creation_date <= datetime.now(UTC) + timedelta(seconds=1)
    # Ready for a PAdES seal: not encrypted, no form, readable by pyHanko.
    assert not reader.is_encrypted
    assert "/AcroForm" not in reader.trailer["/Root"]
    assert IncrementalPdfFileWriter(io.BytesIO(data)).security_handler is None


@RECEIPTS
def test_texts_extract(receipt: ReceiptContent) -> None:
    (text,) = _page_texts(render_receipt_pdf(receipt))
    for needle in (
        *receipt.organisation.split(" et de la "),  # on two lines in French
        receipt.title,
        NUMBER,
        "2026-11-24 10:32",
        "2027-02-19",
        CODE,
        receipt.tracking_label,
        receipt.qr_caption,
        *(label for label, _value in receipt.fields),
        # "شكاية.pdf" extracts as "pdf.شكاية", isolates around "pdf": checked by part
        *(part for name, _digest in receipt.attachments for part in name.split(".")),
        *(half for _name, digest in receipt.attachments for half in _halves(digest)),
    ):
        assert needle in text, needle
    assert "https://diwan.example.ma/verification" in text
    # no glyph without a ToUnicode entry (they extract as control characters)
    assert not [ch for ch in text if unicodedata.category(ch) == "Cc" and ch != "\n"]


def test_arabic_numbers_and_dates_are_not_reversed() -> None:
    (text,) = _page_texts(_render())
    for reversed_text in ("A/000123/2026", "24-11-2026", "19-02-2027", "AR8W-DH4T"):
        assert reversed_text not in text
    for word in ("الانتقال", "الرقمي", "الموارد", "الحصول", "شهادة", "الزهراء", "عمل"):
        assert word in text.split(), word


def test_typical_content_fits_on_one_page() -> None:
    fields = [*RECEIPT_FR.fields, ("Canal", "Portail citoyen")]  # eight fields
    attachments = [(f"pièce-{i}.pdf", _sha(str(i))) for i in range(5)]
    for receipt in (RECEIPT_AR, RECEIPT_FR):
        data = _render(receipt, fields=fields, attachments=attachments)
        assert len(_page_texts(data)) == 1


def test_no_attachments() -> None:
    (text,) = _page_texts(_render(RECEIPT_FR, attachments=[]))
    assert "Aucune pièce jointe" in text
    assert "Pièces jointes (SHA-256)" in text
    (text,) = _page_texts(_render(attachments=()))
    assert "لا توجد مرفقات" in text


def test_optional_texts_can_be_empty() -> None:
    data = _render(
        RECEIPT_FR,
        organisation="",
        title="",
        fields=[],
        attachments_title="",
        attachments=[],
        no_attachments="",
        tracking_label="",
        tracking_code="",
        qr_caption="",
        note="",
    )
    assert len(_page_texts(data)) == 1
    expected = [[bool(cell) for cell in row] for row in segno.make_qr(URL, error="m").matrix]
    assert _qr_modules(data, RECEIPT_FR) == expected


def test_user_values_are_cleaned() -> None:
    fields = [("Objet", "abc\u202edef\u2066ghi\x00"), ("Déposée par", "Fatima\r\nBenali")]
    (text,) = _page_texts(_render(RECEIPT_FR, fields=fields))
    assert "abcdefghi" in text
    assert "\u202e" not in text
    assert "\x00" not in text


@pytest.mark.parametrize(
    "url",
    [
        "ftp://diwan.example.ma/suivi",
        "javascript:alert(1)",
        "diwan.example.ma/suivi/K7QX",
        "https://",
        "https://diwan.example.ma/suivi K7QX",
        "",
    ],
)
def test_qr_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        _render(qr_url=url)


# -- layout --------------------------------------------------------------------------


def test_arabic_receipt_is_laid_out_right_to_left() -> None:
    data = _render()
    with _page(data) as page:
        width = page.get_width()
    # letterhead against the right margin
    _line, left, right = _painted(data, _rev("وإصلاح الإدارة"))
    assert right == pytest.approx(width - MARGIN, abs=2)
    assert left > width / 3
    # label on the right, value on its left; the number reads left to right
    line, _left, right = _painted(data, NUMBER)
    assert line == NUMBER + _rev("رقم التسجيل")
    assert right < width - MARGIN
    line, _left, _right = _painted(data, "10:32")
    assert line == "2026-11-2410:32" + _rev("التاريخ والساعة")
    # an Arabic value with a number at each end: read right to left, each number left to right
    line, _left, _right = _painted(data, "2027-02-19")
    assert line == "2027-02-19" + _rev("يوم عمل — الجواب قبل") + "60" + _rev("الأجل القانوني")
    # the file name on the right, its digest on the left, left to right
    first, second = _halves(RECEIPT_AR.attachments[0][1])
    line, left, _right = _painted(data, first)
    assert line.startswith(first)
    assert line == first
    assert abs(left - MARGIN) < 10
    line, _left, _right = _painted(data, second)
    assert line == second
    # the extension on the left, as a browser shows it in Arabic text
    line, _left, right = _painted(data, "pdf." + _rev("شكاية"))
    assert line == "pdf." + _rev("شكاية")
    assert right == pytest.approx(width - MARGIN - receipt_pdf._CELL_PAD_X * PT_PER_MM, abs=1)
    # the tracking code, alone on its line, left to right, on the right side
    line, left, right = _painted(data, CODE)
    assert line == CODE
    assert (left + right) / 2 > width / 2


def test_french_receipt_is_laid_out_left_to_right() -> None:
    data = _render(RECEIPT_FR)
    with _page(data) as page:
        width = page.get_width()
    line, left, _right = _painted(data, "Ministère")
    assert abs(left - MARGIN) < 15
    line, left, _right = _painted(data, NUMBER)
    assert line == "Numérod'enregistrement" + NUMBER
    assert left == pytest.approx(MARGIN + receipt_pdf._CELL_PAD_X * PT_PER_MM, abs=1)
    first, _second = _halves(RECEIPT_FR.attachments[0][1])
    line, left, _right = _painted(data, first)
    assert line == first
    assert left > width * 0.6
    line, left, right = _painted(data, CODE)
    assert line == CODE
    assert (left + right) / 2 < width / 2


@pytest.mark.parametrize(
    ("receipt", "caption", "last_words"),
    [
        (RECEIPT_AR, _rev(RECEIPT_AR.qr_caption), _rev("رمز التتبع")),
        (RECEIPT_FR, "Scannezpoursuivrevotredemande", "codedesuivi."),
    ],
    ids=["ar", "fr"],
)
def test_note_sits_at_the_foot(receipt: ReceiptContent, caption: str, last_words: str) -> None:
    data = render_receipt_pdf(receipt)
    with _page(data) as page:
        lines = [text for text, _left, _right in _painted_lines(page)]
        bottom = min(char[2] for char in _chars(page))
    assert last_words in lines[-1]
    assert lines.index(caption) < len(lines) - 2  # the note comes after the QR code
    # pushed down to the bottom margin, not right under the QR code
    limit = (receipt_pdf._MARGIN_BOTTOM + 2) * PT_PER_MM
    assert limit < bottom < limit + 25


# -- the QR code ---------------------------------------------------------------------


def _qr_modules(data: bytes, receipt: ReceiptContent, dpi: int = 300) -> list[list[bool]]:
    """The QR code's modules read back from the rendered page (True: dark).

    The symbol's column is known from the layout; its top is found as the
    block of dark rows of the symbol's height in that column.  Each module is
    sampled at its centre, and the quiet zone around it must be blank.
    """
    image = _image(data, dpi=dpi)
    px = dpi / 25.4  # pixels per millimetre
    size = len(segno.make_qr(receipt.qr_url, error="m").matrix)
    count = size + 2 * receipt_pdf._QR_QUIET
    module = receipt_pdf._QR_SIZE / count * px
    column_w = receipt_pdf._QR_COLUMN
    page_w = 210.0
    column_x = receipt_pdf._MARGIN_X if receipt.rtl else page_w - receipt_pdf._MARGIN_X - column_w
    qr_x = (column_x + (column_w - receipt_pdf._QR_SIZE) / 2) * px
    left = qr_x + receipt_pdf._QR_QUIET * module
    right = left + size * module
    pixels = image.load()
    assert pixels is not None

    def dark_row(y: int) -> bool:
        return any(pixels[x, y] < 128 for x in range(round(left) + 1, round(right) - 1))

    runs: list[list[int]] = []  # [first, last] dark rows, gaps under a module merged
    for y in range(image.height):
        if dark_row(y):
            if runs and y - runs[-1][1] <= module:
                runs[-1][1] = y
            else:
                runs.append([y, y])
    tall = [run for run in runs if abs(run[1] - run[0] + 1 - size * module) < module]
    assert len(tall) == 1, f"no QR-sized block of dark rows found: {runs}"
    top = tall[0][0]
    modules = [
        [
            pixels[round(left + (col + 0.5) * module), round(top + (row + 0.5) * module)] < 128
            for col in range(size)
        ]
        for row in range(size)
    ]
    # the quiet zone is left blank (a 4-module ring around the symbol)
    quiet = receipt_pdf._QR_QUIET * module
    ring = [
        pixels[x, y]
        for y in range(round(top - quiet) + 2, round(top + (size * module) + quiet) - 2)
        for x in range(round(left - quiet) + 2, round(right + quiet) - 2)
        if not (left - 2 <= x <= right + 2 and top - 2 <= y <= top + size * module + 2)
    ]
    assert min(ring) > 200, "something is drawn in the quiet zone"
    return modules


@RECEIPTS
def test_qr_code_encodes_the_tracking_url(receipt: ReceiptContent) -> None:
    data = render_receipt_pdf(receipt)
    expected = [[bool(cell) for cell in row] for row in segno.make_qr(URL, error="m").matrix]
    assert _qr_modules(data, receipt) == expected
    # about 30-35 mm wide, square
    assert 30 <= receipt_pdf._QR_SIZE <= 35


def test_qr_code_changes_with_the_url() -> None:
    other = "https://diwan.example.ma/suivi/AAAA-BBBB-CCCC-DDDD?lang=ar"
    modules = _qr_modules(_render(qr_url=other), dataclasses.replace(RECEIPT_AR, qr_url=other))
    assert modules == [[bool(c) for c in row] for row in segno.make_qr(other, error="m").matrix]


@RECEIPTS
def test_qr_code_decodes_when_a_decoder_is_installed(
    receipt: ReceiptContent, tmp_path: Path
) -> None:
    """Decoded by zbar when the machine has it (no dependency is added for this)."""
    image = _image(render_receipt_pdf(receipt), dpi=200)
    zbarimg = shutil.which("zbarimg")
    if zbarimg:
        path = tmp_path / "receipt.png"
        image.save(path)
        result = subprocess.run(
            [zbarimg, "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == receipt.qr_url
        return
    pyzbar = pytest.importorskip("pyzbar.pyzbar", reason="neither zbarimg nor pyzbar installed")
    decoded = [symbol.data.decode() for symbol in pyzbar.decode(image)]
    assert receipt.qr_url in decoded


# -- long content --------------------------------------------------------------------


def _inside_margins(data: bytes) -> None:
    """No text, rule or QR module outside the page margins, on any page."""
    top_mm, side_mm = receipt_pdf._MARGIN_TOP, receipt_pdf._MARGIN_X
    bottom_mm = receipt_pdf._MARGIN_BOTTOM
    with pdfium.PdfDocument(data) as document:
        for index in range(len(document)):
            page = document[index]
            width, height = page.get_width(), page.get_height()
            for char, left, bottom, right, top in _chars(page, loose=False):
                assert left >= side_mm * PT_PER_MM - 1, (index, char)
                assert right <= width - side_mm * PT_PER_MM + 1, (index, char)
                assert bottom >= bottom_mm * PT_PER_MM - 1, (index, char)
                assert top <= height - top_mm * PT_PER_MM + 1, (index, char)
            image = page.render(scale=100 / 72).to_pil().convert("L")
            px = 100 / 25.4
            edge = round(side_mm * px) - 2
            for box in (
                (0, 0, edge, image.height),  # left margin
                (image.width - edge, 0, image.width, image.height),  # right margin
                (0, 0, image.width, round(top_mm * px) - 2),  # top margin
                (0, image.height - round(bottom_mm * px) + 2, image.width, image.height),
            ):
                assert image.crop(box).getextrema()[0] > 250, (index, box)


@RECEIPTS
def test_long_subject_and_many_attachments_continue_on_more_pages(
    receipt: ReceiptContent,
) -> None:
    subject = ("Demande d'obtention d'une attestation " * 60)[:2000]
    if receipt.rtl:
        subject = ("طلب الحصول على شهادة إدارية " * 80)[:2000]
    long_name = "x" * 300
    attachments = [(f"piece {i}.pdf", _sha(str(i))) for i in range(12)]
    attachments.append((long_name, _sha("long")))
    fields = [*receipt.fields[:4], (receipt.fields[4][0], subject), *receipt.fields[5:]]
    data = _render(receipt, fields=fields, attachments=attachments)
    texts = _page_texts(data)
    assert len(texts) > 1
    for number, text in enumerate(texts, start=1):
        assert f"{number} / {len(texts)}" in text
    joined = "\n".join(texts)
    for _name, digest in attachments:
        for half in _halves(digest):
            assert joined.count(half) == 1, half
    assert joined.count("x") >= 300  # the unbroken name was wrapped, not lost
    assert CODE in texts[-1]
    assert NUMBER in texts[0]
    _inside_margins(data)


def test_row_taller_than_a_page_is_cut_between_lines() -> None:
    words = [f"mot{i:04d}" for i in range(900)]
    fields = [("Numéro", NUMBER), ("Objet", " ".join(words)), ("Déposée par", "Fatima")]
    data = _render(RECEIPT_FR, fields=fields, note="Note. " * 300)
    texts = _page_texts(data)
    assert len(texts) >= 3
    joined = " ".join(texts)
    positions = [joined.find(word) for word in words]
    assert -1 not in positions
    assert positions == sorted(positions)
    # the page holding the end of the subject also holds the next row
    last = next(text for text in texts if words[-1] in text)
    assert "Fatima" in last
    _inside_margins(data)


def test_typical_receipts_stay_inside_the_margins() -> None:
    _inside_margins(_render())
    _inside_margins(_render(RECEIPT_FR))


# -- pictures for a human --------------------------------------------------------------


@pytest.mark.parametrize(("name", "receipt"), [("ar", RECEIPT_AR), ("fr", RECEIPT_FR)])
def test_render_receipt_to_png(artifacts_dir: Path, name: str, receipt: ReceiptContent) -> None:
    data = render_receipt_pdf(receipt)
    (artifacts_dir / f"receipt-{name}.pdf").write_bytes(data)
    with pdfium.PdfDocument(data) as document:
        image = document[0].render(scale=2).to_pil()
    image.save(artifacts_dir / f"receipt-{name}.png")
    dark = sum(image.convert("L").histogram()[:128])
    assert dark > 10_000  # text, rules and the QR code were drawn
