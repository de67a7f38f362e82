"""The suite's engine switch (DIWAN_TEST_ENGINE): every test gets a migrated database of its own,
on SQLite or on PostgreSQL, and nothing one test writes reaches another."""

from __future__ import annotations

from sqlalchemy import func, inspect, select

from app.extensions import db
from app.models import Organisation
from app.services import organisations as orgs
from tests.conftest import make_app, suite_engine


def test_the_app_runs_on_the_engine_the_suite_was_told(app):
    assert db.engine.dialect.name == suite_engine()
    assert app.config["DATABASE_URL"].startswith(suite_engine())


def _organisations() -> int:
    return db.session.scalar(select(func.count(Organisation.id)))


def test_each_database_is_migrated_and_its_own(app, new_database, tmp_path):
    orgs.create_organisation(db.session, None, code="mtn", name_ar="وزارة", name_fr="Ministère")
    instance = tmp_path / "other"
    other = make_app(instance, DATABASE_URL=new_database(instance))
    assert other.config["DATABASE_URL"] != app.config["DATABASE_URL"]
    with other.app_context():
        assert _organisations() == 0  # the first app's write is not here
        assert db.session.scalar(select(func.count()).select_from(db.metadata.tables["users"])) == 0
        orgs.create_organisation(db.session, None, code="wil", name_ar="ولاية", name_fr="Wilaya")
        db.session.remove()
        db.engine.dispose()
    assert _organisations() == 1


def test_an_empty_database_has_no_table(tmp_path, new_database):
    instance = tmp_path / "empty"
    empty = make_app(instance, DATABASE_URL=new_database(instance, empty=True))
    with empty.app_context():
        assert inspect(db.engine).get_table_names() == []
        db.engine.dispose()
