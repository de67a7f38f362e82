"""Security keys in a real browser: chromium with a virtual authenticator (DevTools protocol)
registers a key on the account page, refuses to register it twice, answers a confirmation the
way a signing form asks for one (webauthn.js), and the key is disabled.

As in the other browser tests, elements are found by names, classes and data attributes, and
the assertions are on data, never on the interface wording, which is still being translated.
"""

from __future__ import annotations

import base64
import json
import os
import re
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select
from webauthn.helpers import bytes_to_base64url

from app.extensions import db
from app.models import SecurityKey, User
from app.services import security_keys
from tests.browser.webauthn_helpers import (
    add_virtual_authenticator,
    localhost,
    virtual_credentials,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

KEY_NAME = "Clé du bureau — مفتاح المكتب"
DOCUMENT = "ab" * 32  # a document digest, as the signing step would give


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


def keys_of(username: str) -> list[SecurityKey]:
    db.session.rollback()  # a fresh read: the live server's thread wrote since the last one
    user = db.session.scalar(select(User).where(User.username == username))
    return list(db.session.scalars(select(SecurityKey).where(SecurityKey.user_id == user.id)))


def key_rows(page: Page):
    return page.locator("table.security-keys tbody tr.security-key")


def register_key(page: Page, name: str) -> None:
    form = page.locator("form[data-webauthn-create]")
    form.locator('input[name="name"]').fill(name)
    form.locator('button[name="register"]').click()


def test_security_key_registered_refused_twice_used_and_disabled(
    world, context, page: Page, base_url, screenshots_dir
):
    sign_in(page, "officer")
    authenticator = add_virtual_authenticator(context, page)
    page.locator("header.topbar .whoami").click()
    page.locator('a[href$="/account/security-keys"]').click()
    expect(page).to_have_url(re.compile(r"/account/security-keys$"))
    expect(key_rows(page)).to_have_count(0)

    # Registration: the browser's authenticator makes the credential, the server keeps it.
    register_key(page, KEY_NAME)
    expect(page.locator("p.flash.flash-success")).to_be_visible()
    expect(key_rows(page)).to_have_count(1)
    expect(key_rows(page).first.locator(".key-name")).to_have_text(KEY_NAME)
    (key,) = keys_of("officer")
    (held,) = virtual_credentials(page, authenticator)
    assert base64.b64decode(held["credentialId"]) == key.credential_id
    assert key.name == KEY_NAME and key.active

    # The same authenticator again: it refuses (the key is excluded), nothing is sent.
    register_key(page, "Second name")
    error = page.locator("form[data-webauthn-create] [data-webauthn-error]")
    expect(error).to_be_visible()
    expect(error).to_have_text(error.get_attribute("data-message-known"))
    expect(key_rows(page)).to_have_count(1)
    assert len(keys_of("officer")) == 1
    page.screenshot(path=screenshots_dir / "security-keys-registered-then-refused.png")

    # A confirmation as the signing form will ask for one, options given in the form.
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    officer = key.user
    options = security_keys.assertion_options(
        db.session, officer, challenge=challenge, rp_id="localhost"
    )
    answer = confirm_in_page(page, options=options)
    evidence = security_keys.verify_assertion(
        db.session,
        officer,
        challenge=challenge,
        response_json=answer,
        rp_id="localhost",
        origin=base_url,
    )
    assert evidence["credential_id"] == bytes_to_base64url(key.credential_id)
    first_count = evidence["sign_count"]

    # … and options fetched from a URL when the form is submitted.
    challenge = security_keys.signing_challenge(DOCUMENT, os.urandom(16))
    options = security_keys.assertion_options(
        db.session, officer, challenge=challenge, rp_id="localhost"
    )
    answer = confirm_in_page(page, options_url=f"{base_url}/test-only/options", options=options)
    evidence = security_keys.verify_assertion(
        db.session,
        officer,
        challenge=challenge,
        response_json=answer,
        rp_id="localhost",
        origin=base_url,
    )
    assert evidence["sign_count"] > first_count

    # Disabling: the row stays, marked, without its button.
    page.goto("/account/security-keys")
    key_rows(page).first.locator('button[name="disable"]').click()
    expect(page.locator("p.flash.flash-success")).to_be_visible()
    expect(key_rows(page).first).to_have_class(re.compile(r"\bdisabled\b"))
    expect(key_rows(page).first.locator('button[name="disable"]')).to_have_count(0)
    assert not keys_of("officer")[0].active


def confirm_in_page(page: Page, *, options: str, options_url: str | None = None) -> str:
    """Add a form like the signing step's to the page, submit it, and return the
    webauthn_response it posted (the post is caught here, not sent to the server)."""
    page.goto("/account/security-keys")  # a page of the app, with webauthn.js
    posted: list[str] = []

    def catch_post(route: Route) -> None:
        posted.append(route.request.post_data or "")
        route.fulfill(status=200, content_type="text/html", body="<p class=confirmed>ok</p>")

    page.route("**/test-only/confirm", catch_post)
    if options_url:
        page.route(
            "**/test-only/options",
            lambda route: route.fulfill(content_type="application/json", body=options),
        )
    page.evaluate(
        """([options, optionsUrl]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/test-only/confirm";
            form.className = "confirm-test";
            form.setAttribute("data-webauthn-get", optionsUrl || "");
            if (!optionsUrl) form.setAttribute("data-webauthn-options", options);
            form.innerHTML = '<input type="hidden" name="webauthn_response">'
                + '<p data-webauthn-error hidden data-message-failed="failed"></p>'
                + '<button type="submit" name="sign" value="1">sign</button>';
            document.querySelector("main").append(form);
        }""",
        [options, options_url],
    )
    page.locator("form.confirm-test button[name=sign]").click()
    expect(page.locator("p.confirmed")).to_be_visible()
    page.unroute("**/test-only/confirm")
    page.unroute("**/test-only/options")
    (body,) = posted
    fields = parse_qs(body)
    assert fields["sign"] == ["1"]  # the pressed button is submitted with the answer
    (answer,) = fields["webauthn_response"]
    assert json.loads(answer)["type"] == "public-key"
    return answer
