"""The schema only changes by migrations: a registry created by the first one, with letters in it,
upgrades to the newest and keeps every row; the newest matches the models."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app.extensions import db
from app.models import Letter, Organisation
from app.services import audit
from tests.conftest import make_app

FIRST = "0001"


def _fill_first_schema() -> None:
    """Rows written with plain SQL, as the first revision's schema had them."""
    statements = [
        "INSERT INTO organisations (id, code, name_ar, name_fr, name_en, timezone, number_format,"
        " created_at) VALUES (1, 'old', 'وزارة', 'Ministère', '', 'Africa/Casablanca', '',"
        " '2026-01-02 09:00:00')",
        "INSERT INTO users (id, organisation_id, username, full_name, email, password_hash, locale,"
        " active, created_at) VALUES (1, 1, 'bo', 'BO', '', 'x', '', true, '2026-01-02 09:00:00')",
        "INSERT INTO contacts (id, organisation_id, kind, name, national_id, email, phone, address,"
        " created_at) VALUES (1, 1, 'person', 'Amina', 'AB1', '', '', '', '2026-01-02 09:00:00')",
        "INSERT INTO letters (id, organisation_id, register, year, seq, number, registered_at,"
        " registered_by_id, subject, sender_reference, channel, priority, confidential, language,"
        " physical_attachments, correspondent_id, status, cancelled_reason) VALUES (1, 1,"
        " 'incoming', 2026, 1, '2026/A/000001', '2026-01-02 09:30:00', 1, 'طلب', '', 'post',"
        " 'normal', false, 'ar', 0, 1, 'registered', '')",
        "INSERT INTO registry_counters (organisation_id, register, year, last_value)"
        " VALUES (1, 'incoming', 2026, 1)",
    ]
    for statement in statements:
        db.session.execute(text(statement))
    db.session.commit()


def _upgrade_with_data(application) -> None:
    with application.app_context():
        upgrade(revision=FIRST)
        _fill_first_schema()
        db.session.remove()
        upgrade()
        letter = db.session.get(Letter, 1)
        assert letter.number == "2026/A/000001" and letter.subject == "طلب"
        assert letter.extensions == 0 and letter.clock_pauses == [] and letter.due_on is None
        assert db.session.get(Organisation, 1).country == "MA"
        db.session.remove()  # release the read locks: the schema change below needs the tables
        # and the round trip back down and up again works
        downgrade(revision=FIRST)
        upgrade()
        assert db.session.get(Letter, 1).number == "2026/A/000001"
        db.session.remove()
        db.engine.dispose()


@pytest.mark.sqlite(reason="upgrades an SQLite file; its twin upgrades PostgreSQL")
def test_first_schema_with_letters_upgrades_to_the_newest_on_sqlite(tmp_path):
    _upgrade_with_data(make_app(tmp_path / "instance"))


@pytest.mark.postgres
def test_first_schema_with_letters_upgrades_to_the_newest_on_postgresql(tmp_path):
    import os
    import uuid

    import psycopg

    url = os.environ.get("DIWAN_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL tests need DIWAN_TEST_DATABASE_URL")
    admin_url = url.replace("postgresql+psycopg://", "postgresql://")
    name = f"diwan_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        _upgrade_with_data(make_app(tmp_path / "instance", DATABASE_URL=f"{base}/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_models_and_migrations_agree(app):
    """No change of the models may ship without its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_audit_chain_survives_the_upgrade(app, world):
    assert audit.verify_chain(db.session, world.org.id).ok
