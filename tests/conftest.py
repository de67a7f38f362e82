"""Shared fixtures: a migrated database per test (copied from one migrated template), factories
that go through the services so business rules hold in test data, and signed-in clients.

The suite runs on SQLite (each test copies a migrated SQLite file) or, with
DIWAN_TEST_ENGINE=postgresql (`make test-postgresql`), on PostgreSQL: each test gets its own
database, created from one migrated template database at DIWAN_TEST_DATABASE_URL's server."""

from __future__ import annotations

import itertools
import os
import queue
import re
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.pool import Pool
from werkzeug.serving import make_server

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


ENGINES = ("sqlite", "postgresql")


def suite_engine() -> str:
    """The engine the suite runs on: DIWAN_TEST_ENGINE, SQLite unless told otherwise."""
    return os.environ.get("DIWAN_TEST_ENGINE", "").strip().lower() or "sqlite"


ON_POSTGRESQL = suite_engine() == "postgresql"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "sqlite(reason): about SQLite itself, or the SQLite twin of a PostgreSQL test; "
        "skipped when the whole suite runs on PostgreSQL",
    )
    if suite_engine() not in ENGINES:
        raise pytest.UsageError(
            f"DIWAN_TEST_ENGINE={suite_engine()!r}: use one of {', '.join(ENGINES)}"
        )
    if ON_POSTGRESQL and not os.environ.get("DIWAN_TEST_DATABASE_URL"):
        raise pytest.UsageError(
            "DIWAN_TEST_ENGINE=postgresql needs DIWAN_TEST_DATABASE_URL "
            "(e.g. postgresql://postgres@127.0.0.1:5432/test): its server holds the test databases"
        )


def pytest_report_header(config):
    return f"database engine: {suite_engine()}"


CREATE, DROP, STOP = 0, 1, 2  # the chores of PostgresDatabases' thread, most urgent first


class PostgresDatabases:
    """Fresh PostgreSQL databases, each a copy of one migrated template database.

    CREATE DATABASE … TEMPLATE with PostgreSQL 15's default strategy (WAL_LOG): 42 ms for the
    10 MB template on an idle machine, against 88 ms with STRATEGY FILE_COPY (two checkpoints)
    and 120 ms to TRUNCATE the 46 tables of one kept database instead; 200-400 ms while the
    machine is busy. So a thread of its own makes the next databases while a test runs, and
    drops the used ones DROPS at a time, after any creation a test waits for: each DROP
    DATABASE makes PostgreSQL 15 checkpoint (0.1-0.9 s), which dropped one per test left
    tests waiting 8-19 s per 83 databases instead of 1-2 s. Names carry a per-run id, so
    parallel runs on one server never meet."""

    AHEAD = 2  # databases made in advance
    DROPS = 20  # used databases dropped together (about 10 MB each meanwhile)
    last: ClassVar[PostgresDatabases | None] = None  # this run's, for the summary line

    def __init__(self, url: str) -> None:
        import psycopg

        self.admin_url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.base = self.admin_url.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
        self.run = uuid.uuid4().hex[:10]
        self.template: str | None = None
        self._numbers = itertools.count(1)
        self._admin = psycopg.connect(self.admin_url, autocommit=True)
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        # (priority, order, name): creations (0) first, a test may be waiting; then drops (1);
        # then the end (2).
        self._chores: queue.PriorityQueue[tuple[int, int, str]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._maker: threading.Thread | None = None
        self._used: list[str] = []
        self.created = 0
        self.seconds_creating = self.seconds_dropping = self.seconds_waiting = 0.0
        PostgresDatabases.last = self  # for the run's summary line

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def migrate_template(self, instance: Path) -> None:
        from flask_migrate import upgrade

        name = f"diwan_tpl_{self.run}"
        self._admin.execute(f'CREATE DATABASE "{name}"')
        self.template = name
        application = make_app(instance, DATABASE_URL=self.url(name))
        with application.app_context():
            upgrade()
            db.engine.dispose()  # a template must have no connection when it is copied
        self._maker = threading.Thread(target=self._make, name="test-databases", daemon=True)
        self._maker.start()
        for _ in range(self.AHEAD):
            self._chore(CREATE)

    def _make(self) -> None:
        """The thread, on its own connection: creations first, then drops, then the end."""
        import psycopg

        try:
            connection = psycopg.connect(self.admin_url, autocommit=True)
        except BaseException as error:  # handed to the test that waits for a database
            self._ready.put(error)
            return
        with connection:
            while (chore := self._chores.get())[0] != STOP:
                kind, _order, name = chore
                try:
                    if kind == CREATE:
                        self._ready.put(self._copy(connection, self.template))
                    else:
                        self._drop(connection, name)
                except BaseException as error:
                    self._ready.put(error)

    def _copy(self, connection, template: str) -> str:
        name = f"diwan_t_{self.run}_{next(self._numbers)}"
        started = time.perf_counter()
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.seconds_creating += time.perf_counter() - started
        self.created += 1
        return name

    def _drop(self, connection, name: str) -> None:
        started = time.perf_counter()
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.seconds_dropping += time.perf_counter() - started

    def create(self, template: str | None = None) -> str:
        """A new database copied from the migrated template (one made in advance), or from
        another of this run's databases that no connection uses any more; its name."""
        assert self.template, "the template is migrated first"
        if template is not None:
            return self._copy(self._admin, template)
        started = time.perf_counter()
        ready = self._ready.get(timeout=300)
        self.seconds_waiting += time.perf_counter() - started
        self._chore(CREATE)
        if isinstance(ready, BaseException):
            raise ready
        return ready

    def drop(self, name: str) -> None:
        """Dropped by the thread with the next ones (nothing uses it any more)."""
        self._used.append(name)
        if len(self._used) >= self.DROPS:
            self._drop_used()

    def _drop_used(self) -> None:
        for name in self._used:
            self._chore(DROP, name)
        self._used.clear()

    def _chore(self, kind: int, name: str = "") -> None:
        self._chores.put((kind, next(self._order), name))

    def close(self) -> None:
        self._drop_used()
        if self._maker is not None:
            self._chore(STOP)
            self._maker.join(timeout=300)
            while not self._ready.empty():
                ready = self._ready.get()
                if isinstance(ready, str):
                    self._drop(self._admin, ready)
        if self.template:
            self._drop(self._admin, self.template)
        self._admin.close()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """Run the migrations once on SQLite; each SQLite test starts from a copy of the result."""
    from flask_migrate import upgrade

    instance = tmp_path_factory.mktemp("template")
    app = make_app(instance)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return instance / "diwan.sqlite3"


@pytest.fixture(scope="session")
def postgres_databases(tmp_path_factory) -> Iterator[PostgresDatabases]:
    """The migrated PostgreSQL template of this run (skips without DIWAN_TEST_DATABASE_URL)."""
    url = os.environ.get("DIWAN_TEST_DATABASE_URL")
    if not url:
        pytest.skip(
            "PostgreSQL tests need DIWAN_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    databases = PostgresDatabases(url)
    try:
        databases.migrate_template(tmp_path_factory.mktemp("pg-template"))
        yield databases
    finally:
        databases.close()


@pytest.fixture
def new_postgres_database(postgres_databases) -> Iterator[Callable[..., str]]:
    """new_postgres_database(template=None) -> the URL of a new migrated PostgreSQL database,
    dropped after the test.

    Connections the test left open (in the pool of an app it made and never disposed) are closed
    first: dropped WITH (FORCE) under them, they would be garbage-collected later, in whichever
    test runs then, as a ResourceWarning that fails that test."""
    import psycopg

    names: list[str] = []
    opened: weakref.WeakSet = weakref.WeakSet()

    def track(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, psycopg.Connection):
            opened.add(dbapi_connection)

    def make(template: str | None = None) -> str:
        names.append(postgres_databases.create(template))
        return postgres_databases.url(names[-1])

    event.listen(Pool, "connect", track)
    try:
        yield make
    finally:
        event.remove(Pool, "connect", track)
        for connection in list(opened):
            if not connection.closed:
                connection.close()
        for name in names:
            postgres_databases.drop(name)


@pytest.fixture
def new_database(request) -> Callable[..., str]:
    """new_database(instance, empty=False) -> the DATABASE_URL of a new database for that
    instance folder, on the engine the suite runs on: migrated (a copy of the SQLite template in
    the folder, or a new PostgreSQL database from the migrated one), or empty."""
    if ON_POSTGRESQL:
        make_postgres = request.getfixturevalue("new_postgres_database")

        def make(instance: Path, empty: bool = False) -> str:
            instance.mkdir(parents=True, exist_ok=True)
            return make_postgres(template="template0" if empty else None)

    else:

        def make(instance: Path, empty: bool = False) -> str:
            instance.mkdir(parents=True, exist_ok=True)
            if not empty:
                template = request.getfixturevalue("migrated_template")
                shutil.copy(template, instance / "diwan.sqlite3")
            return f"sqlite:///{instance / 'diwan.sqlite3'}"

    return make


def _serve_test(application: Flask) -> Iterator[Flask]:
    # Requests reuse the app context the fixture pushes (so tests can use db.session), and with
    # it flask.g (signed-in user, CSRF token): empty g after each request, as a fresh context would.
    @application.teardown_request
    def _fresh_g(_exc):
        g.__dict__.clear()

    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(tmp_path, new_database) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    yield from _serve_test(make_app(instance, DATABASE_URL=new_database(instance)))


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
def pg_app(tmp_path, new_postgres_database) -> Iterator[Flask]:
    """The app on a new PostgreSQL database, whatever engine the rest of the suite runs on (a
    module may give `app` a data set of its own; `pg_app` always starts empty)."""
    instance = tmp_path / "pg-instance"
    yield from _serve_test(make_app(instance, DATABASE_URL=new_postgres_database()))


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API leaves an event loop running in the main thread
    for the rest of the session, where code that calls asyncio.run (pyHanko's synchronous API in
    the signing tests) could no longer run."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    if ON_POSTGRESQL:
        for item in items:
            marker = item.get_closest_marker("sqlite")
            if marker is not None:
                reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
                item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


def pytest_terminal_summary(terminalreporter):
    """What making the per-test PostgreSQL databases cost (where a slow run starts looking)."""
    databases = PostgresDatabases.last
    if databases is not None and databases.created:
        created, dropped = databases.seconds_creating, databases.seconds_dropping
        terminalreporter.write_line(
            f"PostgreSQL: {databases.created} test databases created in {created:.1f} s "
            f"({1000 * created / databases.created:.0f} ms each) and dropped in {dropped:.1f} s, "
            f"mostly while tests ran; tests waited {databases.seconds_waiting:.1f} s for them"
        )


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The test's app served by werkzeug on a free local port, in a thread (for a browser, or
    for the app calling its own URLs)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
