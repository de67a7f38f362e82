"""An administration that installed the first release upgrades to this one: a database made by
the first migration, with data written at that schema, is migrated to the newest revision; the
data is intact, the new columns have their defaults, the audit chain still verifies, and the new
code works on it (pages, numbering, search, dashboards)."""

from __future__ import annotations

import io
import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import g
from flask_migrate import upgrade
from sqlalchemy import text
from werkzeug.security import generate_password_hash
from werkzeug.test import EnvironBuilder

from app import worker
from app.extensions import db
from app.files.store import FileStore
from app.models import AuditEvent
from app.services.audit import GENESIS, event_hash
from tests.conftest import PASSWORD, csrf_token, login, make_app
from tests.helpers import blank_pdf, letter_form

CREATED = datetime(2026, 1, 5, 9, 30, 15, 123456)
YEAR = datetime.now(ZoneInfo("Africa/Casablanca")).year  # numbering follows the current year
NUMBER = f"{YEAR}/A/000001"
FORMAT = "{year}/{register}/{seq:06d}"


def _insert(connection, table: str, columns: str, *rows: tuple) -> None:
    names = columns.split()
    statement = text(
        f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608 - the test's own names
        f"VALUES ({', '.join(':' + name for name in names)})"
    )
    for row in rows:
        connection.execute(statement, dict(zip(names, row, strict=True)))


EVENT_COLUMNS = (
    "organisation_id seq occurred_at actor_id actor_name remote_addr action object_type "
    "object_id letter_id data prev_hash hash"
)


def _event(seq: int, prev_hash: str, **fields) -> tuple:
    """An audit event as the first release wrote it, hashed as the chain requires (the hash
    is the tuple's last value)."""
    event = AuditEvent(
        organisation_id=1,
        seq=seq,
        occurred_at=CREATED,
        actor_id=1,
        actor_name="Registry Officer",
        remote_addr="192.0.2.10",
        object_id=fields.get("object_id"),
        letter_id=fields.get("letter_id"),
        action=fields["action"],
        object_type=fields["object_type"],
        data=fields.get("data", {}),
        prev_hash=prev_hash,
    )
    event.hash = event_hash(event)
    values = [getattr(event, column) for column in EVENT_COLUMNS.split()]
    values[EVENT_COLUMNS.split().index("data")] = json.dumps(event.data)
    return tuple(values)


def _seed_first_release(connection, pdf_sha: str, pdf_size: int) -> None:
    """One organisation, two users, a letter with its document, and the audit trail, written
    with plain SQL at revision 0001's schema (the models describe today's)."""
    _insert(
        connection,
        "organisations",
        "id code name_ar name_fr name_en timezone number_format created_at",
        (1, "mtn", "وزارة", "Ministère", "Ministry", "Africa/Casablanca", FORMAT, CREATED),
    )
    _insert(
        connection,
        "departments",
        "id organisation_id parent_id code name_ar name_fr active",
        (1, 1, None, "BO", "مكتب الضبط", "Bureau d'ordre", True),
    )
    _insert(
        connection,
        "letter_types",
        "id organisation_id code name_ar name_fr name_en active",
        (1, 1, "COURRIER", "مراسلة", "Courrier", "Letter", True),
    )
    password = generate_password_hash(PASSWORD)
    _insert(
        connection,
        "users",
        "id organisation_id department_id username full_name email password_hash locale active "
        "created_at",
        (1, 1, 1, "officer", "Registry Officer", "o@example.org", password, "en", True, CREATED),
        (2, 1, 1, "admin", "Admin Istrator", "a@example.org", password, "en", True, CREATED),
    )
    _insert(connection, "user_roles", "user_id role", (1, "registry_officer"), (2, "administrator"))
    _insert(
        connection,
        "contacts",
        "id organisation_id kind name national_id email phone address created_at",
        (1, 1, "person", "Amina Berrada", "", "", "", "", CREATED),
    )
    _insert(
        connection,
        "registry_counters",
        "organisation_id register year last_value",
        (1, "incoming", YEAR, 1),
    )
    _insert(
        connection,
        "letters",
        "id organisation_id register year seq number registered_at registered_by_id subject "
        "sender_reference letter_date received_on channel letter_type_id priority confidential "
        "language physical_attachments correspondent_id status cancelled_reason cancelled_at",
        (1, 1, "incoming", YEAR, 1, NUMBER, CREATED, 1, "Demande de bourse universitaire",
         "REF-1", None, CREATED.date(), "post", 1, "normal", False,
         "fr", 0, 1, "registered", "", None),
    )  # fmt: skip
    _insert(
        connection,
        "documents",
        "id organisation_id letter_id position title created_at",
        (1, 1, 1, 1, "scan.pdf", CREATED),
    )
    _insert(
        connection,
        "document_versions",
        "id organisation_id document_id version original_sha256 media_type size pdf_sha256 "
        "page_count flags created_at created_by_id",
        (1, 1, 1, 1, pdf_sha, "application/pdf", pdf_size, pdf_sha, 1, "", CREATED, 1),
    )
    first = _event(1, GENESIS, action="user.created", object_type="user", object_id=2)
    second = _event(
        2,
        first[-1],
        action="letter.registered",
        object_type="letter",
        object_id=1,
        letter_id=1,
        data={"number": NUMBER},
    )
    _insert(connection, "audit_events", EVENT_COLUMNS, first, second)
    _insert(
        connection,
        "audit_heads",
        "organisation_id last_seq last_hash",
        (1, 2, second[-1]),
    )
    if connection.dialect.name == "postgresql":  # the first release's inserts moved these on
        for table in SERIAL_TABLES:  # the test's own table names
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            connection.execute(text(f"SELECT setval({sequence}, max(id)) FROM {table}"))  # noqa: S608


SERIAL_TABLES = (
    "organisations",
    "departments",
    "letter_types",
    "users",
    "contacts",
    "letters",
    "documents",
    "document_versions",
    "audit_events",
)


def _upgrade_and_check(app) -> None:
    pdf = blank_pdf()
    sha = FileStore(Path(app.config["FILE_STORE"])).put_bytes(pdf)
    with app.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as connection:
            _seed_first_release(connection, sha, len(pdf))
        upgrade()  # to the newest revision

        # the data is intact, the new columns have their defaults
        row = db.session.execute(
            text(
                "SELECT l.number, l.subject, l.extensions, l.outcome, l.due_on, d.kind, "
                "o.country, o.publish_transparency, u.show_hijri, u.failed_logins "
                "FROM letters l JOIN documents d ON d.letter_id = l.id "
                "JOIN organisations o ON o.id = l.organisation_id "
                "JOIN users u ON u.id = l.registered_by_id"
            )
        ).one()
        assert tuple(row) == (
            NUMBER,
            "Demande de bourse universitaire",
            0,
            "",
            None,
            "received",
            "MA",
            False,
            False,
            0,
        )
        version = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == _head(app)
        facts = db.session.scalar(text("SELECT count(*) FROM letter_facts"))
        assert facts == 1  # the dashboards' facts of letters from before them
        db.session.commit()

        result = app.test_cli_runner().invoke(args=["verify-audit"])
        assert result.exit_code == 0, result.output
        # The letter from before search existed has no outbox row: the worker's first round finds
        # the new index incomplete and rebuilds it (checked below with the search page).

        @app.teardown_request
        def _fresh_g(_exc):  # requests reuse this app context (as the `app` fixture does)
            g.__dict__.clear()

        client = app.test_client()
        assert login(client, "officer").status_code == 302
        page = client.get("/letters/1")
        assert page.status_code == 200
        assert NUMBER in page.get_data(as_text=True)
        assert client.get("/letters/1/documents/1/v1/original").data == pdf

        # the new code works on the old data: numbering continues, search finds both letters
        url = "/registry/incoming/new"
        data = letter_form(subject="Deuxième demande de bourse", csrf_token=csrf_token(client, url))
        data["documents"] = [(io.BytesIO(pdf), "scan.pdf")]
        builder = EnvironBuilder(path=url, method="POST", data=data)
        try:
            assert client.open(builder).status_code == 302
        finally:
            builder.close()
        numbers = db.session.scalars(text("SELECT number FROM letters ORDER BY id")).all()
        assert numbers == [NUMBER, f"{YEAR}/A/000002"]
        worker.run_once(app, check_deadlines=False)
        db.session.commit()
        found = client.get("/search?q=bourse").get_data(as_text=True)
        assert NUMBER in found and f"{YEAR}/A/000002" in found
        _close_search_backends(app)
        result = app.test_cli_runner().invoke(args=["verify-audit"])
        assert result.exit_code == 0, result.output
        db.session.remove()
        db.engine.dispose()


def _close_search_backends(app) -> None:
    """The search page keeps its index open for the process; this instance's goes with it."""
    from app.blueprints.search import _backends, _lock

    with _lock:
        for key in [key for key in _backends if app.config["INDEX_DIR"] in key]:
            _backends.pop(key).close()


def _head(app) -> str:
    from app.services.health import _migrations_head

    return _migrations_head()


@pytest.mark.sqlite(reason="upgrades an SQLite file; its twin upgrades PostgreSQL")
def test_upgrade_from_the_first_release_on_sqlite(tmp_path):
    _upgrade_and_check(make_app(tmp_path / "instance"))


@pytest.mark.postgres
def test_upgrade_from_the_first_release_on_postgresql(tmp_path):
    import psycopg

    url = os.environ.get("DIWAN_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL tests need DIWAN_TEST_DATABASE_URL")
    admin_url = url.replace("postgresql+psycopg://", "postgresql://")
    name = f"diwan_upgrade_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        _upgrade_and_check(make_app(tmp_path / "instance", DATABASE_URL=f"{base}/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
