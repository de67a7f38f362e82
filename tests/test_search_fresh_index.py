"""A new or lost search index is filled by the worker: letters that have no outbox row (written
before the outbox existed, or indexed into a folder since lost) become searchable again without
a manual rebuild, and a current index is never rebuilt for nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from app.blueprints import search as search_blueprint
from app.extensions import db
from app.files.store import FileStore
from app.models import SearchOutbox
from app.services import search_index
from app.worker import run_once
from tests.factories import register


def _index(app) -> dict:
    report = run_once(app, check_deadlines=False)
    db.session.commit()
    return report


def _close_backends() -> None:
    """The search page keeps its backends open; a lost folder needs them opened afresh."""
    for backend in search_blueprint._backends.values():
        backend.close()
    search_blueprint._backends.clear()


def _found(client, words: str) -> set[str]:
    page = client.get(f"/search?q={words}").get_data(as_text=True)
    return set(re.findall(r'data-letter="(\d+)"', page))


def _status(app) -> dict:
    result = app.test_cli_runner().invoke(args=["search", "status"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def letters(app, world):
    with app.test_request_context():
        made = [register(world.officer, subject=f"Demande de bourse {n}") for n in range(3)]
    yield made
    _close_backends()


def test_a_lost_index_folder_is_refilled_by_one_worker_round(app, letters, client_for):
    assert _index(app)["letters_indexed"] == 3
    admin = client_for("admin")
    everyone = {str(letter.id) for letter in letters}
    assert _found(admin, "bourse") == everyone
    _close_backends()
    shutil.rmtree(app.config["INDEX_DIR"])  # lost: a new disk, a restore without the index
    assert db.session.scalar(select(func.count(SearchOutbox.id))) == 0

    assert _status(app)["needs_rebuild"] is True  # a new, empty index does not say it is current
    assert _index(app)["letters_indexed"] == 3
    assert _status(app)["needs_rebuild"] is False
    assert _found(admin, "bourse") == everyone


def test_letters_from_before_the_outbox_are_indexed_without_a_manual_rebuild(app, letters):
    # As after migration 0009: the letters exist, no outbox row names them, no index yet.
    db.session.execute(delete(SearchOutbox))
    db.session.commit()
    assert _index(app)["letters_indexed"] == 3
    settings = search_index.SearchSettings.from_config(app.config)
    backend = search_index.open_index(settings)
    try:
        assert not search_index.needs_rebuild(backend)
        from indexing.backends import UNRESTRICTED, SearchQuery

        assert backend.search(SearchQuery(text="bourse", allowed=UNRESTRICTED)).total == 3
    finally:
        backend.close()


def test_a_round_on_a_current_index_only_drains_the_outbox(app, world, letters, monkeypatch):
    first = _index(app)
    assert first["letters_indexed"] == 3  # the rebuild covered the outbox rows: not counted twice
    assert db.session.scalar(select(func.count(SearchOutbox.id))) == 0

    def no_rebuild(*args, **kwargs):
        raise AssertionError("a current index was rebuilt")

    monkeypatch.setattr(search_index, "rebuild", no_rebuild)
    with app.test_request_context():
        register(world.officer, subject="Réclamation")
    assert _index(app)["letters_indexed"] == 1
    assert _index(app)["letters_indexed"] == 0


def test_a_rebuild_cut_short_is_done_again_by_the_worker(app, letters):
    settings = search_index.SearchSettings.from_config(app.config)
    store = FileStore(Path(app.config["FILE_STORE"]))
    backend = search_index.open_index(settings)

    def crash(done, total, last_id):
        raise RuntimeError("the machine stopped")

    try:
        with pytest.raises(RuntimeError):
            search_index.rebuild(
                db.session, backend, store, settings, batch=1, commit_every=1, progress=crash
            )
        assert search_index.needs_rebuild(backend)  # one letter of three is in it
    finally:
        backend.close()
    db.session.execute(delete(SearchOutbox))
    db.session.commit()
    assert _status(app)["needs_rebuild"] is True
    assert _index(app)["letters_indexed"] == 3
    assert _status(app)["needs_rebuild"] is False
