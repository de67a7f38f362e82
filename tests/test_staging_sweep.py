"""The worker's periodic round removes what unfinished uploads left in the file store's staging
area once older than STAGING_MAX_AGE_HOURS, logs how many, and never touches a stored file."""

from __future__ import annotations

import io
import logging
import os
import time
from datetime import date
from pathlib import Path

from app.extensions import db
from app.files.store import FileStore
from app.worker import run_once
from tests.factories import register
from tests.helpers import blank_pdf

HOUR = 3600


def _aged(path: Path, hours: float) -> Path:
    then = time.time() - hours * HOUR
    os.utime(path, (then, then))
    return path


def _round(app, periodic: bool = True) -> dict:
    report = run_once(app, today=date(2026, 12, 29), check_deadlines=periodic)
    db.session.commit()
    return report


def _store(app) -> FileStore:
    return FileStore(Path(app.config["FILE_STORE"]))


def _left_over(store: FileStore, hours: float) -> Path:
    """A file staged by an upload that never finished, `hours` ago."""
    staged = store.stage(io.BytesIO(b"%PDF-1.7 half an upload"), max_bytes=10**6)
    return _aged(staged.path, hours)


def test_old_staging_files_go_and_stored_files_stay(app, world, caplog):
    with app.test_request_context():
        register(world.officer, subject="Demande")  # its scan is a stored object
    store = _store(app)
    stored = store.put_bytes(blank_pdf())
    objects = sorted(store.iter_hashes())
    assert stored in objects
    for sha in objects:  # old stored files are not left-overs
        _aged(store.path(sha), 24 * 30)
    old = [_left_over(store, 25), _aged(store.temp_path(".pdf"), 30)]
    fresh = _left_over(store, 2)

    with caplog.at_level(logging.INFO, logger="diwan.worker"):
        assert _round(app)["staging_files_removed"] == 2
    assert not any(path.exists() for path in old)
    assert fresh.exists()
    assert sorted(store.iter_hashes()) == objects and store.verify_all() == []
    assert "removed 2 unfinished upload(s) from the staging area" in caplog.text

    assert _round(app)["staging_files_removed"] == 0  # nothing more to remove
    assert fresh.exists()


def test_only_periodic_rounds_sweep_and_the_age_is_a_setting(app, world):
    store = _store(app)
    left = _left_over(store, 30)
    assert "staging_files_removed" not in _round(app, periodic=False)
    assert left.exists()

    app.config["STAGING_MAX_AGE_HOURS"] = 48
    assert _round(app)["staging_files_removed"] == 0
    assert left.exists()
    app.config["STAGING_MAX_AGE_HOURS"] = 24
    assert _round(app)["staging_files_removed"] == 1
    assert not left.exists()
