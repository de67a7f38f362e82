"""The API's test helpers: tokens made through the service, requests with a bearer header, and
the problem+json shape every error must have."""

from __future__ import annotations

import io
import json

import pytest

from app.extensions import db
from app.services import api_tokens
from app.services.actor import Actor
from tests.helpers import blank_pdf
from tests.portal.conftest import _fresh_key_cache, portal_world  # noqa: F401 - fixtures

ALL_SCOPES = list(api_tokens.SCOPES)


@pytest.fixture(autouse=True)
def _close_search_backends():
    """The search views keep one open index per process; each test's index goes with its app."""
    yield
    from app.blueprints import search as search_blueprint

    for backend in search_blueprint._backends.values():
        backend.close()
    search_blueprint._backends.clear()


@pytest.fixture
def token_for():
    """token_for(user, scopes=...) -> the plain token of a new personal token of that user."""

    def make(user, scopes=None, **kwargs) -> str:
        _row, secret = api_tokens.create_token(
            db.session,
            Actor(user),
            user=user,
            name="test token",
            scopes=scopes or ALL_SCOPES,
            **kwargs,
        )
        return secret

    return make


def bearer(secret: str, **headers) -> dict:
    return {"Authorization": f"Bearer {secret}", **headers}


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert {"type", "title", "status", "detail", "code", "instance"} <= set(body)
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith("/" + code)
    return body


def metadata(**overrides) -> str:
    values = {
        "register": "incoming",
        "subject": "Demande d'autorisation",
        "channel": "post",
        "new_correspondent": {"name": "Karim Alaoui"},
    }
    values.update(overrides)
    return json.dumps(values)


def letter_body(pdf: bytes | None = None, **overrides) -> dict:
    return {
        "metadata": metadata(**overrides),
        "files": (io.BytesIO(pdf or blank_pdf()), "scan.pdf", "application/pdf"),
    }
