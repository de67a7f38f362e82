"""The citizens' e-counter end to end, in a real browser, once in Arabic and once in French.

A citizen, on a phone, finds the administration, files a complaint with a PDF attached and an
e-mail address; the worker sends the confirmation link to a real local SMTP server; the citizen
opens it, confirms, gets the registry number and the tracking code, downloads the sealed receipt
(valid for Diwan's validator, for the public verification page and for poppler's pdfsig, whose
NSS database is given the organisation's CA) and receives it by e-mail too. The registry finds
the letter in its register (channel "portal"), routed by the rule to SRC; SRC's head accepts it
and drafts the reply from a template, a signatory signs it in the parapheur, the head dispatches
it. The citizen, in a new browser, follows the request with number and code, sees the timeline,
downloads the signed answer and rates it.

As in the other browser tests, elements are found by names, classes and data attributes; the
assertions are on data, never on the interface wording (still being translated), except for the
verification page's verdict sentence, compared with its translation in the language chosen.
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask_babel import force_locale
from playwright.sync_api import Browser, Page, expect
from pyhanko.pdf_utils.reader import PdfFileReader
from pypdf import PdfWriter
from sqlalchemy import select

from app.blueprints.verification import VERDICT_SENTENCES
from app.extensions import db
from app.models import Letter, PortalRating, PortalSubmission, Role
from app.models.signing import Circuit
from app.services import organisations as orgs
from app.services import pki
from app.services.portal import digest
from app.worker import run_once
from tests.browser.test_parapheur_browser import download, validate_outside_playwright
from tests.browser.test_registry_browser import expect_language, sign_in, switch_language
from tests.portal.conftest import (  # noqa: F401  (fixtures)
    _fresh_key_cache,
    portal_world,
)
from tests.signing.test_independent_validators import make_nss_db, pdfsig
from tests.test_routing import _user

pytestmark = pytest.mark.browser

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
SECRET = "secret de signature 2024"
CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$")
# ms: sealing, signing and time-stamping take about a second. Not more: with some of the PKIs
# generated per test, asn1crypto 1.5.1 re-encodes the seal's CMS over and over (a definite
# length ending in 0x80 taken for an indefinite one) and the confirmation then takes 15-35 s.
SLOW = 30_000


@dataclass(frozen=True)
class Citizen:
    language: str
    search: str  # typed in the portal's search box
    name: str
    national_id: str
    email: str
    subject: str
    message: str
    template: str  # the reply template's text
    comment: str  # with the rating


CITIZENS = {
    "ar": Citizen(
        language="ar",
        search="وزارة",
        name="فاطمة الزهراء بنعلي",
        national_id="BE123456",
        email="fatima.benali@example.org",
        subject="تأخر في تسليم الشهادة الإدارية",
        message="السلام عليكم، طلبت شهادة إدارية منذ شهرين ولم أتوصل بها إلى حد الآن.",
        template="السيدة {correspondent}،\n\nجوابا على رسالتكم رقم {number} بشأن «{subject}»، "
        "نخبركم بأن الشهادة الإدارية جاهزة ويمكنكم سحبها من المصلحة.",
        comment="جواب سريع وواضح، شكرا لكم.",
    ),
    "fr": Citizen(
        language="fr",
        search="ministère",
        name="Hélène Béranger-Lefèvre",
        national_id="BK654321",
        email="helene.lefevre@example.org",
        subject="Retard dans la délivrance d'une attestation administrative",
        message="Bonjour, j'ai demandé une attestation administrative il y a deux mois et je "
        "ne l'ai toujours pas reçue.",
        template="Madame {correspondent},\n\nEn réponse à votre courrier n° {number} relatif à "
        "« {subject} », nous vous informons que votre attestation est prête.",
        comment="Réponse claire et rapide, merci.",
    ),
}


# -- the mail server --------------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler keeping what it receives."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 OK"

    def take(self) -> list[EmailMessage]:
        """The messages received since the last call."""
        taken, self.envelopes = self.envelopes, []
        return [message_from_bytes(e.content, policy=policy.default) for e in taken]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(app) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    yield inbox
    controller.stop()


@pytest.fixture
def served(app, live_server, smtp) -> str:
    """The links in e-mails and receipts point at the live server (config is read per request)."""
    app.config["BASE_URL"] = live_server
    return live_server


@pytest.fixture
def phone(browser: Browser, live_server) -> Iterator:
    """phone() -> a page in a new browser context on a phone: a citizen's own browser."""
    contexts = []

    def make() -> Page:
        context = browser.new_context(base_url=live_server, locale="en-GB", **PHONE)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.set_default_navigation_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


# -- helpers ----------------------------------------------------------------------------------


def worker_round(app) -> dict:
    """One round of the worker (its own app context), then a fresh read for the test."""
    report = run_once(app, check_deadlines=False)
    db.session.rollback()
    db.session.expire_all()
    return report


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def one_page_pdf(path: Path) -> Path:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    with path.open("wb") as out:
        writer.write(out)
    return path


def organisation_ca(app, organisation):
    settings = pki.PkiSettings.from_config(app.config)
    return pki.ensure_organisation_pki(db.session, organisation, settings).authority.certificate


def verdict_sentence(app, language: str) -> str:
    with app.test_request_context(), force_locale(language):
        return str(VERDICT_SENTENCES["VALID"])


def expect_success(page: Page, timeout: float = 5_000) -> None:
    expect(page.locator("p.flash.flash-success")).to_be_visible(timeout=timeout)
    expect(page.locator("p.flash.flash-error")).to_have_count(0)


def shot(page: Page, directory: Path, language: str, name: str) -> None:
    page.screenshot(path=directory / f"portal-{language}-{name}.png", full_page=True)


def assert_pdfsig_valid(pdf: bytes, ca, tmp_path: Path, name: str) -> None:
    """poppler's pdfsig, its NSS database trusting the organisation's CA: every signature
    (document time-stamps aside, which pdfsig cannot check) valid and its certificate trusted."""
    nss = make_nss_db(tmp_path / f"nss-{name}", [ca])
    reports = [r for r in pdfsig(pdf, nss, tmp_path) if r.get("Signature Type") != "ETSI.RFC3161"]
    assert reports, "pdfsig found no signature"
    for report in reports:
        assert report.get("Signature Validation") == "Signature is Valid.", report
        assert report.get("Certificate Validation") == "Certificate is Trusted.", report


# -- the test ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_citizen_complaint_confirmed_sealed_answered_signed_and_rated(
    app,
    world,
    portal_world,  # noqa: F811
    served,
    smtp,
    phone,
    fresh_page,
    screenshots_dir,
    tmp_path,
    language,
):
    citizen = CITIZENS[language]
    department = portal_world.department
    department_name = department.name(language)
    ca = organisation_ca(app, world.org)
    # What the administration prepared beforehand: a signatory, a reply template.
    secretariat = orgs.create_department(
        db.session, None, world.org, code="SG", name_ar="الكتابة العامة", name_fr="Secrétariat"
    )
    director = _user(world.org, "director", Role.SIGNATORY, secretariat)
    director.full_name = "نادية العلوي" if language == "ar" else "Nadia Alaoui"
    template = orgs.create_reply_template(
        db.session,
        None,
        world.org,
        name="Attestation prête",
        language=language,
        body=citizen.template,
    )
    db.session.commit()
    director_id, director_name, template_id = director.id, director.full_name, template.id
    attachment = one_page_pdf(tmp_path / "piece-jointe.pdf")

    # 1. The citizen, on a phone, switches the language and finds the administration.
    mobile = phone()
    mobile.goto("/portal/")
    switch_language(mobile, language)
    mobile.locator("form.portal-search #q").fill(citizen.search)
    mobile.locator("form.portal-search button[type=submit]").click()
    expect(mobile).to_have_url(re.compile(r"/portal/\?q="))
    found = mobile.locator("ul.portal-list li a")
    expect(found).to_have_count(1)
    expect(found).to_have_text(world.org.name(language))
    shot(mobile, screenshots_dir, language, "index")
    found.click()
    expect(mobile).to_have_url(re.compile(r"/portal/mtn/$"))
    mobile.locator('ul.portal-list a[href$="/portal/mtn/plainte"]').click()
    expect(mobile).to_have_url(re.compile(r"/portal/mtn/plainte$"))
    expect_language(mobile, language)

    # 2. … fills the complaint, attaches a PDF and sends it: a link goes to the e-mail first.
    form = mobile.locator("form.portal-form")
    form.locator("#name").fill(citizen.name)
    form.locator("#national_id").fill(citizen.national_id)
    form.locator("#email").fill(citizen.email)
    form.locator("#subject").fill(citizen.subject)
    form.locator("#message").fill(citizen.message)
    form.locator('input[type=file][name="attachments"]').set_input_files(str(attachment))
    shot(mobile, screenshots_dir, language, "form")
    form.locator(".actions button[type=submit]").click(timeout=SLOW)
    expect(mobile).to_have_url(re.compile(r"/portal/sent\?email="))
    expect(mobile.locator("main section.card")).to_contain_text(citizen.email)
    db.session.rollback()
    assert db.session.scalar(select(Letter)) is None  # nothing registered before the link

    # 3. The worker sends the confirmation link; the citizen opens it and confirms.
    assert worker_round(app)["emails_sent"] == 1
    [confirmation] = smtp.take()
    assert confirmation["To"] == citizen.email
    link = re.search(r"http://\S+/portal/confirm/\S+", text_of(confirmation))
    assert link and link.group(0).startswith(served + "/portal/confirm/"), text_of(confirmation)
    mobile.goto(link.group(0))
    expect_language(mobile, language)
    mobile.locator("main section.card form button[type=submit]").click(timeout=SLOW)
    expect(mobile).to_have_url(re.compile(r"/portal/requests/[\w-]+$"), timeout=SLOW)
    registered = mobile.locator("section.registered")
    number = f"{date.today().year}/A/000001"
    expect(registered.locator(".number")).to_have_text(number)
    code = registered.locator("p.tracking-code").inner_text().strip()
    assert CODE.match(code), code
    expect(mobile.locator("dd.request-status")).to_contain_text(department_name)
    shot(mobile, screenshots_dir, language, "request")
    db.session.rollback()
    submission = db.session.scalar(select(PortalSubmission))
    letter = submission.letter
    assert letter.number == number and letter.channel == "portal"
    assert submission.tracking_code_hash == digest(code)
    assert submission.locale == language and submission.email_confirmed_at is not None

    # 4. The receipt: downloaded, sealed, valid for Diwan, for /verify and for pdfsig …
    receipt = download(mobile, mobile.locator('.page-head a[href$="/receipt"]'))
    receipt_sha = hashlib.sha256(receipt).hexdigest()
    db.session.rollback()
    assert receipt_sha == db.session.get(PortalSubmission, submission.id).receipt_sha256
    report = validate_outside_playwright(receipt, [ca])
    assert report["verdict"] == "VALID", report
    receipt_path = tmp_path / "receipt.pdf"
    receipt_path.write_bytes(receipt)
    mobile.goto("/verify")
    mobile.locator('form.verify-form input[type=file][name="document"]').set_input_files(
        str(receipt_path)
    )
    mobile.locator("form.verify-form button[type=submit]").click(timeout=SLOW)
    verdict = mobile.locator("section.verdict")
    expect(verdict).to_have_attribute("data-verdict", "VALID", timeout=SLOW)
    expect(verdict.locator(".verdict-sentence")).to_have_text(verdict_sentence(app, language))
    expect(verdict.locator(".sha")).to_have_text(receipt_sha)
    assert_pdfsig_valid(receipt, ca, tmp_path, "receipt")
    # … and e-mailed, with the tracking code, by the next worker round.
    assert worker_round(app)["emails_sent"] == 1
    [receipt_mail] = smtp.take()
    assert receipt_mail["To"] == citizen.email
    body = text_of(receipt_mail)
    assert code in body and number in body
    [attached] = list(receipt_mail.iter_attachments())
    assert attached.get_content_type() == "application/pdf"
    assert hashlib.sha256(attached.get_content()).hexdigest() == receipt_sha

    # 5. The registry finds it in the incoming register (channel: portal), routed to SRC.
    officer = fresh_page()
    sign_in(officer, "officer", language)
    officer.goto("/registry/incoming")
    officer.locator("form.filters #channel").select_option("portal")
    officer.locator("form.filters .actions button[type=submit]").click()
    expect(officer).to_have_url(re.compile(r"channel=portal"))
    row = officer.locator("table.register tbody tr").filter(
        has=officer.locator("td.number", has_text=number)
    )
    expect(row).to_have_count(1)
    portal_label = officer.locator('form.filters #channel option[value="portal"]').inner_text()
    expect(row.locator("td").nth(4)).to_have_text(portal_label.strip())
    expect(row).to_contain_text(citizen.subject)
    row.locator("td.number a").click()
    expect(officer).to_have_url(re.compile(rf"/letters/{letter.id}$"))
    action = officer.locator("section.processing ul.assignments li.assignment-action")
    expect(action.locator("strong")).to_have_text(department_name)
    assert [a.department_id for a in letter.assignments] == [department.id]

    # 6. SRC's head accepts it and drafts the reply from the template, for the director to sign.
    head = fresh_page()
    sign_in(head, "head.src", language)
    head.goto(f"/letters/{letter.id}")
    head.locator('section.processing button[name="accept"]').click()
    expect_success(head)
    reply_form = head.locator("form.reply-form")
    reply_form.locator('select[name="template_id"]').select_option(str(template_id))
    reply_form.locator('select[name="language"]').select_option(language)
    reply_form.locator('button[name="start_reply"]').click()
    expect(head).to_have_url(re.compile(rf"/letters/{letter.id}/reply$"))
    body_field = head.locator('textarea[name="body"]')
    expect(body_field).to_have_value(re.compile(re.escape(citizen.name)))
    expect(body_field).to_have_value(re.compile(re.escape(number)))
    first_step = head.locator("form.send-for-signature fieldset.steps tbody tr").first
    first_step.locator('select[name="step_action"]').select_option("sign")
    first_step.locator('select[name="step_target"]').select_option(f"u:{director_id}")
    head.locator('button[name="send_for_signature"]').click(timeout=SLOW)
    expect(head).to_have_url(re.compile(r"/parapheur/\d+$"))
    expect_success(head)
    circuit_id = int(head.url.rsplit("/", 1)[1])

    # The director makes a signing certificate and signs in the parapheur.
    boss = fresh_page()
    sign_in(boss, "director", language)
    boss.goto("/account/certificates/")
    enrol = boss.locator("form.enrol-form")
    enrol.locator('input[name="secret"]').fill(SECRET)
    enrol.locator('input[name="confirmation"]').fill(SECRET)
    enrol.locator('button[name="enrol"]').click(timeout=SLOW)
    expect_success(boss)
    boss.goto(f"/parapheur/{circuit_id}")
    sign_form = boss.locator("form.sign-form")
    sign_form.locator('input[name="secret"]').fill(SECRET)
    sign_form.locator('button[name="sign"]').click(timeout=SLOW)
    expect_success(boss, timeout=SLOW)
    expect(boss.locator("section.steps-list li.step").first).to_have_attribute(
        "data-status", "signed"
    )

    # The head dispatches the signed reply.
    head.goto(f"/letters/{letter.id}/reply")
    expect(head.locator("section.reply-circuit")).to_have_attribute("data-status", "completed")
    head.locator('select[name="channel"]').select_option("portal")
    head.locator('button[name="dispatch"]').click(timeout=SLOW)
    expect_success(head)
    answer_number = f"{date.today().year}/D/000001"
    expect(head.locator("h1 .number")).to_contain_text(answer_number)
    db.session.rollback()
    signed_sha = db.session.get(Circuit, circuit_id).current_version.sha256

    # 7. The citizen, in another browser, follows the request with its number and code.
    tracker = phone()
    tracker.goto("/portal/")
    switch_language(tracker, language)
    tracker.locator('nav.portal-nav a[href$="/portal/track"]').click()
    expect(tracker).to_have_url(re.compile(r"/portal/track$"))
    tracker.locator("#number").fill(number)
    tracker.locator("#code").fill(code)
    shot(tracker, screenshots_dir, language, "track")
    tracker.locator("main form button[type=submit]").click()
    expect(tracker).to_have_url(re.compile(rf"/portal/requests/{submission.public_id}$"))
    expect(tracker.locator("section.registered")).to_have_count(0)  # the code is not shown again
    timeline = tracker.locator("ol.timeline")
    expect(timeline.locator("li.step-received")).to_have_count(1)
    expect(timeline.locator("li.step-routed")).to_contain_text(department_name)
    expect(timeline.locator("li.step-answered")).to_have_count(1)
    expect(timeline.locator("li.step-closed")).to_have_count(1)
    kinds = [
        re.sub(r"^step-", "", li.get_attribute("class")) for li in timeline.locator("li").all()
    ]
    assert kinds.index("received") < kinds.index("routed") < kinds.index("answered"), kinds

    answers = tracker.locator("section.answers")
    expect(answers.locator(".number")).to_have_text(answer_number)
    answer = download(tracker, answers.locator('a[href*="/answers/"]'))
    assert hashlib.sha256(answer).hexdigest() == signed_sha
    signatures = PdfFileReader(io.BytesIO(answer)).embedded_signatures
    assert signatures and signatures[0].field_name
    answer_report = validate_outside_playwright(answer, [ca])
    assert answer_report["verdict"] == "VALID", answer_report
    assert answer_report["signatures"][0]["signer"]["common_name"] == director_name

    # … and rates the answer: four stars and a comment.
    rate = tracker.locator("section.rate form")
    rate.locator('input[name="stars"][value="4"]').check()
    rate.locator('textarea[name="comment"]').fill(citizen.comment)
    rate.locator("button[type=submit]").click()
    expect_success(tracker)
    expect(tracker.locator("section.rate")).to_have_count(0)
    expect(tracker.locator(".stars")).to_have_text("★★★★☆")
    expect(tracker.locator("main")).to_contain_text(citizen.comment)
    shot(tracker, screenshots_dir, language, "followed")
    db.session.rollback()
    [rating] = db.session.scalars(select(PortalRating)).all()
    assert (rating.submission_id, rating.letter_id) == (submission.id, letter.id)
    assert (rating.stars, rating.comment) == (4, citizen.comment)
