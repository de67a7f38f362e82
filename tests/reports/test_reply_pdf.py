"""PDF of an outgoing letter: layout, bidi text, pagination, metadata."""

from __future__ import annotations

import io
import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pypdfium2 as pdfium
import pytest

from app.reports import reply_pdf
from app.reports.reply_pdf import render_reply_pdf

pytestmark = pytest.mark.usefixtures("pdf_font")

WHEN = datetime(2026, 11, 22, 18, 30, tzinfo=UTC)
ISOLATES = "\u2066\u2067\u2068\u2069"
PT_PER_MM = 72 / 25.4
MARGIN = reply_pdf._MARGIN_X * PT_PER_MM

BODY_AR = (
    "سلام تام بوجود مولانا الإمام المؤيد بالله،\nوبعد،\n\n"
    "جوابا على رسالتكم رقم 2026/A/000123 بتاريخ 2026-11-22 المتعلقة بطلب رخصة بناء، يشرفني "
    "أن أخبركم بأن ملفكم قد تمت دراسته من طرف اللجنة المختصة، وأنه قد تقرر قبول طلبكم مع "
    "مراعاة الشروط المنصوص عليها في القانون رقم 12.90 المتعلق بالتعمير.\n\n"
    "وعليه، أطلب منكم الحضور إلى مصالح العمالة قصد سحب الرخصة مرفقة بنسخة من عقد الكراء "
    "ووثائق الهوية، وأداء الرسوم المستحقة البالغة 1 250,50 درهم.\n\n"
    "وتفضلوا بقبول فائق التقدير والاحترام."
)
BODY_FR = (
    "Monsieur le Directeur,\n\n"
    "En réponse à votre lettre n° 2026/A/000123 du 22 novembre 2026 relative à la demande de "
    "permis de construire, j'ai l'honneur de vous informer que votre dossier a été étudié par "
    "la commission compétente, et qu'il a été décidé d'accepter votre demande sous réserve du "
    "respect des conditions prévues par la loi n° 12.90 relative à l'urbanisme.\n\n"
    "Je vous prie en conséquence de bien vouloir vous présenter aux services de la préfecture, "
    "muni d'une copie du contrat de bail et des pièces d'identité, afin de retirer le permis "
    "et d'acquitter les droits dus, soit 1 250,50 dirhams. Ça évitera tout retard.\n\n"
    "Veuillez agréer, Monsieur le Directeur, l'expression de ma considération distinguée."
)

LETTER_AR: dict[str, object] = {
    "organisation": "المملكة المغربية\nوزارة الداخلية\nعمالة الرباط",
    "department": "قسم الشؤون الإدارية",
    "number": "رقم: 2026/D/000004",
    "place_and_date": "الرباط في 22 نونبر 2026",
    "recipient_lines": ["إلى السيد مدير شركة Société Générale", "شارع محمد الخامس، الرباط"],
    "subject_label": "الموضوع",
    "subject": "طلب رخصة بناء بالحي الجديد",
    "reference_line": "المرجع: رسالتكم رقم 2026/A/000123 بتاريخ 2026-11-02",
    "body": BODY_AR,
    "signature_lines": ["عامل عمالة الرباط", "", "محمد بن علي"],
    "rtl": True,
    "lang": "ar",
    "creation_date": WHEN,
}
LETTER_FR: dict[str, object] = {
    "organisation": "Royaume du Maroc\nMinistère de l'Intérieur\nPréfecture de Rabat",
    "department": "Division des affaires administratives",
    "number": "N°: 2026/D/000004",
    "place_and_date": "Rabat, le 22 novembre 2026",
    "recipient_lines": ["Monsieur le Directeur", "de la Société Générale", "Avenue Mohammed V"],
    "subject_label": "Objet",
    "subject": "Demande de permis de construire à Salé (réf. 2026/A/000123)",
    "reference_line": "Réf. : votre lettre n° 2026/A/000123 du 2 novembre 2026",
    "body": BODY_FR,
    "signature_lines": ["Le Gouverneur de la préfecture", "", "Mohammed Benali"],
    "rtl": False,
    "lang": "fr",
    "creation_date": WHEN,
}


def _render(base: dict[str, object] = LETTER_AR, **kwargs: object) -> bytes:
    return render_reply_pdf(**{**base, **kwargs})  # type: ignore[arg-type]


def _page_texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def _rev(arabic: str) -> str:
    """Arabic words as painted left to right: glyphs in reverse order, no spaces."""
    return arabic[::-1].replace(" ", "")


# -- what is painted where, read back from the glyph positions ----------------------


@contextmanager
def _page(data: bytes, index: int = 0) -> Iterator[pdfium.PdfPage]:
    with pdfium.PdfDocument(data) as document:
        yield document[index]


def _painted_lines(page: pdfium.PdfPage) -> list[tuple[str, float, float]]:
    """Each text line as (chars painted left to right without spaces, left, right).

    Lines are told apart by their baseline; two blocks side by side on the
    same baseline (letterhead and date) come out as one line.
    """
    textpage = page.get_textpage()
    lines: dict[int, list[tuple[float, float, str]]] = {}
    for index in range(textpage.count_chars()):
        char = textpage.get_text_range(index, 1)
        left, bottom, right, _top = textpage.get_charbox(index, loose=True)
        if char.strip() and char not in ISOLATES and right > left:
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


def _x_range(data: bytes, needle: str) -> tuple[float, float, float]:
    """Horizontal extent of a left-to-right string on the first page, and the page width."""
    with _page(data) as page:
        textpage = page.get_textpage()
        found = textpage.search(needle, match_case=True).get_next()
        assert found is not None, f"{needle!r} not found on the page"
        index, count = found
        boxes = [textpage.get_charbox(i) for i in range(index, index + count)]
        width = page.get_width()
    return min(b[0] for b in boxes), max(b[2] for b in boxes), width


# -- basics -------------------------------------------------------------------------


@pytest.mark.parametrize("letter", [LETTER_AR, LETTER_FR], ids=["ar", "fr"])
def test_opens_with_pypdf_as_a4_portrait_with_metadata(letter: dict[str, object]) -> None:
    data = _render(letter)
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 portrait
    meta = reader.metadata
    assert meta is not None
    assert meta.title == letter["subject"]
    assert meta.creator == "Diwan"
    assert meta.creation_date == WHEN
    assert reader.trailer["/Root"]["/Lang"] == letter["lang"]


def test_output_is_deterministic_with_fixed_date() -> None:
    assert _render() == _render()
    assert _render(LETTER_FR) == _render(LETTER_FR)


def test_arabic_text_extracts() -> None:
    (text,) = _page_texts(_render())
    for needle in (
        "وزارة الداخلية",
        "قسم الشؤون الإدارية",
        "الموضوع:",
        "طلب رخصة بناء بالحي الجديد",
        "المرجع:",
        "شارع محمد الخامس، الرباط",
        "سلام تام بوجود مولانا الإمام المؤيد بالله،",
        "وتفضلوا بقبول فائق التقدير والاحترام.",
        "عامل عمالة الرباط",
        "2026/D/000004",
        "2026/A/000123",
        "2026-11-22",
        "1 250,50",
    ):
        assert needle in text, needle
    for reversed_number in ("D/000004/2026", "A/000123/2026", "22-11-2026"):
        assert reversed_number not in text
    # the label before the subject, in the text order too
    assert text.index("الموضوع:") < text.index("طلب رخصة بناء بالحي الجديد")


def test_french_text_and_accents_extract() -> None:
    (text,) = _page_texts(_render(LETTER_FR))
    for needle in (
        "Ministère de l'Intérieur",
        "Préfecture de Rabat",
        "N°: 2026/D/000004",
        "Rabat, le 22 novembre 2026",
        "Objet : Demande de permis de construire à Salé (réf. 2026/A/000123)",
        "Réf. : votre lettre n° 2026/A/000123 du 2 novembre 2026",
        "Ça évitera tout retard.",
        "l'expression de ma considération distinguée.",
        "Le Gouverneur de la préfecture",
        "Mohammed Benali",
    ):
        assert needle in text, needle
    assert " / " not in text  # one page: no page number


def test_labels_and_bare_number() -> None:
    (text,) = _page_texts(
        _render(LETTER_FR, number="2026/D/000004", subject_label="Objet :", reference_line="")
    )
    assert "N°: 2026/D/000004" in text
    assert "Objet : Demande" in text
    assert "Objet : :" not in text
    assert "Réf" not in text
    (text,) = _page_texts(_render(number="2026/D/000004", subject_label="الموضوع:"))
    assert "رقم" in text
    assert "2026/D/000004" in text
    assert "الموضوع::" not in text


def test_optional_parts_can_be_empty() -> None:
    data = _render(
        LETTER_FR,
        department="",
        recipient_lines=[],
        reference_line="",
        signature_lines=[],
        body="",
    )
    (text,) = _page_texts(data)
    assert "Objet : Demande" in text
    assert "Royaume du Maroc" in text


# -- pagination ----------------------------------------------------------------------


@pytest.mark.parametrize(("letter", "body"), [(LETTER_AR, BODY_AR), (LETTER_FR, BODY_FR)])
def test_long_body_spans_pages_with_page_numbers(letter: dict[str, object], body: str) -> None:
    data = _render(letter, body="\n\n".join([body] * 5))
    texts = _page_texts(data)
    assert len(texts) == 2
    for number, text in enumerate(texts, start=1):
        assert f"{number} / 2" in text
    # the letterhead is on the first page only; the signature closes the letter
    organisation = str(letter["organisation"]).split("\n")[1]
    assert organisation in texts[0]
    assert organisation not in texts[1]
    signature = str(letter["signature_lines"][-1])  # type: ignore[index]
    assert signature not in texts[0]
    assert signature in texts[1]
    # no paragraph lost or doubled
    last = body.split("\n\n")[-1]
    assert sum(text.count(last) for text in texts) == 5


def test_signature_never_alone_on_a_page() -> None:
    """However long the body, the signature comes with lines of it."""
    paragraph = "Nous accusons réception de votre courrier."
    two_pages = 0
    for count in range(10, 60):
        texts = _page_texts(_render(LETTER_FR, body="\n\n".join([paragraph] * count)))
        assert "Mohammed Benali" in texts[-1]
        assert paragraph in texts[-1], count
        two_pages += len(texts) == 2
        if two_pages == 4:  # the signature was pushed over the page break
            break
    else:
        pytest.fail("the body never reached a second page")


def test_paragraph_leaves_no_single_line_at_a_page_end() -> None:
    """Neither a paragraph's first line alone at a page bottom, nor its last at a top."""
    paragraph = " ".join(f"mot{i:03d}" for i in range(60))  # six lines
    breaks: Counter[str] = Counter()
    for count in range(4, 14):
        texts = _page_texts(_render(LETTER_FR, body="\n\n".join([paragraph] * count)))
        for before, after in itertools.pairwise(texts):
            bottom = [line for line in before.split("\n") if "mot" in line][-1]
            top = next(line for line in after.split("\n") if "mot" in line)
            assert not ("mot000" in bottom and "mot059" not in bottom), count
            assert not ("mot059" in top and "mot000" not in top), count
            breaks["inside a paragraph" if "mot000" not in top else "between"] += 1
    assert breaks["inside a paragraph"] >= 1
    assert breaks["between"] >= 1


# -- layout --------------------------------------------------------------------------


def test_arabic_letter_is_laid_out_right_to_left() -> None:
    data = _render()
    with _page(data) as page:
        width = page.get_width()
    # letterhead against the right margin, number and date against the left one
    lines = [_painted(data, _rev(text)) for text in ("وزارة الداخلية", "قسم الشؤون الإدارية")]
    assert all(left > width / 2 for _line, left, _right in lines)
    assert max(right for _line, _left, right in lines) == pytest.approx(width - MARGIN, abs=1)
    number_left, _number_right, _width = _x_range(data, "2026/D/000004")
    assert number_left < MARGIN + 20  # "رقم:" is to its right
    line, left, _right = _painted(data, "2026/D/000004")
    assert abs(left - MARGIN) < 1
    assert line.startswith("2026/D/000004")
    # the subject label starts the line at the right margin
    line, _left, right = _painted(data, _rev("بالحي الجديد"))
    assert line.endswith(_rev("الموضوع:"))
    assert abs(right - (width - MARGIN)) < 1
    # the signature on the left half
    _line, left, right = _painted(data, _rev("عامل عمالة الرباط"))
    assert right < width / 2


def test_french_letter_is_laid_out_left_to_right() -> None:
    data = _render(LETTER_FR)
    organisation = _x_range(data, "Ministère de l'Intérieur")
    number = _x_range(data, "N°: 2026/D/000004")
    date = _x_range(data, "Rabat, le 22 novembre 2026")
    subject = _x_range(data, "Objet")
    signature = _x_range(data, "Mohammed Benali")
    recipient = _x_range(data, "Monsieur le Directeur")
    width = organisation[2]
    assert MARGIN - 0.5 < organisation[0] < MARGIN + 20
    assert organisation[1] < width / 2
    # number and date flush against the right margin
    assert abs(number[1] - (width - MARGIN)) < 1
    assert abs(date[1] - (width - MARGIN)) < 1
    assert abs(subject[0] - MARGIN) < 1
    assert recipient[0] > width / 2 - 5
    assert signature[0] > width / 2


def test_body_is_justified() -> None:
    """Lines broken by the wrap reach both margins; a paragraph's last line does not."""
    for letter, needle in ((LETTER_FR, "commission"), (LETTER_AR, _rev("اللجنة"))):
        data = _render(letter)
        with _page(data) as page:
            width = page.get_width()
        _line, left, right = _painted(data, needle)
        assert abs(left - MARGIN) < 1, letter["lang"]
        assert abs(right - (width - MARGIN)) < 1, letter["lang"]
    # last lines keep their natural spacing, at the start side
    _line, left, right = _painted(_render(LETTER_FR), "Çaévitera")
    assert abs(left - MARGIN) < 1
    assert right < width - MARGIN - 50
    _line, left, right = _painted(_render(), _rev("المتعلق بالتعمير."))
    assert abs(right - (width - MARGIN)) < 1
    assert left > MARGIN + 50


# -- bidi ----------------------------------------------------------------------------


def test_numbers_in_an_arabic_body_line_are_painted_left_to_right() -> None:
    body = "جوابا على رسالتكم رقم 2026/A/000123 بتاريخ 2026-11-22 المتعلقة بطلبكم"
    line, _left, _right = _painted(_render(body=body), "2026-11-22")
    # read right to left: جوابا على رسالتكم رقم | 2026/A/000123 | بتاريخ | 2026-11-22 |
    # المتعلقة بطلبكم -- each number left to right
    painted = (
        _rev("المتعلقة بطلبكم")
        + "2026-11-22"
        + _rev("بتاريخ")
        + "2026/A/000123"
        + _rev("جوابا على رسالتكم رقم")
    )
    assert line == painted


def test_numbers_keep_their_order_in_justified_arabic_lines() -> None:
    data = _render()
    line, _left, _right = _painted(data, "2026-11-22")  # first line of the paragraph, justified
    ref = line.index("2026/A/000123")
    date = line.index("2026-11-22")
    assert date < ref  # the date comes later in the sentence: further left
    assert Counter(line[date + len("2026-11-22") : ref]) == Counter("بتاريخ")
    assert line.endswith(_rev("جوابا على رسالتكم رقم"))
    amount, _left, _right = _painted(data, "250,50")
    assert "1250,50" in amount  # "1 250,50": one number, left to right
    reference, _left, _right = _painted(data, "2026-11-02")
    assert reference.startswith("2026-11-02")
    assert "2026-11-02" + _rev("بتاريخ") + "2026/A/000123" in reference


def test_arabic_phrase_in_a_justified_french_line() -> None:
    body = "Voir la lettre de وزارة الداخلية رقم 12 du 2 novembre, " + "suite du texte " * 30
    data = _render(LETTER_FR, body=body)
    line, left, right = _painted(data, "Voir")
    with _page(data) as page:
        width = page.get_width()
    assert line.startswith("Voirlalettrede" + "12" + _rev("وزارة الداخلية رقم") + "du2novembre,")
    assert abs(left - MARGIN) < 1
    assert abs(right - (width - MARGIN)) < 1


# -- pictures for a human --------------------------------------------------------------


@pytest.mark.parametrize(("name", "letter"), [("ar", LETTER_AR), ("fr", LETTER_FR)])
def test_render_letter_to_png(artifacts_dir: Path, name: str, letter: dict[str, object]) -> None:
    data = _render(letter)
    (artifacts_dir / f"reply-{name}.pdf").write_bytes(data)
    with pdfium.PdfDocument(data) as document:
        image = document[0].render(scale=2).to_pil()
    image.save(artifacts_dir / f"reply-{name}.png")
    dark = sum(image.convert("L").histogram()[:128])
    assert dark > 10_000  # text was drawn
