"""The visible signature stamp: bidi runs, shaping, layout, QR code, and a real signature.

Rendered stamps are written to test-artifacts/signing/ for people to look at.
"""

from __future__ import annotations

import io
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdfium2
import pytest
import segno
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from PIL import Image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pypdf import PdfWriter

from signing import fonts
from signing.fonts import ENV_FONT, FontMissing, find_stamp_font, load_stamp_font
from signing.stamp import (
    _PADDING,
    _WORST_LINE_EMS,
    MIN_FONT_SIZE,
    StampSpec,
    _layout_lines,
    _qr_modules,
    _shape_line,
    render_stamp_png,
    stamp_style,
    visual_order_runs,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "signing"
A4 = (595.28, 841.89)
LINES = (
    "فاطمة الزهراء",
    "مديرة الموارد البشرية",
    "Fatima Zahra — Directrice",
    "2026-11-22 10:41 UTC",
    "المرجع: 2026/D/000123",
)
VERIFY_URL = "https://diwan.example.gov.ma/verify/3f2a9c1e-77b4-4c1a-9e0b-5d2f1a8c9e44"
STAMP_BOX = (330.0, 60.0, 570.0, 150.0)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def font():
    return load_stamp_font(find_stamp_font())


def glyph_of(font, char: str) -> int:
    """The glyph HarfBuzz gives ``char`` alone (isolated form for Arabic letters)."""
    run = font.shape(char, "rtl" if "\u0600" <= char <= "\u06ff" else "ltr")
    assert len(run.glyphs) == 1
    return run.glyphs[0][0]


# -- bidi runs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "runs"),
    [
        ("2026-11-22", [("2026-11-22", "ltr")]),
        ("2026-11-22 10:41 UTC", [("2026-11-22 10:41 UTC", "ltr")]),
        # The date keeps its digits in order; the Arabic label is on the right.
        ("التاريخ: 2026-11-22", [("2026-11-22", "ltr"), ("التاريخ: ", "rtl")]),
        ("المرجع: 2026/D/000123", [("2026/D/000123", "ltr"), ("المرجع: ", "rtl")]),
        # A Latin line with an Arabic name: the name comes after, on the right.
        ("Fatima Zahra — فاطمة الزهراء", [("Fatima Zahra — ", "ltr"), ("فاطمة الزهراء", "rtl")]),
        # A number inside an Arabic phrase of a Latin line stays between its Arabic words.
        (
            "Lettre de طلب رقم 145 بتاريخ اليوم",
            [
                ("Lettre de ", "ltr"),
                (" بتاريخ اليوم", "rtl"),
                ("145", "ltr"),
                ("طلب رقم ", "rtl"),
            ],
        ),
        # Parentheses take the direction of the line they are in (and are mirrored
        # when shaped right to left).
        ("فاطمة (Fatima)", [(")", "rtl"), ("Fatima", "ltr"), ("فاطمة (", "rtl")]),
        ("Fatima (فاطمة)", [("Fatima (", "ltr"), ("فاطمة", "rtl"), (")", "ltr")]),
        # Bare numbers in Arabic keep the Arabic reading order: 12, then 13.
        ("رقم 12 - 13", [("13", "ltr"), (" - ", "rtl"), ("12", "ltr"), ("رقم ", "rtl")]),
        ("فاطمة الزهراء", [("فاطمة الزهراء", "rtl")]),
        # A typed RIGHT-TO-LEFT OVERRIDE is dropped, not obeyed.
        ("\u202eabc 123", [("abc 123", "ltr")]),
        ("   ", []),
    ],
)
def test_visual_order_runs(line, runs):
    assert visual_order_runs(line) == runs


def test_line_without_letters_takes_the_given_direction():
    assert visual_order_runs("12 - 13") == [("12 - 13", "ltr")]
    assert visual_order_runs("12 - 13", "rtl") == [("13", "ltr"), (" - ", "rtl"), ("12", "ltr")]
    assert visual_order_runs("2026-11-22", "rtl") == [("2026-11-22", "ltr")]
    assert visual_order_runs("Fatima", "rtl") == [("Fatima", "ltr")]  # its own letters decide


def test_visual_order_runs_rejects_line_breaks():
    with pytest.raises(ValueError, match="line break"):
        visual_order_runs("فاطمة\nFatima")


# -- shaping: glyph-level proof ----------------------------------------------


def test_date_digits_are_drawn_in_order_in_an_arabic_line(font):
    line = _shape_line(font, "التاريخ: 2026-11-22", "rtl")
    digit_glyphs = {glyph_of(font, d): d for d in "0126"}
    placed = sorted(line.placed_glyphs(), key=lambda glyph: glyph[1])  # by x position
    drawn_digits = "".join(digit_glyphs[gid] for gid, _x, _y in placed if gid in digit_glyphs)
    assert drawn_digits == "20261122"
    # ...and the Arabic label is to the right of the date.
    label = {gid for gid, _x, _y in font.shape("التاريخ", "rtl").glyphs}
    last_digit_x = max(x for gid, x, _y in placed if gid in digit_glyphs)
    assert min(x for gid, x, _y in placed if gid in label) > last_digit_x


def test_arabic_letters_are_joined(font):
    # Every letter of فاطمة joins a neighbour: none may keep its isolated form.
    word = font.shape("فاطمة", "rtl")
    glyphs = [gid for gid, _x, _y in word.glyphs]
    assert len(glyphs) == 5
    isolated = {glyph_of(font, letter) for letter in "فاطمة"}
    assert not isolated & set(glyphs)
    # Right to left: the first letter, ف (initial form), is drawn last, at the right.
    assert glyphs[-1] != glyph_of(font, "ف")
    assert glyphs[0] != glyph_of(font, "ة")
    assert word.glyphs[-1][1] > word.glyphs[0][1]


def test_parenthesis_is_mirrored_in_a_right_to_left_run(font):
    assert font.shape("(", "rtl").glyphs[0][0] == glyph_of(font, ")")
    assert font.shape("(", "ltr").glyphs[0][0] == glyph_of(font, "(")


def test_glyph_path_is_pdf_path_operators(font):
    path = font.glyph_path(glyph_of(font, "O"))
    tokens = path.split()
    assert tokens[2] == b"m" and tokens[-1] == b"h"
    assert b"c" in tokens  # the quadratic TrueType curves came out as cubic ones
    assert set(tokens) - {b"m", b"l", b"c", b"h"} <= {t for t in tokens if t.lstrip(b"-").isdigit()}
    assert font.glyph_path(glyph_of(font, " ")) == b""


def test_pen_turns_quadratic_segments_into_cubic_ones():
    pen = fonts._PdfPathPen()
    pen.moveTo((0, 0))
    pen.qCurveTo((30, 60), (90, 0))  # control points at 2/3 towards (30, 60)
    pen.curveTo((90, -10), (10.4, -10.6), (0, 0))
    pen.lineTo((5, 5))
    pen.closePath()
    assert b" ".join(pen.ops) == b"0 0 m 20 40 50 40 90 0 c 90 -10 10 -11 0 0 c 5 5 l h"


# -- layout -------------------------------------------------------------------


def test_font_size_shrinks_to_the_widest_line(font):
    short = _layout_lines(font, ("فاطمة", "Fatima"), 200, 60)
    long = _layout_lines(
        font, ("فاطمة", "Fatima Zahra, Directrice des ressources humaines"), 200, 60
    )
    assert long.size < short.size
    scale = long.size / font.units_per_em
    assert max(line.width for line in long.lines) * scale <= 200 + 1e-6
    assert all(not line.text.endswith("…") for line in long.lines)


def test_too_long_line_is_cut_with_an_ellipsis_at_its_logical_end(font):
    arabic = "مديرية الموارد البشرية والشؤون الإدارية والمالية " * 3
    lay = _layout_lines(font, ("Fatima Zahra", arabic.strip()), 120, 40)
    assert lay.size == MIN_FONT_SIZE
    cut = lay.lines[1]
    assert cut.text.endswith("…") and arabic.startswith(cut.text[:-1].rstrip())
    assert cut.width * lay.size / font.units_per_em <= 120
    # The logical end of an Arabic line is on the left: the ellipsis is drawn first.
    first_glyph = min(cut.placed_glyphs(), key=lambda glyph: glyph[1])[0]
    assert first_glyph == glyph_of(font, "…")


def test_bare_date_line_follows_the_first_line(font):
    arabic = _layout_lines(font, ("فاطمة", "2026-11-22", "Fatima"), 200, 60)
    assert [line.direction for line in arabic.lines] == ["rtl", "rtl", "ltr"]
    latin = _layout_lines(font, ("Fatima", "2026-11-22", "فاطمة"), 200, 60)
    assert [line.direction for line in latin.lines] == ["ltr", "ltr", "rtl"]


def test_smallest_accepted_box_holds_the_tallest_lines(font):
    # Vowel marks over lam-lam-heh and deep descenders: the tallest lines Amiri draws.
    tall = "لِلَّهِ مَجْمُوعٌ يَجِيءُ"
    needed = 2 * _PADDING + 8 * _WORST_LINE_EMS * MIN_FONT_SIZE
    with pytest.raises(ValueError, match="8 lines need at least"):
        StampSpec(page=0, box=(0, 0, 400, needed - 0.5), lines=(tall,) * 8)
    zalgo = "Fatima" + "\u0301\u0302\u0303" * 10  # marks stacked without limit
    spec = StampSpec(page=0, box=(0, 0, 400, needed), lines=(tall,) * 7 + (zalgo,))
    lay = _layout_lines(font, spec.lines, 400 - 2 * _PADDING, needed - 2 * _PADDING)
    assert lay.size >= MIN_FONT_SIZE


def test_text_area_too_short_is_refused(font):
    with pytest.raises(ValueError, match="cannot hold 4 lines"):
        _layout_lines(font, ("a", "b", "c", "d"), 200, 20)


def test_qr_rectangles_reproduce_the_matrix():
    modules, ops = _qr_modules(VERIFY_URL)
    matrix = segno.make_qr(VERIFY_URL, error="m").matrix
    assert modules == len(matrix) + 4
    grid = [[0] * modules for _ in range(modules)]
    tokens = ops.split()
    assert len(tokens) % 5 == 0
    for i in range(0, len(tokens), 5):
        x, y, w, h = map(int, tokens[i : i + 4])
        assert tokens[i + 4] == b"re"
        for row in range(modules - y - h, modules - y):
            for column in range(x, x + w):
                assert grid[row][column] == 0, "rectangles overlap"
                grid[row][column] = 1
    expected = [[0] * modules for _ in range(modules)]
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            expected[r + 2][c + 2] = int(bool(dark))
    assert grid == expected
    assert len(tokens) // 5 < sum(map(sum, expected)) / 2  # runs were merged


def _dark_fraction(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    region = image.crop(box).convert("L")
    histogram = region.histogram()
    return sum(histogram[:128]) / max(1, region.width * region.height)


def test_rendered_qr_code_scans_back_module_by_module(artifacts):
    spec = StampSpec(page=0, box=(0, 0, 240, 90), lines=LINES, qr_url=VERIFY_URL)
    scale = 6.0
    image = Image.open(render_stamp_png(spec, artifacts / "stamp-qr.png", scale=scale)).convert("L")
    matrix = segno.make_qr(VERIFY_URL, error="m").matrix
    modules = len(matrix) + 4
    side = 90 - 6  # height minus padding: the QR code is as high as the text area
    module = side / modules
    left = top = 3 + 2 * module  # padding, then the quiet zone; rtl first line: QR on the left
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            x = (left + (c + 0.5) * module) * scale
            y = (top + (r + 0.5) * module) * scale
            assert (image.getpixel((int(x), int(y))) < 128) == bool(dark), (r, c)


def test_qr_code_sits_at_the_inline_end(artifacts):
    arabic_first = StampSpec(page=0, box=(0, 0, 240, 90), lines=LINES, qr_url=VERIFY_URL)
    latin_first = StampSpec(page=0, box=(0, 0, 240, 90), lines=LINES[2:], qr_url=VERIFY_URL)
    left_qr = Image.open(render_stamp_png(arabic_first, artifacts / "stamp-qr-left.png"))
    right_qr = Image.open(render_stamp_png(latin_first, artifacts / "stamp-qr-right.png"))
    w, h = left_qr.size
    left_part, right_part = (10, 10, w // 3, h - 10), (2 * w // 3, 10, w - 10, h - 10)
    # A QR code is about half dark; text is far lighter.
    assert _dark_fraction(left_qr, left_part) > 0.3 > _dark_fraction(left_qr, right_part)
    assert _dark_fraction(right_qr, right_part) > 0.3 > _dark_fraction(right_qr, left_part)


def test_rendered_stamp_has_frame_and_unclipped_text(artifacts):
    spec = StampSpec(page=0, box=(0, 0, 230, 80), lines=LINES)
    image = Image.open(render_stamp_png(spec, artifacts / "stamp-text.png", scale=3)).convert("L")
    w, h = image.size
    assert (w, h) == (690, 240)
    # The frame: dark at the middle of each edge.
    for x, y in ((w // 2, 0), (w // 2, h - 1), (0, h // 2), (w - 1, h // 2)):
        assert image.getpixel((x, y)) < 160, (x, y)
    # Nothing touches the frame from inside: a 2-pixel band inside it is blank.
    band = [image.getpixel((x, y)) for x in range(4, w - 4) for y in (3, 4, h - 5, h - 4)]
    band += [image.getpixel((x, y)) for y in range(4, h - 4) for x in (3, 4, w - 5, w - 4)]
    assert min(band) > 200
    # Arabic lines are right-aligned, Latin ones left-aligned: dark pixels near both sides.
    assert _dark_fraction(image, (8, 0, 40, h)) > 0.01
    assert _dark_fraction(image, (w - 40, 0, w - 8, h)) > 0.01


def test_render_mixed_lines_for_people_to_look_at(artifacts):
    spec = StampSpec(
        page=0,
        box=(0, 0, 260, 110),
        lines=(
            "عبد اللطيف الإدريسي (Abdellatif El Idrissi)",
            "Lettre de طلب رقم 145 بتاريخ اليوم",
            "رقم 12 - 13 (ص) — لِلَّهِ",
            "2026-11-22",
            "مديرية الموارد البشرية والشؤون الإدارية والمالية والتجهيز والنقل واللوجستيك",
        ),
        qr_url=VERIFY_URL,
    )
    image = Image.open(render_stamp_png(spec, artifacts / "stamp-mixed.png", scale=4))
    assert image.size == (1040, 440)
    assert _dark_fraction(image, (0, 0, 1040, 440)) > 0.05


# -- a real signature ---------------------------------------------------------


def _blank_a4() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(*A4)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def self_signed():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Stamp test signer")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert = asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))
    der_key = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    signer = signers.SimpleSigner(
        signing_cert=cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore.from_certs([cert]),
    )
    return signer, cert


def _sign(pdf: bytes, signer, spec: StampSpec | None) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    metadata = signers.PdfSignatureMetadata(field_name="Signature1")
    if spec is None:
        pdf_signer = signers.PdfSigner(metadata, signer=signer)
    else:
        pdf_signer = signers.PdfSigner(
            metadata,
            signer=signer,
            stamp_style=stamp_style(spec),
            new_field_spec=fields.SigFieldSpec("Signature1", on_page=spec.page, box=spec.box),
        )
    return pdf_signer.sign_pdf(writer).getvalue()


def test_signed_pdf_with_stamp_validates_and_shows_the_stamp(self_signed, artifacts):
    signer, cert = self_signed
    spec = StampSpec(page=0, box=STAMP_BOX, lines=LINES, qr_url=VERIFY_URL)
    signed = _sign(_blank_a4(), signer, spec)

    reader = PdfFileReader(io.BytesIO(signed))
    (embedded,) = reader.embedded_signatures
    status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[cert]))
    assert status.intact and status.valid and status.trusted
    widget = embedded.sig_field
    appearance = widget["/AP"]["/N"]
    assert appearance["/Subtype"] == "/Form"
    assert [float(v) for v in widget["/Rect"]] == list(STAMP_BOX)
    assert sorted(abs(float(v)) for v in appearance["/BBox"]) == [0, 0, 90, 240]
    assert "/Font" not in appearance.get("/Resources", {})  # outlines, no font embedded
    assert widget["/Contents"] == "\n".join(LINES)

    scale = 2.0
    pdf = pypdfium2.PdfDocument(signed)
    pdf.init_forms()  # pdfium draws form field widgets (the signature) only with forms on
    try:
        image = pdf[0].render(scale=scale).to_pil().convert("L")
    finally:
        pdf.close()
    image.save(artifacts / "stamp-signed.png")
    x1, y1, x2, y2 = STAMP_BOX
    page_height = A4[1]
    inside = (
        int(x1 * scale),
        int((page_height - y2) * scale),
        int(x2 * scale),
        int((page_height - y1) * scale),
    )
    assert _dark_fraction(image, inside) > 0.05
    # Blank everywhere else: black out the stamp and nothing dark remains.
    outside = image.copy()
    margin = 2
    outside.paste(
        255, (inside[0] - margin, inside[1] - margin, inside[2] + margin, inside[3] + margin)
    )
    assert outside.getextrema()[0] > 200


def test_timing_of_a_stamped_signature(self_signed, capsys):
    signer, _cert = self_signed
    spec = StampSpec(page=0, box=STAMP_BOX, lines=LINES, qr_url=VERIFY_URL)
    spec_no_qr = StampSpec(page=0, box=STAMP_BOX, lines=LINES)
    pdf = _blank_a4()
    for warm_up in (None, spec, spec_no_qr):
        _sign(pdf, signer, warm_up)
    timings: dict[str, list[float]] = {"invisible": [], "stamp": [], "stamp+qr": []}
    for round_ in range(15):
        # A new URL each time: QR codes are cached per URL, a letter's signers share one.
        with_qr = StampSpec(page=0, box=STAMP_BOX, lines=LINES, qr_url=f"{VERIFY_URL}?n={round_}")
        for label, case in (("invisible", None), ("stamp", spec_no_qr), ("stamp+qr", with_qr)):
            start = time.perf_counter()
            _sign(pdf, signer, case)
            timings[label].append((time.perf_counter() - start) * 1000)
    median = {label: statistics.median(values) for label, values in timings.items()}
    with capsys.disabled():
        print(
            "\nsignature of a blank A4, median of 15 (ms): "
            + ", ".join(f"{label} {ms:.1f}" for label, ms in median.items())
            + f"; stamp adds {median['stamp'] - median['invisible']:.1f} ms, "
            f"stamp with QR code {median['stamp+qr'] - median['invisible']:.1f} ms"
        )


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lines": ()}, "at least one line"),
        ({"lines": ("",)}, "line 1 is empty"),
        ({"lines": ("Fatima", "  \u200e ")}, "line 2 is empty"),
        ({"lines": "Fatima"}, "at least one line"),
        ({"lines": ("x",) * 9}, "at most 8 lines"),
        ({"lines": ("x" * 201,)}, "at most 200 characters"),
        ({"lines": ("فاطمة\nFatima",)}, "line break"),
        ({"lines": (None,)}, "must be text"),
        ({"box": (10, 10, 10, 100)}, "positive width and height"),
        ({"box": (10, 100, 200, 100)}, "positive width and height"),
        ({"box": (200, 10, 10, 100)}, "positive width and height"),
        ({"box": (0, 0, float("nan"), 100)}, "finite numbers"),
        ({"box": (0, 0, 100)}, "four finite numbers"),
        ({"box": (0, 0, 200, 30)}, "5 lines need at least"),
        ({"box": (0, 0, 30, 100)}, "wide"),
        ({"page": -1}, "page index"),
        ({"page": True}, "page index"),
        ({"qr_url": "javascript:alert(1)"}, "http"),
        ({"qr_url": "JAVASCRIPT://example.org/%0aalert(1)"}, "http"),
        ({"qr_url": "ftp://example.org/x"}, "http"),
        ({"qr_url": "https:///no-host"}, "host"),
        ({"qr_url": "https://example.org/a b"}, "spaces"),
        ({"qr_url": "https://example.org/" + "a" * 600}, "at most 512"),
        ({"qr_url": VERIFY_URL, "box": (0, 0, 240, 40), "lines": ("x",)}, "too small for a QR"),
    ],
)
def test_bad_specs_are_refused(kwargs, message):
    arguments = {"page": 0, "box": (0, 0, 240, 90), "lines": LINES, **kwargs}
    with pytest.raises(ValueError, match=message):
        StampSpec(**arguments)


def test_spec_lines_are_normalised():
    spec = StampSpec(
        page=0, box=(0, 0, 240, 90), lines=(" Fatima\u202e Zahra\t ", "e\u0301te\u0301")
    )
    assert spec.lines == ("Fatima Zahra", "été")


def test_font_env_pointing_nowhere(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_FONT, str(tmp_path / "nope.ttf"))
    with pytest.raises(FontMissing) as excinfo:
        stamp_style(StampSpec(page=0, box=(0, 0, 240, 90), lines=LINES))
    message = str(excinfo.value)
    assert ENV_FONT in message and "nope.ttf" in message
    assert "apt-get install fonts-hosny-amiri" in message


def test_font_env_pointing_at_a_non_font(monkeypatch, tmp_path):
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not really a font")
    monkeypatch.setenv(ENV_FONT, str(fake))
    with pytest.raises(FontMissing, match="not a font file"):
        stamp_style(StampSpec(page=0, box=(0, 0, 240, 90), lines=LINES))


def test_font_without_arabic_is_refused(monkeypatch):
    latin_only = Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf")
    if not latin_only.is_file():
        pytest.skip("fonts-liberation is not installed")
    monkeypatch.setenv(ENV_FONT, str(latin_only))
    with pytest.raises(FontMissing, match="must cover Arabic and Latin"):
        stamp_style(StampSpec(page=0, box=(0, 0, 240, 90), lines=LINES))


def test_no_font_installed(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_FONT, raising=False)
    monkeypatch.setattr(fonts, "_AMIRI_DIRS", (tmp_path / "opentype", tmp_path / "truetype"))
    with pytest.raises(FontMissing, match="apt-get install fonts-hosny-amiri"):
        find_stamp_font()


def test_env_font_is_used(monkeypatch, tmp_path):
    custom = tmp_path / "Custom.ttf"
    custom.write_bytes(find_stamp_font().read_bytes())
    monkeypatch.setenv(ENV_FONT, str(custom))
    assert find_stamp_font() == custom
    assert stamp_style(StampSpec(page=0, box=(0, 0, 240, 90), lines=LINES)).font_path == custom
