"""Shared fixtures: a migrated database per test (copied from one migrated template), factories
that go through the services so business rules hold in test data, and signed-in clients."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from app.models import Organisation, Role, User
from app.services import organisations as orgs

PASSWORD = "correct horse battery staple"

_CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def make_app(instance: Path, **overrides) -> Flask:
    settings = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-key",
        "PARSE_TIMEOUT_S": 10,
        "DEFAULT_LOCALE": "en",  # tests assert on the English source texts unless they switch
        "TESTING": True,
        **overrides,
    }
    return create_app(settings)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """Run the migrations once; each test starts from a copy of the result."""
    from flask_migrate import upgrade

    instance = tmp_path_factory.mktemp("template")
    app = make_app(instance)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return instance / "diwan.sqlite3"


@pytest.fixture
def app(tmp_path, migrated_template) -> Flask:
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(migrated_template, instance / "diwan.sqlite3")
    application = make_app(instance)

    # Requests reuse the app context this fixture pushes (so tests can use db.session), and with
    # it flask.g (signed-in user, CSRF token): empty g after each request, as a fresh context would.
    @application.teardown_request
    def _fresh_g(_exc):
        g.__dict__.clear()

    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@dataclass
class World:
    """Two organisations, so every test can check nothing crosses between them."""

    org: Organisation
    other_org: Organisation
    officer: User
    officer2: User
    admin: User
    agent: User
    other_officer: User


def _user(organisation, username, roles) -> User:
    return orgs.create_user(
        db.session,
        None,
        organisation,
        username=username,
        full_name=username.replace(".", " ").title(),
        password=PASSWORD,
        roles=roles,
    )


@pytest.fixture
def world(app) -> World:
    org = orgs.create_organisation(
        db.session, None, code="mtn", name_ar="وزارة", name_fr="Ministère"
    )
    other = orgs.create_organisation(
        db.session, None, code="other", name_ar="ولاية", name_fr="Wilaya"
    )
    for organisation in (org, other):
        orgs.create_letter_type(
            db.session, None, organisation, code="COURRIER", name_ar="مراسلة", name_fr="Courrier"
        )
    return World(
        org=org,
        other_org=other,
        officer=_user(org, "officer", [Role.REGISTRY_OFFICER]),
        officer2=_user(org, "officer.two", [Role.REGISTRY_OFFICER]),
        admin=_user(org, "admin", [Role.ADMINISTRATOR]),
        agent=_user(org, "agent", [Role.AGENT]),
        other_officer=_user(other, "other.officer", [Role.REGISTRY_OFFICER]),
    )


def csrf_token(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, f"no CSRF token on {url}: {page[:3000]}"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, username: str, password: str = PASSWORD):
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


@pytest.fixture
def client_for(app):
    """client_for("officer") -> a test client signed in as that user."""

    def make(username: str) -> FlaskClient:
        client = app.test_client()
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def pg_app(tmp_path):
    """The app on a fresh PostgreSQL database (created and dropped around the test)."""
    import os
    import uuid

    import psycopg
    from flask_migrate import upgrade

    url = os.environ.get("DIWAN_TEST_DATABASE_URL")
    if not url:
        pytest.skip(
            "PostgreSQL tests need DIWAN_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    admin_url = url.replace("postgresql+psycopg://", "postgresql://")
    name = f"diwan_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    instance = tmp_path / "instance"
    application = make_app(instance, DATABASE_URL=f"{base}/{name}")

    @application.teardown_request
    def _fresh_g(_exc):  # as in the `app` fixture
        g.__dict__.clear()

    try:
        with application.app_context():
            upgrade()
            yield application
            db.session.remove()
            db.engine.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API leaves an event loop running in the main thread
    for the rest of the session, where code that calls asyncio.run (pyHanko's synchronous API in
    the signing tests) could no longer run."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
