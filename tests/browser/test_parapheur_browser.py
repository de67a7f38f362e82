"""The e-parapheur in a real browser, each person in their own browser context.

DRH's agent drafts the reply to a letter and sends it into a circuit: a visa by the head of DRH,
then the director's signature. The director has made a signing certificate and registered a
security key (chromium's virtual authenticator, through the DevTools protocol). The head gives
the visa; the director, in Arabic, drags the stamp to its place, mistypes the signing secret
(refused, the stamp stays where it was put), then signs, confirming with the key. The signed
PDF is valid for Diwan and for poppler's pdfsig (NSS trusting the organisation's CA), its stamp
is drawn where it was dragged, and the agent dispatches it with its outgoing number.

As in the other browser tests, elements are found by names, classes and data attributes, and
the assertions are on data, never on the interface wording, which is still being translated.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from PIL import Image
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from app.models import Letter, User
from app.models.signing import Circuit, SigningCertificate
from app.services import routing
from app.services.actor import Actor
from signing.validation import validate
from tests.browser.test_registry_browser import switch_language
from tests.browser.webauthn_helpers import add_virtual_authenticator, localhost, virtual_credentials
from tests.conftest import PASSWORD
from tests.factories import register
from tests.signing.test_independent_validators import (
    assert_valid_and_trusted,
    cades_reports,
    make_nss_db,
    pdfsig,
)
from tests.test_parapheur import director  # noqa: F401  (fixture: the signatory "director")
from tests.test_routing import departments  # noqa: F401  (fixture: DRH, DSI, DAJ, heads, agents)

pytestmark = pytest.mark.browser

SECRET = "secret de signature 2024"
KEY_NAME = "Clé de la directrice"
SUBJECT = "طلب شهادة العمل"
REPLY_BODY = "نشعركم بأن شهادة العمل المطلوبة جاهزة، ويمكنكم سحبها من مصلحة الموارد البشرية."
VISA_COMMENT = "لا مانع"
STAMP_SIZE = (210.0, 84.0)  # points, as app/blueprints/parapheur.py draws the box
DRAG = (-250, -260)  # CSS pixels: from the default corner towards the middle of the page
TOLERANCE_PT = 3.0


@pytest.fixture
def base_url(live_server) -> str:
    """WebAuthn refuses IP addresses: the live server, reached by name."""
    return localhost(live_server)


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("header.topbar .whoami")).to_be_visible()


def expect_success(page: Page, timeout: float = 5_000) -> None:
    expect(page.locator("p.flash.flash-success")).to_be_visible(timeout=timeout)
    expect(page.locator("p.flash.flash-error:visible")).to_have_count(0)


def open_from_basket(page: Page, circuit_id: int) -> None:
    page.locator("header a.to-sign-link").click()
    expect(page).to_have_url(re.compile(r"/parapheur/$"))
    page.locator(f'table.basket a[href$="/parapheur/{circuit_id}"]').click()
    expect(page).to_have_url(re.compile(rf"/parapheur/{circuit_id}$"))


def fresh(model):
    """A fresh read: the live server's threads wrote since the test's session last looked."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(type(model), model.id)


def organisation_ca(organisation_id: int) -> x509.Certificate:
    row = db.session.scalar(
        select(SigningCertificate).where(
            SigningCertificate.organisation_id == organisation_id,
            SigningCertificate.purpose == "authority",
        )
    )
    return x509.load_der_x509_certificate(row.certificate_der)


def signature_widget_rect(pdf: bytes) -> tuple[int, tuple[float, ...]]:
    """The page number (from 1) and /Rect of the signed PDF's one person's signature (CAdES)
    widget; the archive time-stamp's widget, invisible, is left out."""
    reader = PdfReader(io.BytesIO(pdf))
    found = []
    for number, page in enumerate(reader.pages, start=1):
        for annotation in page.get("/Annots") or []:
            widget = annotation.get_object()
            field = widget if "/FT" in widget else widget["/Parent"].get_object()
            value = field.get("/V")
            if field.get("/FT") != "/Sig" or value is None:
                continue
            if value.get_object().get("/SubFilter") == "/ETSI.CAdES.detached":
                found.append((number, tuple(float(v) for v in widget["/Rect"])))
    assert len(found) == 1, found
    return found[0]


def validate_outside_playwright(pdf: bytes, trust_roots) -> dict:
    """signing.validation.validate in its own thread: it runs pyHanko's checks with
    asyncio.run, which refuses to start where Playwright's sync API already runs an event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(validate, pdf, trust_roots=trust_roots).result()


def page_image(page: Page, src: str) -> Image.Image:
    response = page.request.get(src)
    assert response.ok, response.status
    return Image.open(io.BytesIO(response.body())).convert("L")


def ink_inside(image: Image.Image, box_pt, width_pt: float, height_pt: float) -> float:
    """The share of dark pixels of a page image inside a box given in PDF points."""
    scale = image.width / width_pt
    left, bottom, right, top = box_pt
    crop = image.crop(
        (
            round(left * scale),
            round((height_pt - top) * scale),
            round(right * scale),
            round((height_pt - bottom) * scale),
        )
    )
    dark = sum(crop.histogram()[:128])  # grey levels 0..127
    return dark / (crop.width * crop.height)


def download(page: Page, link) -> bytes:
    with page.expect_download() as info:
        link.click()
    return info.value.path().read_bytes()


# A tall window, so the whole last page (and the stamp being dragged) is on screen.
@pytest.mark.browser_context_args(viewport={"width": 1280, "height": 1300})
def test_reply_visa_stamp_dragged_signed_with_a_key_and_dispatched(
    app,
    world,
    departments,  # noqa: F811
    director,  # noqa: F811
    fresh_page,
    screenshots_dir,
    tmp_path,
):
    # The director of an Arabic-speaking administration: the stamp carries Arabic text.
    director.full_name = "نادية بنعلي"
    director.title = "المديرة العامة"
    with app.test_request_context():
        letter = register(world.officer, subject=SUBJECT, correspondent="السيدة أمينة الإدريسي")
    officer, head_user, agent_user = (
        db.session.scalar(select(User).where(User.username == name))
        for name in ("officer", "head.drh", "agent.drh")
    )
    action = routing.route_letter(db.session, Actor(officer), letter, departments.drh.id)
    routing.pass_to_agent(db.session, Actor(head_user), action, agent_user.id)
    db.session.commit()

    # 1. The director, beforehand, creates a signing certificate and registers a security key.
    boss = fresh_page()
    sign_in(boss, "director")
    authenticator = add_virtual_authenticator(boss.context, boss)
    boss.goto("/account/certificates/")
    enrol = boss.locator("form.enrol-form")
    enrol.locator('input[name="secret"]').fill(SECRET)
    enrol.locator('input[name="confirmation"]').fill(SECRET)
    enrol.locator('button[name="enrol"]').click()
    expect_success(boss)
    expect(boss.locator("p.current-certificate")).to_contain_text("نادية بنعلي")
    boss.goto("/account/security-keys")
    keys = boss.locator("form[data-webauthn-create]")
    keys.locator('input[name="name"]').fill(KEY_NAME)
    keys.locator('button[name="register"]').click()
    expect_success(boss)
    expect(boss.locator("table.security-keys tr.security-key")).to_have_count(1)
    (credential,) = virtual_credentials(boss, authenticator)

    # 2. DRH's agent writes the reply in Arabic, saves it and sends it for signature: a visa by
    #    the head of DRH (whoever holds the role), then the director's signature.
    agent = fresh_page()
    sign_in(agent, "agent.drh")
    agent.goto(f"/letters/{letter.id}")
    agent.locator('select[name="language"]').select_option("ar")
    agent.locator('button[name="start_reply"]').click()
    expect(agent).to_have_url(re.compile(rf"/letters/{letter.id}/reply$"))
    agent.locator('textarea[name="body"]').fill(REPLY_BODY)
    agent.locator('button[name="save"]').click()
    expect_success(agent)
    rows = agent.locator("form.send-for-signature fieldset.steps tbody tr")
    steps = [("visa", f"r:{departments.drh.id}:department_head"), ("sign", f"u:{director.id}")]
    for row, (step_action, target) in zip(rows.all(), steps, strict=False):
        row.locator('select[name="step_action"]').select_option(step_action)
        row.locator('select[name="step_target"]').select_option(target)
    agent.locator('button[name="send_for_signature"]').click()
    expect(agent).to_have_url(re.compile(r"/parapheur/\d+$"))
    expect_success(agent)
    circuit_id = int(agent.url.rsplit("/", 1)[1])
    db.session.rollback()  # a fresh read: the live server's thread wrote since the last one
    circuit = db.session.get(Circuit, circuit_id)
    assert circuit.letter_id == letter.id
    assert [(s.position, s.action) for s in circuit.steps] == [(1, "visa"), (2, "sign")]
    step_items = agent.locator("section.steps-list li.step")
    expect(step_items.nth(0)).to_have_attribute("data-status", "pending")
    expect(step_items.nth(1)).to_have_attribute("data-status", "waiting")

    # Not the director's turn yet: nothing in the basket, no sign form on the page.
    boss.goto("/parapheur/")
    expect(boss.locator(f'table.basket a[href$="/parapheur/{circuit_id}"]')).to_have_count(0)
    boss.goto(f"/parapheur/{circuit_id}")
    expect(boss.locator("form.sign-form")).to_have_count(0)

    # 3. The head of DRH opens the basket, reads the document and gives the visa.
    head = fresh_page()
    sign_in(head, "head.drh")
    expect(head.locator("header a.to-sign-link .to-sign-count")).to_have_text("1")
    open_from_basket(head, circuit_id)
    expect(head.locator("section.pages figure.page img").first).to_have_js_property(
        "complete", True
    )
    head.locator('form.visa-form textarea[name="comment"]').fill(VISA_COMMENT)
    head.locator('form.visa-form button[name="approve"]').click()
    expect_success(head)
    expect(head.locator("section.steps-list li.step").nth(0)).to_have_attribute(
        "data-status", "approved"
    )
    expect(head.locator("form.visa-form")).to_have_count(0)

    # 4. The director, in Arabic, opens the document from the basket and drags the stamp.
    boss.goto("/parapheur/")
    switch_language(boss, "ar")
    open_from_basket(boss, circuit_id)
    form = boss.locator("form.sign-form")
    expect(form).to_have_attribute("data-webauthn-options", re.compile(r"challenge"))
    last_page = boss.locator("section.pages figure.page").last
    stamp = last_page.locator(".stamp")
    expect(stamp).to_be_visible()
    image = last_page.locator("img")
    expect(image).to_have_js_property("complete", True)
    width_pt = float(last_page.get_attribute("data-width-pt"))
    height_pt = float(last_page.get_attribute("data-height-pt"))
    stamp.scroll_into_view_if_needed()
    start = stamp.bounding_box()
    boss.mouse.move(start["x"] + 20, start["y"] + 20)
    boss.mouse.down()
    boss.mouse.move(start["x"] + 20 + DRAG[0], start["y"] + 20 + DRAG[1], steps=12)
    boss.mouse.up()
    placed, page_box = stamp.bounding_box(), image.bounding_box()
    assert placed["x"] == pytest.approx(start["x"] + DRAG[0], abs=1)
    assert placed["y"] == pytest.approx(start["y"] + DRAG[1], abs=1)
    # Where the stamp now is, in PDF points from the page's bottom-left corner.
    scale = page_box["width"] / width_pt
    expected_x = (placed["x"] - page_box["x"]) / scale
    expected_y = height_pt - (placed["y"] - page_box["y"]) / scale - STAMP_SIZE[1]
    expect(form.locator('input[name="page"]')).to_have_value(last_page.get_attribute("data-page"))
    assert float(form.locator('input[name="x"]').input_value()) == pytest.approx(
        expected_x, abs=TOLERANCE_PT
    )
    assert float(form.locator('input[name="y"]').input_value()) == pytest.approx(
        expected_y, abs=TOLERANCE_PT
    )
    boss.screenshot(path=screenshots_dir / "parapheur-sign-ar.png", full_page=True)
    unsigned_src = image.get_attribute("src")

    # A mistyped secret: the key confirms, the signature is refused, nothing is signed, and the
    # page comes back with the stamp where it was dragged.
    form.locator('input[name="secret"]').fill("not the secret")
    form.locator('button[name="sign"]').click()
    expect(boss.locator("p.flash.flash-error")).to_be_visible()
    expect(boss.locator("p.flash.flash-success")).to_have_count(0)
    expect(stamp).to_be_visible()
    expect(image).to_have_js_property("complete", True)
    again, again_page = stamp.bounding_box(), image.bounding_box()  # the flash moved the page
    assert again["x"] - again_page["x"] == pytest.approx(placed["x"] - page_box["x"], abs=2)
    assert again["y"] - again_page["y"] == pytest.approx(placed["y"] - page_box["y"], abs=2)
    db.session.rollback()
    assert [v.reason for v in db.session.get(Circuit, circuit_id).versions] == ["submitted"]

    # … types the signing secret and signs; the virtual authenticator confirms.
    form.locator('input[name="secret"]').fill(SECRET)
    boss.set_default_timeout(30_000)  # signing, time-stamping and archiving take seconds
    with boss.expect_request(
        lambda request: request.method == "POST" and request.url.endswith("/sign")
    ) as caught:
        form.locator('button[name="sign"]').click()
    posted = {name: values[0] for name, values in parse_qs(caught.value.post_data).items()}
    expect_success(boss, timeout=30_000)
    boss.set_default_timeout(10_000)
    expect(boss.locator("form.sign-form")).to_have_count(0)
    expect(boss.locator("section.steps-list li.step").nth(1)).to_have_attribute(
        "data-status", "signed"
    )
    assert posted["page"] == last_page.get_attribute("data-page")
    assert json.loads(posted["webauthn_response"])["type"] == "public-key"
    signed_page = boss.locator("section.pages figure.page").last
    expect(signed_page.locator("img")).to_have_js_property("complete", True)
    expect(signed_page.locator(".stamp")).to_have_count(0)  # the stamp is in the page image now
    boss.screenshot(path=screenshots_dir / "parapheur-signed-ar.png", full_page=True)
    # … drawn where it was dragged: ink there now, none before.
    stamp_box = (expected_x, expected_y, expected_x + STAMP_SIZE[0], expected_y + STAMP_SIZE[1])
    before = page_image(boss, unsigned_src)
    after = page_image(boss, signed_page.locator("img").get_attribute("src"))
    assert ink_inside(before, stamp_box, width_pt, height_pt) < 0.005
    assert ink_inside(after, stamp_box, width_pt, height_pt) > 0.05

    # 5. The stamp is where it was dragged; the signature is valid for Diwan and for pdfsig, and
    #    the step keeps the security key's assertion.
    circuit = fresh(circuit)
    assert circuit.status == "completed"
    assert [v.reason for v in circuit.versions] == ["submitted", "signed", "timestamped"]
    held = circuit.current_version
    signed = download(
        boss, boss.locator(f'.page-head a[href$="/parapheur/{circuit_id}/v{held.number}.pdf"]')
    )
    assert hashlib.sha256(signed).hexdigest() == held.sha256
    page_number, rect = signature_widget_rect(signed)
    assert page_number == int(posted["page"]) == circuit.versions[0].page_count
    x, y = float(posted["x"]), float(posted["y"])
    assert x == pytest.approx(expected_x, abs=TOLERANCE_PT)
    assert y == pytest.approx(expected_y, abs=TOLERANCE_PT)
    assert rect == pytest.approx((x, y, x + STAMP_SIZE[0], y + STAMP_SIZE[1]), abs=TOLERANCE_PT)

    report = validate_outside_playwright(signed, [organisation_ca(world.org.id)])
    assert report["verdict"] == "VALID", report
    assert report["signatures"][0]["signer"]["common_name"] == "نادية بنعلي"
    nss = make_nss_db(tmp_path / "nss", [organisation_ca(world.org.id)])
    [checked] = cades_reports(pdfsig(signed, nss, tmp_path))
    assert_valid_and_trusted(checked)

    sign_step = next(s for s in circuit.steps if s.action == "sign")
    evidence = sign_step.evidence
    held_id = base64.b64decode(credential["credentialId"])
    assert base64.urlsafe_b64decode(evidence["credential_id"] + "==") == held_id
    assert evidence["document_sha256"] == circuit.versions[0].sha256  # what was shown and signed
    assert evidence["key_name"] == KEY_NAME
    assert evidence["signature"] and evidence["authenticator_data"]

    # The public verification page, from the circuit page's link, finds it valid too.
    boss.locator(".page-head a[href*='/verify/']").click()
    expect(boss.locator("section.verdict")).to_have_attribute("data-verdict", "VALID")
    expect(boss.locator(".held-sha")).to_have_text(held.sha256)

    # 6. The agent dispatches the signed reply: it gets the outgoing number, and its document is
    #    the signed PDF, byte for byte.
    agent.goto(f"/letters/{letter.id}/reply")
    expect(agent.locator("section.reply-circuit")).to_have_attribute("data-status", "completed")
    agent.locator('select[name="channel"]').select_option("email")
    agent.locator('button[name="dispatch"]').click()
    expect_success(agent)
    expect(agent.locator("h1 .number")).to_contain_text(f"{date.today().year}/D/000001")
    db.session.rollback()
    outgoing = db.session.scalar(select(Letter).where(Letter.reply_to_id == letter.id))
    expect(agent).to_have_url(re.compile(rf"/letters/{outgoing.id}$"))
    dispatched = download(agent, agent.locator("article.document a[href$='/original']"))
    assert hashlib.sha256(dispatched).hexdigest() == held.sha256
