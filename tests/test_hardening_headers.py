"""Security headers on every page a user reaches, and the flags of every cookie Diwan sets."""

from __future__ import annotations

import re
from collections import deque
from html import unescape

from app.extensions import db
from app.models import Role
from app.services import organisations as orgs
from app.services import portal_types
from app.services.actor import Actor
from tests.conftest import PASSWORD, _user, csrf_token, make_app
from tests.factories import register

LINK = re.compile(r'href="(/[^"#]*)"')
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=\s*[\"']", re.IGNORECASE)
# Downloads and generated files: not pages, and slow to make.
SKIP = re.compile(r"^/static/|export|download|/files?/|preview|\.pdf|\.csv|receipt|/pki/|/api/")
MAX_PAGES = 60


def _crawl(client, seeds: list[str]) -> dict[str, str]:
    """Follow the links of the site from the seeds (GET only); the HTML of each page reached."""
    pages: dict[str, str] = {}
    queue, seen = deque(seeds), set(seeds)
    while queue and len(pages) < MAX_PAGES:
        path = queue.popleft()
        response = client.get(path)
        _check_headers(path, response)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        pages[path] = html
        for link in LINK.findall(html):
            link = unescape(link).split("?")[0]
            if link not in seen and not SKIP.search(link) and link != "/logout":
                seen.add(link)
                queue.append(link)
    return pages


def _check_headers(path: str, response) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    directives = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip()
    )
    assert "'self'" in directives.get("script-src", ""), (path, policy)
    assert "'unsafe-inline'" not in directives["script-src"], (path, policy)
    assert "'unsafe-inline'" not in directives.get("style-src", "'unsafe-inline'"), path
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, path
    assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert response.headers["X-Frame-Options"] == "DENY", path
    assert response.headers["Referrer-Policy"], path


def _check_markup(pages: dict[str, str]) -> None:
    for path, html in pages.items():
        assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html).group(0))
        assert not STYLE_ATTRIBUTE.search(html), (path, STYLE_ATTRIBUTE.search(html).group(0))
        assert not EVENT_HANDLER.search(html), (path, EVENT_HANDLER.search(html).group(0))
        assert "javascript:" not in html.lower(), path


def test_every_page_of_every_role_and_the_portal_keeps_the_strict_csp(app, world, client_for):
    signatory = _user(world.org, "signatory", [Role.SIGNATORY])
    department = orgs.create_department(
        db.session, None, world.org, code="DAJ", name_ar="الشؤون", name_fr="Affaires"
    )
    head = _user(world.org, "head", [Role.DEPARTMENT_HEAD])
    head.department_id = department.id
    db.session.commit()
    letter = register(world.officer, subject="Demande de permis")
    portal_types.save_request_type(
        db.session,
        Actor(world.admin),
        None,
        code="courrier",
        name_ar="مراسلة",
        name_fr="Courrier",
        email_mode="optional",
    )
    seeds = ["/", "/account", "/account/password", "/search", "/notifications"]
    reached = {}
    for username in ("officer", "admin", "agent", signatory.username, head.username):
        client = client_for(username)
        pages = _crawl(client, [*seeds, f"/letters/{letter.id}", "/account/two-step"])
        _check_markup(pages)
        reached[username] = set(pages)
    anonymous = app.test_client()
    public = _crawl(anonymous, ["/login", "/portal/", "/portal/mtn/", "/verify", "/portal/track"])
    _check_markup(public)
    # the crawl really went through the application, not only the seeds
    assert len(reached["officer"]) > 15 and f"/letters/{letter.id}" in reached["officer"]
    assert any(path.startswith("/admin/") for path in reached["admin"])
    assert "/inbox/" in reached["head"] or "/inbox" in reached["head"], reached["head"]
    assert (
        "/account/two-step" in reached["admin"]
        and "/account/two-step" in reached[signatory.username]
    )
    assert "/portal/mtn/courrier" in public and "/login" in public
    # error pages too
    for client, path in ((anonymous, "/no-such-page"), (client_for("agent"), "/admin/rules")):
        response = client.get(path)
        assert response.status_code in (403, 404)
        _check_headers(path, response)
        _check_markup({path: response.get_data(as_text=True)})


def _cookie_headers(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def _flags(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


def _sign_in_cookies(application) -> list[str]:
    from flask import g

    @application.teardown_request
    def _fresh_g(_exc):  # as in the `app` fixture: requests share the app context pushed here
        g.__dict__.clear()

    with application.app_context():
        org = orgs.create_organisation(db.session, None, code="c", name_ar="ا", name_fr="C")
        orgs.create_user(
            db.session,
            None,
            org,
            username="clerk",
            full_name="Clerk",
            password=PASSWORD,
            roles=[Role.REGISTRY_OFFICER],
        )
        client = application.test_client()
        token = csrf_token(client, "/login")
        response = client.post(
            "/login", data={"username": "clerk", "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302
        cookies = _cookie_headers(response)
        token = csrf_token(client, "/account")  # signing in renewed the session and its token
        locale = client.post("/locale", data={"locale": "fr", "csrf_token": token})
        assert locale.status_code == 302
        portal = application.test_client().get("/portal/track")  # the citizens' session
        db.session.remove()
        db.engine.dispose()
    return cookies + _cookie_headers(locale) + _cookie_headers(portal)


def test_cookies_are_secure_behind_https_and_always_httponly_and_lax(tmp_path, new_database):
    for base_url, secure in (
        ("https://diwan.example.gov.ma", True),
        ("http://127.0.0.1:5000", False),
    ):
        instance = tmp_path / base_url.split(":")[0]
        application = make_app(instance, DATABASE_URL=new_database(instance), BASE_URL=base_url)
        assert application.config["SESSION_COOKIE_SECURE"] is secure
        cookies = _sign_in_cookies(application)
        names = {header.split("=")[0] for header in cookies}
        assert {"session", "diwan_locale"} <= names, cookies
        for header in cookies:
            flags = _flags(header)
            assert "httponly" in flags, header
            assert "samesite=lax" in header.lower(), header
            assert ("secure" in flags) is secure, header


def test_an_explicit_setting_overrides_the_scheme_of_base_url(tmp_path):
    forced = make_app(tmp_path / "a", BASE_URL="http://10.0.0.5", SESSION_COOKIE_SECURE="true")
    off = make_app(tmp_path / "b", BASE_URL="https://x.example", SESSION_COOKIE_SECURE="false")
    assert forced.config["SESSION_COOKIE_SECURE"] is True
    assert forced.config["REMEMBER_COOKIE_SECURE"] is True
    assert off.config["SESSION_COOKIE_SECURE"] is False
