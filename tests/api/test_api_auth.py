"""Who may call the API: unknown, revoked and expired tokens, the session cookie alone, another
organisation's letters, a right the user lacks, a missing scope; the problem+json shape."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from app.models.api import ApiToken
from app.models.base import utcnow
from app.services import api_tokens
from app.services.actor import Actor
from tests.api.conftest import assert_problem, bearer
from tests.conftest import login
from tests.factories import register


def test_no_token_unknown_token_and_cookie_only_are_refused(app, world, client_for):
    client = app.test_client()
    body = assert_problem(client.get("/api/v1/letters"), 401, "unauthenticated")
    assert body["instance"] == "/api/v1/letters"
    response = client.get("/api/v1/letters", headers=bearer("dwn_not-a-real-token"))
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(
        client.get("/api/v1/letters", headers={"Authorization": "Basic eDp5"}),
        401,
        "unauthenticated",
    )
    # Signed in on the pages, but no token: the API never reads the session cookie.
    signed_in = client_for("officer")
    assert signed_in.get("/registry/incoming").status_code == 200
    assert_problem(signed_in.get("/api/v1/letters"), 401, "unauthenticated")
    post = signed_in.post("/api/v1/letters/1/notes", json={"body": "hello"})
    assert_problem(post, 401, "unauthenticated")


def test_revoked_and_expired_tokens_are_refused(app, world, token_for):
    client = app.test_client()
    secret = token_for(world.officer)
    assert client.get("/api/v1/letters", headers=bearer(secret)).status_code == 200
    row = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == api_tokens.digest(secret))
    )
    assert row.last_used_at is not None and row.prefix == secret[:12]
    api_tokens.revoke_token(db.session, Actor(world.officer), row)
    assert_problem(client.get("/api/v1/letters", headers=bearer(secret)), 401, "unauthenticated")

    expiring = token_for(world.officer, expires_at=utcnow() + timedelta(seconds=30))
    assert client.get("/api/v1/letters", headers=bearer(expiring)).status_code == 200
    row = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == api_tokens.digest(expiring))
    )
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert_problem(client.get("/api/v1/letters", headers=bearer(expiring)), 401, "unauthenticated")


def test_a_closed_account_s_personal_token_stops_working(app, world, token_for):
    secret = token_for(world.officer)
    world.officer.active = False
    db.session.commit()
    response = app.test_client().get("/api/v1/letters", headers=bearer(secret))
    assert_problem(response, 401, "unauthenticated")


def test_another_organisation_s_letter_is_not_found(app, world, token_for):
    theirs = register(world.other_officer, subject="Chez les autres")
    mine = register(world.officer)
    client = app.test_client()
    secret = token_for(world.officer)
    assert_problem(
        client.get(f"/api/v1/letters/{theirs.id}", headers=bearer(secret)), 404, "not_found"
    )
    assert_problem(
        client.get(f"/api/v1/letters/{theirs.id}/history", headers=bearer(secret)), 404, "not_found"
    )
    assert client.get(f"/api/v1/letters/{mine.id}", headers=bearer(secret)).status_code == 200
    listed = client.get("/api/v1/letters", headers=bearer(secret)).get_json()
    assert [item["id"] for item in listed["items"]] == [mine.id]
    # And the other organisation's token cannot see ours.
    other = token_for(world.other_officer)
    assert_problem(
        client.get(f"/api/v1/letters/{mine.id}", headers=bearer(other)), 404, "not_found"
    )


def test_confidential_letter_invisible_to_other_officers(app, world, token_for):
    secret_letter = register(world.officer, subject="Dossier disciplinaire", confidential=True)
    client = app.test_client()
    other = token_for(world.officer2)
    response = client.get(f"/api/v1/letters/{secret_letter.id}", headers=bearer(other))
    assert_problem(response, 404, "not_found")
    assert client.get("/api/v1/letters", headers=bearer(other)).get_json()["items"] == []
    own = token_for(world.officer)
    assert client.get(f"/api/v1/letters/{secret_letter.id}", headers=bearer(own)).status_code == 200


def test_a_right_the_user_lacks_is_not_granted_by_a_scope(app, world, token_for):
    from tests.api.conftest import letter_body

    client = app.test_client()
    agent = token_for(
        world.agent
    )  # every scope, but an agent may not register nor read the register
    response = client.post("/api/v1/letters", data=letter_body(), headers=bearer(agent))
    assert_problem(response, 403, "forbidden")
    assert_problem(client.get("/api/v1/letters", headers=bearer(agent)), 403, "forbidden")


def test_a_missing_scope_is_refused(app, world, token_for):
    from tests.api.conftest import letter_body

    letter = register(world.officer)
    client = app.test_client()
    reader = token_for(world.officer, scopes=["letters:read"])
    assert client.get(f"/api/v1/letters/{letter.id}", headers=bearer(reader)).status_code == 200
    body = assert_problem(
        client.post("/api/v1/letters", data=letter_body(), headers=bearer(reader)),
        403,
        "scope_missing",
    )
    assert "letters:write" in body["detail"]
    assert_problem(client.get("/api/v1/search?q=x", headers=bearer(reader)), 403, "scope_missing")


def test_errors_are_problems_translated_by_accept_language(app, world, token_for):
    client = app.test_client()
    secret = token_for(world.officer)
    assert_problem(client.get("/api/v1/no-such-thing", headers=bearer(secret)), 404, "not_found")
    response = client.put("/api/v1/letters", headers=bearer(secret))
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    body = assert_problem(
        client.get("/api/v1/letters?limit=0", headers=bearer(secret)), 422, "validation_failed"
    )
    assert "limit" in body["errors"]["query"]
    assert_problem(
        client.get("/api/v1/letters?cursor=!!!", headers=bearer(secret)), 400, "invalid_cursor"
    )
    broken = {"data": "{not json", "content_type": "application/json"}
    french = client.post(
        "/api/v1/letters/1/notes", headers=bearer(secret, **{"Accept-Language": "fr"}), **broken
    )
    english = client.post(
        "/api/v1/letters/1/notes", headers=bearer(secret, **{"Accept-Language": "en"}), **broken
    )
    assert_problem(french, 400, "bad_request")
    assert english.get_json()["title"] == "The request could not be understood."
    assert french.get_json()["title"] != english.get_json()["title"]
    # The pages keep their HTML error pages.
    assert client.get("/no-such-page").mimetype == "text/html"


def test_body_too_large_is_a_problem(app, world, token_for):
    import io

    app.config["MAX_CONTENT_LENGTH"] = 1024
    secret = token_for(world.officer)
    data = {"metadata": "{}", "files": (io.BytesIO(b"x" * 4096), "big.pdf")}
    response = app.test_client().post("/api/v1/letters", data=data, headers=bearer(secret))
    assert_problem(response, 413, "payload_too_large")


def test_personal_tokens_page_creates_shows_once_and_revokes(app, world, client_for):
    from tests.conftest import csrf_token

    client = client_for("officer")
    token = csrf_token(client, "/account/api-tokens")
    page = client.post(
        "/account/api-tokens",
        data={"csrf_token": token, "name": "Scanner", "scopes": ["letters:read", "letters:write"]},
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == world.officer.id))
    secret = html.split('class="token-value">')[1].split("<")[0]
    assert api_tokens.digest(secret) == row.token_hash and row.scopes == [
        "letters:read",
        "letters:write",
    ]
    assert secret not in client.get("/account/api-tokens").get_data(as_text=True)  # shown once
    assert app.test_client().get("/api/v1/letters", headers=bearer(secret)).status_code == 200
    # Without the CSRF token nothing is created.
    assert (
        client.post("/account/api-tokens", data={"name": "x", "scopes": ["search"]}).status_code
        == 400
    )
    revoked = client.post(f"/account/api-tokens/{row.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 302
    assert_problem(
        app.test_client().get("/api/v1/letters", headers=bearer(secret)), 401, "unauthenticated"
    )
    actions = [
        e.action
        for e in db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "api_token"))
    ]
    assert actions == ["api_token.created", "api_token.revoked"]
    # Another user cannot revoke it (nor learn it exists).
    other = client_for("officer.two")
    other_token = csrf_token(other, "/account/api-tokens")
    assert (
        other.post(
            f"/account/api-tokens/{row.id}/revoke", data={"csrf_token": other_token}
        ).status_code
        == 404
    )


def test_service_accounts_are_for_administrators(app, world, client_for):
    from tests.conftest import csrf_token

    officer = client_for("officer")
    assert officer.get("/admin/api-clients").status_code == 403
    admin = client_for("admin")
    token = csrf_token(admin, "/admin/api-clients")
    created = admin.post(
        "/admin/api-clients",
        data={"csrf_token": token, "name": "Portail national", "roles": ["registry_officer"]},
    )
    assert created.status_code == 302
    (account,) = api_tokens.service_accounts(db.session, world.org.id)
    assert not account.active and account.has_role("registry_officer")
    # It cannot sign in.
    assert login(app.test_client(), account.username).status_code == 401
    page = admin.post(
        f"/admin/api-clients/{account.id}/tokens",
        data={"csrf_token": token, "name": "prod", "scopes": ["portal", "letters:read"]},
    )
    assert page.status_code == 200
    secret = page.get_data(as_text=True).split('class="token-value">')[1].split("<")[0]
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == account.id))
    assert row.kind == "service" and row.created_by_id == world.admin.id
    assert app.test_client().get("/api/v1/inboxes", headers=bearer(secret)).status_code == 200


def test_rate_limit_counts_per_token(app, world, token_for):
    app.config["API_RATE_LIMIT"] = "2 per minute"
    client = app.test_client()
    busy, other = token_for(world.officer), token_for(world.officer2)
    assert [client.get("/api/v1/inboxes", headers=bearer(busy)).status_code for _ in range(2)] == [
        200,
        200,
    ]
    assert_problem(client.get("/api/v1/inboxes", headers=bearer(busy)), 429, "rate_limited")
    assert client.get("/api/v1/inboxes", headers=bearer(other)).status_code == 200


def test_the_document_and_its_browsable_page_need_no_token(app, world):
    from app.blueprints.api.problems import CODES

    client = app.test_client()
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    spec = document.get_json()
    assert spec["openapi"].startswith("3.")
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # the path's own parameters
                continue
            assert operation["responses"]["401"] == {"$ref": "#/components/responses/Problem"}
            if path != "/api/v1/portal/track":
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
    assert set(spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]) == set(CODES)
    page = client.get("/api/v1/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<script" not in html and "style=" not in html
    assert "POST /api/v1/letters" in html and "idempotency_key_reused" in html
