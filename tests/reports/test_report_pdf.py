"""PDF export of the registry: layout, bidi text, pagination, metadata."""

from __future__ import annotations

import ast
import io
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pypdfium2 as pdfium
import pytest

from app.reports import register_pdf
from app.reports.fonts import find_fallback_fonts
from app.reports.register_pdf import render_register_pdf

pytestmark = pytest.mark.usefixtures("pdf_font")

WHEN = datetime(2026, 11, 22, 18, 30, tzinfo=UTC)
MIXED_AR = "مراسلة رقم 2026/A/000123 بتاريخ 2026-11-22"
MIXED_REF = "Réf. ٢٠٢٦/١٤٥ — وزارة الداخلية"
ISOLATES = "\u2066\u2067\u2068\u2069"

COLUMNS_AR = [
    ("number", "الرقم", 1.3),
    ("registered_at", "تاريخ التسجيل", 1.2),
    ("correspondent", "المراسل", 2.0),
    ("subject", "الموضوع", 3.5),
    ("reference", "مرجع المرسل", 1.2),
    ("channel", "القناة", 0.9),
    ("status", "الحالة", 0.9),
]
COLUMNS_FR = [
    ("number", "Numéro", 1.3),
    ("registered_at", "Enregistré le", 1.2),
    ("correspondent", "Correspondant", 2.0),
    ("subject", "Objet", 3.5),
    ("reference", "Réf. de l'expéditeur", 1.2),
    ("channel", "Canal", 0.9),
    ("status", "Statut", 0.9),
]


def _rows(count: int) -> list[dict[str, str]]:
    samples = [
        {
            "correspondent": "وزارة الداخلية",
            "subject": MIXED_AR,
            "reference": MIXED_REF,
            "channel": "بريد",
            "status": "مسجل",
        },
        {
            "correspondent": "Éléonore Dupré",
            "subject": "Demande de réintégration à l'hôpital régional (coût : 12 €)",
            "reference": "DR/2026-77",
            "channel": "Guichet",
            "status": "Enregistré",
        },
        {
            "correspondent": "شركة Société Générale S.A. المحدودة",
            "subject": "طلب رخصة بناء، الملف عدد 45 المؤرخ في 2026-10-01، مع نسخة من عقد الكراء "
            * 3,
            "reference": '=HYPERLINK("x")',
            "channel": "إلكتروني",
            "status": "قيد المعالجة",
        },
        {
            "correspondent": "Lettre de M. محمد بن علي",
            "subject": "Ç" + "ABCDEFGHIJ" * 20,
            "reference": "",
            "channel": "Guichet",
            "status": "Clôturé",
        },
    ]
    return [
        {
            "number": f"2026/A/{i + 1:06d}",
            "registered_at": f"2026-11-22 {8 + i % 10:02d}:{i % 60:02d}",
            **samples[i % len(samples)],
        }
        for i in range(count)
    ]


def _render(**kwargs: object) -> bytes:
    params: dict[str, object] = {
        "title": "بلدية تونس — سجل البريد الوارد",
        "subtitle": "22 نوفمبر 2026",
        "columns": COLUMNS_AR,
        "rows": _rows(4),
        "rtl": True,
        "footer": "ديوان — سجل يومي",
        "creation_date": WHEN,
    }
    params.update(kwargs)
    return render_register_pdf(**params)  # type: ignore[arg-type]


def _page_texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


# -- visual order, read back from the rendered glyph positions ----------------------


@contextmanager
def _page(data: bytes, index: int = 0) -> Iterator[pdfium.PdfPage]:
    with pdfium.PdfDocument(data) as document:
        yield document[index]


def _chars(page: pdfium.PdfPage) -> list[tuple[str, float, float, float]]:
    """Painted characters as (char, left, right, bottom) in PDF points."""
    textpage = page.get_textpage()
    result = []
    for index in range(textpage.count_chars()):
        char = textpage.get_text_range(index, 1)
        left, bottom, right, _top = textpage.get_charbox(index, loose=True)
        if char.strip() and char not in ISOLATES and right > left:
            result.append((char, left, right, bottom))
    return result


def _visual_lines(page: pdfium.PdfPage) -> list[str]:
    """Each text line as painted from left to right, without spaces.

    Built from glyph positions, not from the text order in the file, so it
    shows what a reader sees.  (pdfium's own text order applies heuristics.)
    """
    lines: dict[int, list[tuple[float, str]]] = {}
    for char, left, _right, bottom in _chars(page):
        lines.setdefault(round(bottom), []).append((left, char))
    return [
        "".join(char for _left, char in sorted(line, key=lambda item: item[0]))
        for _bottom, line in sorted(lines.items(), reverse=True)
    ]


def _visual_line(data: bytes, needle: str) -> str:
    with _page(data) as page:
        lines = [line for line in _visual_lines(page) if needle in line]
    assert len(lines) == 1, f"{needle!r} painted on {len(lines)} lines"
    return lines[0]


def _x_range(page: pdfium.PdfPage, needle: str) -> tuple[float, float]:
    """Horizontal extent of a left-to-right string on the page."""
    textpage = page.get_textpage()
    found = textpage.search(needle, match_case=True).get_next()
    assert found is not None, f"{needle!r} not found on the page"
    index, count = found
    boxes = [textpage.get_charbox(i) for i in range(index, index + count)]
    return min(b[0] for b in boxes), max(b[2] for b in boxes)


def _single_cell(text: str, *, rtl: bool = True) -> bytes:
    return _render(
        title="", subtitle="", footer="", columns=[("v", "H", 1)], rows=[{"v": text}], rtl=rtl
    )


# -- basics -------------------------------------------------------------------------


def test_module_is_pure_python() -> None:
    """app.reports must not depend on Flask or on the rest of the app."""
    package = Path(register_pdf.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"flask", "app"}, f"{source.name} imports {name}"


def test_opens_with_pypdf_and_has_metadata() -> None:
    data = _render()
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert float(page.mediabox.width) > float(page.mediabox.height)  # landscape
    assert round(float(page.mediabox.width)) == 842  # A4
    meta = reader.metadata
    assert meta is not None
    assert meta.title == "بلدية تونس — سجل البريد الوارد"
    assert meta.creator == "Diwan"
    assert meta.creation_date == WHEN


def test_output_is_deterministic_with_fixed_date() -> None:
    assert _render() == _render()


def test_language_metadata() -> None:
    reader = pypdf.PdfReader(io.BytesIO(_render(lang="ar")))
    assert reader.trailer["/Root"]["/Lang"] == "ar"


@pytest.mark.parametrize(
    "columns", [[], [("a", "A", 1.0), ("b", "B", 0)], [("a", "A", -1.0)]], ids=str
)
def test_rejects_bad_columns(columns: list[tuple[str, str, float]]) -> None:
    with pytest.raises(ValueError, match="column"):
        _render(columns=columns)


def test_no_rows_still_gives_a_page_with_headers() -> None:
    texts = _page_texts(_render(rows=[]))
    assert len(texts) == 1
    assert "الموضوع" in texts[0]


# -- pagination ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "rtl", "label"), [(COLUMNS_AR, True, "الموضوع"), (COLUMNS_FR, False, "Objet")]
)
def test_headers_and_page_numbers_on_every_page(
    columns: list[tuple[str, str, float]], rtl: bool, label: str
) -> None:
    few = pypdf.PdfReader(io.BytesIO(_render(columns=columns, rtl=rtl, rows=_rows(3))))
    data = _render(columns=columns, rtl=rtl, rows=_rows(120))
    texts = _page_texts(data)
    assert len(few.pages) == 1
    assert len(texts) >= 4
    for number, text in enumerate(texts, start=1):
        assert label in text, f"header missing on page {number}"
        assert f"{number} / {len(texts)}" in text
    # every row made it, in order
    numbers = [f"2026/A/{i + 1:06d}" for i in range(120)]
    joined = "\n".join(texts)
    positions = [joined.find(n) for n in numbers]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_page_count_grows_with_rows() -> None:
    counts = [len(_page_texts(_render(rows=_rows(n)))) for n in (1, 40, 120)]
    assert counts[0] == 1
    assert counts[0] < counts[1] < counts[2]


def test_row_taller_than_a_page_continues_on_next_pages() -> None:
    words = [f"mot{i:04d}" for i in range(1500)]
    rows = [{"number": "2026/A/000001", "subject": " ".join(words)}]
    texts = _page_texts(_render(rows=rows, columns=COLUMNS_FR, rtl=False))
    assert len(texts) >= 2
    for text in texts:
        assert "Objet" in text
    joined = " ".join(texts)
    assert all(word in joined for word in words)


# -- wrapping --------------------------------------------------------------------------


def test_long_subject_wraps_without_losing_text() -> None:
    words = [f"w{i:03d}" for i in range(100)]
    subject = " ".join(words)
    assert len(subject) == 499
    data = _render(rows=[{"subject": subject}], columns=COLUMNS_FR, rtl=False)
    (text,) = _page_texts(data)
    assert all(word in text for word in words)
    with _page(data) as page:
        # wrapped onto several lines, every word inside the "Objet" column
        column_left, _ = _x_range(page, "Objet")
        epw = page.get_width() - 2 * register_pdf._MARGIN * 72 / 25.4
        column_right = column_left + epw * 3.5 / 10 - 2 * register_pdf._CELL_PAD_X * 72 / 25.4
        extents = [_x_range(page, word) for word in words]
        lines = [line for line in _visual_lines(page) if "w0" in line]
    assert len(lines) >= 4
    assert "".join(lines) == "".join(words)
    assert min(left for left, _right in extents) >= column_left - 0.5
    assert max(right for _left, right in extents) <= column_right + 0.5


def test_long_arabic_subject_wraps_without_losing_words() -> None:
    words = "طلب الحصول على رخصة بناء في الحي الجديد مع نسخة من عقد الكراء ووثائق الهوية"
    words = words.split(" ")
    subject = " ".join(words * 7)
    assert len(subject) > 500
    (text,) = _page_texts(_render(rows=[{"subject": subject}]))
    counts = Counter(text.split())
    for word in set(words):
        assert counts[word] >= 7, word


def test_word_longer_than_column_is_broken_not_lost() -> None:
    token = "QKWZ" * 60
    data = _render(rows=[{"status": token}], columns=COLUMNS_FR, rtl=False)
    (text,) = _page_texts(data)
    assert token in "".join(text.split())
    with _page(data) as page:
        chars = [c for c in _chars(page) if c[0] in "QKWZ"]
        status_left, _ = _x_range(page, "Statut")
        right_edge = page.get_width() - register_pdf._MARGIN * 72 / 25.4
    assert len(chars) == len(token)
    assert min(left for _c, left, _r, _b in chars) >= status_left - 0.5
    assert max(right for _c, _l, right, _b in chars) <= right_edge


# -- text: Arabic, French, bidi --------------------------------------------------------


def test_french_accents_extract() -> None:
    data = _render(columns=COLUMNS_FR, rtl=False)
    (text,) = _page_texts(data)
    for needle in ("Éléonore Dupré", "réintégration à l'hôpital", "coût : 12 €", "Clôturé"):
        assert needle in text


def test_arabic_text_extracts() -> None:
    (text,) = _page_texts(_render())
    for needle in ("بلدية تونس", "وزارة الداخلية", "مراسلة رقم", "قيد المعالجة", "الموضوع"):
        assert needle in text


def test_every_arabic_glyph_maps_back_to_text() -> None:
    """No glyph without a ToUnicode entry (they extract as control characters).

    Amiri's contextual alternates insert kashida glyphs in words like these.
    """
    words = ["الكراء", "الجبر", "الكتاب", "بالكلية", "المكلف"]
    (text,) = _page_texts(_single_cell(" ".join(words)))
    assert not [ch for ch in text if unicodedata.category(ch) == "Cc" and ch != "\n"]
    assert all(word in text.split() for word in words)


@pytest.mark.parametrize("rtl", [True, False])
def test_reference_number_survives_extraction(rtl: bool) -> None:
    (text,) = _page_texts(_single_cell(MIXED_AR, rtl=rtl))
    assert "2026/A/000123" in text
    assert "2026-11-22" in text
    assert "A/000123/2026" not in text
    assert "22-11-2026" not in text


@pytest.mark.parametrize("rtl", [True, False])
def test_mixed_arabic_line_is_painted_in_the_right_order(rtl: bool) -> None:
    line = _visual_line(_single_cell(MIXED_AR, rtl=rtl), "2026/A/000123")
    # read right to left: مراسلة رقم | 2026/A/000123 | بتاريخ | 2026-11-22,
    # each number left to right
    assert line.startswith("2026-11-22")
    date_end = len("2026-11-22")
    ref_start = line.index("2026/A/000123")
    assert Counter(line[date_end:ref_start]) == Counter("بتاريخ")
    assert Counter(line[ref_start + len("2026/A/000123") :]) == Counter("مراسلةرقم")


def test_latin_reference_with_arabic_digits_keeps_its_order() -> None:
    line = _visual_line(_single_cell(MIXED_REF), "Réf")
    # Arabic interface: "Réf. ٢٠٢٦/١٤٥" is one left-to-right unit at the right edge
    assert line.endswith("Réf.٢٠٢٦/١٤٥")
    assert Counter(line[: -len("Réf.٢٠٢٦/١٤٥")]) == Counter("—وزارةالداخلية")


def _rev(arabic: str) -> str:
    """Arabic words as painted left to right: glyphs in reverse order, no spaces."""
    return arabic[::-1].replace(" ", "")


# pdfium reports a bracket by its mirrored code point depending on its guess of
# the text direction; the glyph positions are what is checked here.
_BRACKETS = str.maketrans("()«»", "[[<<")


@pytest.mark.parametrize(
    ("text", "painted"),
    [
        # a number inside an Arabic phrase stays between the right Arabic words
        (
            "Lettre de طلب رقم 145 بتاريخ اليوم du 2026",
            "Lettrede" + _rev("بتاريخ اليوم") + "145" + _rev("طلب رقم") + "du2026",
        ),
        # a number after an Arabic word belongs to it (UAX #9 rule W2)
        (
            "Copie: وزارة الداخلية رقم 12 (urgent).",
            "Copie:" + "12" + _rev("وزارة الداخلية رقم") + "(urgent).",
        ),
        # a Latin word between Arabic words splits them; punctuation stays outside
        (
            "Voir (وزارة) ABC «الداخلية».",
            "Voir(" + _rev("وزارة") + ")ABC«" + _rev("الداخلية") + "».",
        ),
    ],
)
def test_arabic_phrases_inside_french_lines(text: str, painted: str) -> None:
    line = _visual_line(_single_cell(text, rtl=False), text[:3])
    assert line.translate(_BRACKETS) == painted.translate(_BRACKETS)


def test_grouped_amount_stays_one_number() -> None:
    line = _visual_line(_single_cell("بمبلغ 1 250,50 د.ت"), "250")
    assert "1250,50" in line  # not "250,501": one number, left to right


def test_latin_only_cell_in_arabic_interface_reads_left_to_right() -> None:
    line = _visual_line(_single_cell("Éléonore Dupré, S.A."), "Dupr")
    assert line == "ÉléonoreDupré,S.A."


def test_arabic_letters_are_painted_right_to_left() -> None:
    line = _visual_line(_single_cell("بريد"), "د")
    assert line == "ديرب"


def test_table_is_mirrored_in_arabic_interface() -> None:
    columns = [("a", "AAA", 1.0), ("b", "BBB", 1.0), ("c", "CCC", 1.0)]
    rows = [{"a": "a1", "b": "b1", "c": "c1"}]
    margin = register_pdf._MARGIN * 72 / 25.4
    # RTL: first column at the right edge, text right-aligned in its column
    with _page(_render(columns=columns, rows=rows, rtl=True)) as page:
        width = page.get_width()
        a, b, c = (_x_range(page, s) for s in ("AAA", "BBB", "CCC"))
        a1 = _x_range(page, "a1")
    assert a[0] > b[0] > c[0]
    assert width - margin - 10 < a[1] < width - margin
    assert width - margin - 10 < a1[1] < width - margin
    # LTR: first column at the left edge, text left-aligned
    with _page(_render(columns=columns, rows=rows, rtl=False)) as page:
        a, b, c = (_x_range(page, s) for s in ("AAA", "BBB", "CCC"))
        a1 = _x_range(page, "a1")
    assert a[0] < b[0] < c[0]
    assert margin < a[0] < margin + 10
    assert margin < a1[0] < margin + 10


def test_bidi_controls_from_users_are_dropped() -> None:
    (text,) = _page_texts(_single_cell("abc\u202edef\u2066ghi", rtl=False))
    assert "abcdefghi" in text
    assert "\u202e" not in text


def test_missing_glyph_uses_fallback_font() -> None:
    if not find_fallback_fonts():
        pytest.skip("no fallback font installed")
    data = _single_cell("reçu ✓", rtl=False)
    reader = pypdf.PdfReader(io.BytesIO(data))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    names = {str(font.get_object()["/BaseFont"]) for font in fonts.values()}
    assert len(names) >= 2, names
    assert "✓" in _page_texts(data)[0]


def test_latin_only_env_font_gets_arabic_from_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    latin = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
    if not latin.is_file() or not find_fallback_fonts():
        pytest.skip("needs fonts-liberation and an Arabic font")
    monkeypatch.setenv("DIWAN_PDF_FONT", str(latin))
    data = _single_cell(MIXED_AR)
    (text,) = _page_texts(data)
    words = set(text.translate(dict.fromkeys(map(ord, ISOLATES), " ")).split())
    assert {"مراسلة", "رقم", "بتاريخ"} <= words
    assert "2026/A/000123" in text
    assert _visual_line(data, "2026/A/000123").startswith("2026-11-22")
    reader = pypdf.PdfReader(io.BytesIO(data))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    names = " ".join(str(font.get_object()["/BaseFont"]) for font in fonts.values())
    assert "Liberation" in names
    assert "Amiri" in names or "Noto" in names


# -- pictures for a human --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "columns", "rtl"), [("ar", COLUMNS_AR, True), ("fr", COLUMNS_FR, False)]
)
def test_render_pages_to_png(
    artifacts_dir: Path, name: str, columns: list[tuple[str, str, float]], rtl: bool
) -> None:
    data = _render(
        columns=columns,
        rtl=rtl,
        rows=_rows(30),
        title="بلدية تونس — سجل البريد الوارد" if rtl else "Commune de Tunis — Courrier arrivé",
        subtitle="22 نوفمبر 2026" if rtl else "Registre du 22 novembre 2026",
        footer="ديوان — 30 مراسلة" if rtl else "Diwan — 30 courriers",
    )
    (artifacts_dir / f"register-{name}.pdf").write_bytes(data)
    with pdfium.PdfDocument(data) as document:
        assert len(document) >= 2
        for index in range(2):
            image = document[index].render(scale=2).to_pil()
            image.save(artifacts_dir / f"register-{name}-page{index + 1}.png")
            dark = sum(image.convert("L").histogram()[:128])
            assert dark > 10_000  # text and rules were drawn
