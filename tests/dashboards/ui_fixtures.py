"""Fixtures for the dashboard page tests: the data set of ui_dataset.py, built once per test module
through the services and the worker, then copied (database and files) for each test; and small
readers of the pages."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from flask import g

from app.extensions import db
from app.services import pki
from tests.conftest import ON_POSTGRESQL, World, csrf_token, make_app
from tests.dashboards.ui_dataset import Dataset, build, make_world, reload_world, signed_in

NBSP = "\u00a0"


@pytest.fixture(scope="module")
def built(tmp_path_factory, request) -> tuple[Path, Dataset, str]:
    """The data set, built once through the services and the worker; each test gets a copy.
    Its database: an SQLite file in the instance folder, or a PostgreSQL database of this run
    (the template of each test's copy) when the suite runs on PostgreSQL."""
    instance = tmp_path_factory.mktemp("dashboards") / "instance"
    instance.mkdir()
    if ON_POSTGRESQL:
        databases = request.getfixturevalue("postgres_databases")
        database = databases.create()
        request.addfinalizer(lambda: databases.drop(database))
        url = databases.url(database)
    else:
        database = ""
        shutil.copy(request.getfixturevalue("migrated_template"), instance / "diwan.sqlite3")
        url = f"sqlite:///{instance / 'diwan.sqlite3'}"
    application = make_app(instance, DATABASE_URL=url)

    @application.teardown_request
    def _fresh_g(_exc):
        g.__dict__.clear()

    with pytest.MonkeyPatch.context() as patch, application.app_context():
        patch.setattr(pki, "_opened", {})
        dataset = build(application, make_world(), signed_in(application))
        db.session.remove()
        db.engine.dispose()  # no connection left: on PostgreSQL it is copied as a template
    return instance, dataset, database


@pytest.fixture
def app(tmp_path, built, request):
    """This module's app: a copy of the built data set (database and files)."""
    instance = tmp_path / "instance"
    shutil.copytree(built[0], instance)
    if ON_POSTGRESQL:
        url = request.getfixturevalue("new_postgres_database")(template=built[2])
    else:
        url = f"sqlite:///{instance / 'diwan.sqlite3'}"
    application = make_app(instance, DATABASE_URL=url)

    @application.teardown_request
    def _fresh_g(_exc):
        g.__dict__.clear()

    with pytest.MonkeyPatch.context() as patch, application.app_context():
        patch.setattr(pki, "_opened", {})
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def world(app) -> World:
    return reload_world()


@pytest.fixture
def data(built) -> Dataset:
    return built[1]


def speaking(client, language: str):
    """The language switch in the top bar (saved on the signed-in user)."""
    token = csrf_token(client, "/dashboard")
    client.post("/locale", data={"locale": language, "csrf_token": token, "next": "/dashboard"})
    return client


def values(page: str) -> dict[str, str]:
    """Every data-value hook of a page (the first one of each name)."""
    found: dict[str, str] = {}
    for name, text in re.findall(r'data-value="([a-z_0-9]+)">([^<]*)<', page):
        found.setdefault(name, text.strip())
    return found
