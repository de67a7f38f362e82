"""A registry officer in a real browser: register, read, correct and cancel letters.

The interface text is being translated while these tests are written, so they find elements by
form field names, ids and page structure, and assert on the data typed in, never on UI wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.testdata import TESTDATA as SHARED_TESTDATA

pytestmark = pytest.mark.browser

SAMPLE_PDF = SHARED_TESTDATA / "extraction" / "sample-files" / "minimal-document.pdf"
LETTER_URL = re.compile(r"/letters/(\d+)$")
DIRECTION = {"ar": "rtl", "fr": "ltr", "en": "ltr"}


@dataclass
class Letter:
    correspondent: str
    national_id: str
    subject: str
    reference: str
    channel: str = "hand"


ARABIC_LETTER = Letter(
    correspondent="فاطمة الزهراء العمراني",
    national_id="BE123456",
    subject="طلب الحصول على نسخة من القرار الإداري",
    reference="REF-2026/77",
)
FRENCH_LETTER = Letter(
    correspondent="Hélène Béranger-Lefèvre",
    national_id="BE123456",
    subject="Demande de copie de l'arrêté n° 12 relatif à la rénovation de l'école",
    reference="N/Réf. 2026/045",
    channel="post",
)


@pytest.fixture
def sample_pdf(tmp_path) -> Path:
    """A real one-page PDF with text: the shared sample, or one made here when it is absent."""
    if SAMPLE_PDF.is_file():
        return SAMPLE_PDF
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(text="Lettre de test / test letter")
    path = tmp_path / "minimal-document.pdf"
    pdf.output(str(path))
    return path


def expect_language(page: Page, code: str) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("lang", code)
    expect(html).to_have_attribute("dir", DIRECTION[code])


def switch_language(page: Page, code: str) -> None:
    """The language buttons in the top bar (a form POSTing to /locale)."""
    page.locator(f'form.locale-switch button[name="locale"][value="{code}"]').click()
    expect_language(page, code)
    expect(page.locator(f'form.locale-switch button[value="{code}"]')).to_have_attribute(
        "aria-pressed", "true"
    )


def sign_in(page: Page, username: str, language: str) -> None:
    page.goto("/login")
    switch_language(page, language)
    expect(page).to_have_url(re.compile(r"/login"))
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("header.topbar .whoami")).to_be_visible()
    expect_language(page, language)


def open_new_letter_form(page: Page) -> None:
    page.locator('nav.mainnav a[href$="/registry/incoming"]').click()
    expect(page).to_have_url(re.compile(r"/registry/incoming$"))
    expect(page.locator('nav.mainnav a[aria-current="page"]')).to_have_attribute(
        "href", re.compile(r"/registry/incoming$")
    )
    page.locator('.page-head a.button[href$="/registry/incoming/new"]').click()
    expect(page).to_have_url(re.compile(r"/registry/incoming/new$"))


def fill_letter(page: Page, letter: Letter) -> None:
    # No existing correspondent chosen: the "new correspondent" fields are used.
    expect(page.locator("#correspondent_id")).to_have_value("None")
    page.locator("#correspondent_kind").select_option("person")
    page.locator("#correspondent_name").fill(letter.correspondent)
    page.locator("#correspondent_national_id").fill(letter.national_id)
    page.locator("#subject").fill(letter.subject)
    page.locator("#sender_reference").fill(letter.reference)
    page.locator("#channel").select_option(letter.channel)


def submit_letter(page: Page) -> None:
    page.locator("form.register-form button[type=submit]").click()


def expect_registered(page: Page, number: str) -> int:
    """After submitting: on the letter's page, with the allocated number flashed and shown."""
    expect(page).to_have_url(LETTER_URL, timeout=20_000)
    expect(page.locator("p.flash.flash-success")).to_contain_text(number)
    expect(page.locator(".page-head h1 .number")).to_have_text(number)
    return int(LETTER_URL.search(page.url).group(1))


def register_letter(page: Page, letter: Letter, pdf: Path) -> int:
    open_new_letter_form(page)
    fill_letter(page, letter)
    page.locator('input[type="file"][name="documents"]').set_input_files(str(pdf))
    submit_letter(page)
    return expect_registered(page, first_incoming_number())


def first_incoming_number() -> str:
    return f"{date.today().year}/A/000001"


def expect_letter_details(page: Page, letter: Letter, subject: str) -> None:
    details = page.locator("dl.meta")
    expect(details).to_contain_text(letter.correspondent)
    expect(details.locator("dd bdi[dir=ltr]").first).to_have_text(letter.national_id)
    expect(details.locator("dd.subject")).to_have_text(subject)
    expect(details).to_contain_text(letter.reference)


def expect_document_with_preview(page: Page, title: str) -> None:
    document = page.locator("article.document")
    expect(document).to_have_count(1)
    expect(document.locator("h3")).to_have_text(title)
    previews = document.locator(".previews img")
    expect(previews.first).to_be_visible()
    first = previews.first
    first.scroll_into_view_if_needed()  # the previews are loading="lazy"
    # Rendering happens in the sandbox on first request: allow it some time.
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0",
        arg=first.element_handle(),
        timeout=20_000,
    )
    assert first.evaluate("img => img.naturalWidth") > 0


def correct_subject(page: Page, new_subject: str, reason: str) -> None:
    page.locator('.page-head a.button[href$="/correct"]').click()
    expect(page).to_have_url(re.compile(r"/letters/\d+/correct$"))
    page.locator("#subject").fill(new_subject)
    page.locator("#reason").fill(reason)
    page.locator("main form.card button[type=submit]").click()
    expect(page).to_have_url(LETTER_URL)
    expect(page.locator("p.flash.flash-success")).to_be_visible()


def expect_correction_in_history(page: Page, old: str, new: str, reason: str) -> None:
    change = page.locator("ol.history ul.changes li").filter(has=page.locator("del", has_text=old))
    expect(change).to_have_count(1)
    expect(change.locator("del")).to_have_text(old)
    expect(change.locator("ins")).to_have_text(new)
    expect(page.locator("ol.history p.reason")).to_contain_text(reason)


def registration_and_correction(
    page: Page, language: str, letter: Letter, new_subject: str, reason: str, pdf: Path, shots: Path
) -> None:
    sign_in(page, "officer", language)
    open_new_letter_form(page)
    expect_language(page, language)
    fill_letter(page, letter)
    page.locator('input[type="file"][name="documents"]').set_input_files(str(pdf))
    page.screenshot(path=shots / f"{language}-1-register-form-filled.png", full_page=True)
    submit_letter(page)

    number = first_incoming_number()
    expect_registered(page, number)
    assert re.fullmatch(r"\d{4}/A/\d{6}", number)
    expect_language(page, language)
    expect_letter_details(page, letter, letter.subject)
    expect_document_with_preview(page, pdf.name)

    correct_subject(page, new_subject, reason)
    expect_language(page, language)
    expect_letter_details(page, letter, new_subject)
    expect_correction_in_history(page, letter.subject, new_subject, reason)
    expect_document_with_preview(page, pdf.name)
    page.screenshot(path=shots / f"{language}-2-letter-after-correction.png", full_page=True)


def test_arabic_officer_registers_and_corrects_a_letter(world, page, sample_pdf, screenshots_dir):
    registration_and_correction(
        page,
        "ar",
        ARABIC_LETTER,
        new_subject="طلب الحصول على نسخة مصادق عليها من القرار الإداري رقم 45",
        reason="تصحيح خطأ في كتابة الموضوع",
        pdf=sample_pdf,
        shots=screenshots_dir,
    )


def test_french_officer_registers_and_corrects_a_letter(world, page, sample_pdf, screenshots_dir):
    registration_and_correction(
        page,
        "fr",
        FRENCH_LETTER,
        new_subject="Copie certifiée de l'arrêté n° 12 — rénovation de l'école élémentaire",
        reason="Objet mal recopié à l'enregistrement",
        pdf=sample_pdf,
        shots=screenshots_dir,
    )


def test_form_refuses_a_file_that_is_not_a_document_and_keeps_the_input(
    world, page, sample_pdf, screenshots_dir
):
    sign_in(page, "officer", "ar")
    open_new_letter_form(page)
    fill_letter(page, ARABIC_LETTER)
    page.locator('input[type="file"][name="documents"]').set_input_files(
        {
            "name": "report.pdf",
            "mimeType": "application/pdf",
            "buffer": b"This is a plain text note, not a scanned letter.\n",
        }
    )
    submit_letter(page)

    # Back on the form, nothing registered, the error next to the file field.
    expect(page).to_have_url(re.compile(r"/registry/incoming/new$"))
    expect(page.locator("p.flash.flash-success")).to_have_count(0)
    file_field = page.locator(".field.has-error").filter(has=page.locator('input[type="file"]'))
    expect(
        file_field.locator('small.error[role="alert"]').filter(has_text="report.pdf")
    ).to_be_visible()
    expect(page.locator("ul.kept-files")).to_have_count(0)  # the refused file is not kept
    # What was typed is still there.
    expect(page.locator("#subject")).to_have_value(ARABIC_LETTER.subject)
    expect(page.locator("#correspondent_name")).to_have_value(ARABIC_LETTER.correspondent)
    expect(page.locator("#correspondent_national_id")).to_have_value(ARABIC_LETTER.national_id)
    expect(page.locator("#sender_reference")).to_have_value(ARABIC_LETTER.reference)
    expect(page.locator("#channel")).to_have_value(ARABIC_LETTER.channel)
    page.screenshot(path=screenshots_dir / "ar-3-register-form-file-refused.png", full_page=True)

    page.locator('input[type="file"][name="documents"]').set_input_files(str(sample_pdf))
    submit_letter(page)
    expect_registered(page, first_incoming_number())
    expect_letter_details(page, ARABIC_LETTER, ARABIC_LETTER.subject)
    expect(page.locator("article.document h3")).to_have_text(sample_pdf.name)


def test_cancelled_letter_stays_in_the_register_struck_through(
    world, page, sample_pdf, screenshots_dir
):
    sign_in(page, "officer", "ar")
    register_letter(page, ARABIC_LETTER, sample_pdf)
    number = first_incoming_number()
    reason = "سُجّلت الرسالة مرتين عن طريق الخطأ"

    cancel_form = page.locator('form[action$="/cancel"]')
    cancel_form.locator('textarea[name="reason"]').fill(reason)
    cancel_form.locator("button[type=submit]").click()

    expect(page).to_have_url(LETTER_URL)
    expect(page.locator(".page-head h1 .badge.danger")).to_be_visible()
    expect(page.locator(".page-head h1 .number")).to_have_text(number)
    expect(page.locator("p.flash.flash-error").filter(has_text=reason)).to_be_visible()
    expect(page.locator("ol.history p.reason").filter(has_text=reason)).to_have_count(1)
    expect(page.locator('form[action$="/cancel"]')).to_have_count(0)  # cannot cancel twice
    expect(page.locator('.page-head a[href$="/correct"]')).to_have_count(0)
    expect_document_with_preview(page, sample_pdf.name)  # the documents stay readable
    page.screenshot(path=screenshots_dir / "ar-4-letter-cancelled.png", full_page=True)

    page.locator('nav.mainnav a[href$="/registry/incoming"]').click()
    expect(page).to_have_url(re.compile(r"/registry/incoming$"))
    row = page.locator("table.register tbody tr").filter(has_text=number)
    expect(row).to_have_count(1)
    expect(row).to_have_class(re.compile(r"\bcancelled\b"))
    expect(row.locator("td.number")).to_have_text(number)
    expect(row).to_contain_text(ARABIC_LETTER.subject)
    for cell in row.locator("td").all():
        line = cell.evaluate("td => getComputedStyle(td).textDecorationLine")
        assert "line-through" in line
    page.screenshot(path=screenshots_dir / "ar-5-register-list-cancelled.png", full_page=True)
