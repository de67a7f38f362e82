"""The orphan-file sweep: stored files no row names (an upload whose registration never
committed) go into the store's quarantine once old, come back when a row names them or when
they are read, and are deleted after the retention; files a row names are never touched, even
racing an upload of the same bytes. `diwan files sweep-orphans [--dry-run]` runs it by hand."""

from __future__ import annotations

import inspect
import io
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select

from app.backup.facts import referenced_files
from app.extensions import db
from app.files import store as store_module
from app.files.intake import IngestedFile
from app.files.store import FileStore
from app.models import Base, Letter
from app.services import orphan_files, registration
from app.services.actor import Actor
from app.services.orphan_files import OrphanReport, sweep_orphans
from tests.conftest import csrf_token
from tests.helpers import blank_pdf, letter_form

HOUR, DAY = 3600, 86400
NEW_URL = "/registry/incoming/new"


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _store(app) -> FileStore:
    return FileStore(Path(app.config["FILE_STORE"]))


def _aged(path: Path, hours: float) -> Path:
    then = time.time() - hours * HOUR
    os.utime(path, (then, then))
    return path


def _post(client, pdf: bytes, **fields):
    data = letter_form(**fields)
    data["csrf_token"] = csrf_token(client, NEW_URL)
    data["documents"] = [(io.BytesIO(pdf), "scan.pdf")]
    return client.post(NEW_URL, data=data)


def _register(client, pdf: bytes) -> Letter:
    assert _post(client, pdf).status_code == 302
    return db.session.scalar(select(Letter).order_by(Letter.id.desc()))


def _abandon(client, pdf: bytes) -> str:
    """The officer uploads a file, the form comes back with an error, and nobody sends it again:
    the file is stored, no row names it."""
    response = _post(client, pdf, subject="")
    assert response.status_code == 422 and "csrf_token" in response.get_data(as_text=True)
    return _sha(pdf)


def _sweep(app, **kwargs) -> OrphanReport:
    settings = {"min_age_s": 24 * HOUR, "retention_s": 30 * DAY, **kwargs}
    return sweep_orphans(db.session, _store(app), **settings)


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _tree(store: FileStore) -> dict[str, tuple[int, int]]:
    """Every file under the store with its inode and time: what "nothing changed" compares."""
    return {
        str(path.relative_to(store.root)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in store.root.rglob("*")
        if path.is_file()
    }


def test_only_old_files_no_row_names_are_quarantined(app, world, client_for, caplog):
    officer = client_for("officer")
    store = _store(app)
    kept = _register(officer, blank_pdf(title="registered")).documents[0].current.original_sha256
    abandoned = _abandon(officer, blank_pdf(title="abandoned"))
    old_stray = store.put_bytes(blank_pdf(title="old stray"))
    new_stray = store.put_bytes(blank_pdf(title="new stray"))
    for sha in (kept, abandoned, old_stray):
        _aged(store.path(sha), 24 * 365)  # a registered file stays whatever its age
    _aged(store.path(new_stray), 23)  # younger than ORPHAN_MIN_AGE_HOURS
    before = store.path(kept).stat()

    with caplog.at_level(logging.INFO, logger="diwan.files"):
        report = _sweep(app)

    assert sorted(sha for sha, _size in report.quarantined) == sorted([abandoned, old_stray])
    assert report.restored == () and report.deleted == () and report.problems == ()
    assert report.in_quarantine == 2 and report.in_quarantine_bytes == report.quarantined_bytes
    assert sorted(store.iter_hashes()) == sorted([kept, new_stray])
    assert sorted(store.iter_quarantined()) == sorted([abandoned, old_stray])
    after = store.path(kept).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # In quarantine, the file's time is when it arrived: the retention starts now.
    assert time.time() - store.quarantine_path(abandoned).stat().st_mtime < 60
    assert f"orphan file {abandoned}" in caplog.text and "2 file(s) quarantined" in caplog.text
    assert _cli(app, "verify-files").exit_code == 0

    again = _sweep(app)  # nothing more to do
    assert (again.quarantined, again.restored, again.deleted) == ((), (), ())
    assert again.in_quarantine == 2


def test_a_dry_run_lists_and_changes_nothing(app, world, client_for):
    officer = client_for("officer")
    store = _store(app)
    _register(officer, blank_pdf(title="registered"))
    orphan = _abandon(officer, blank_pdf(title="abandoned"))
    young = _abandon(officer, blank_pdf(title="abandoned an hour ago"))
    expired, recent = (
        store.put_bytes(blank_pdf(title=title)) for title in ("long gone", "last week")
    )
    for sha in (orphan, expired, recent):
        _aged(store.path(sha), 48)
    _aged(store.path(young), 1)
    for sha, days in ((expired, 31), (recent, 7)):
        assert store.quarantine(sha, unused_since=time.time() - 24 * HOUR)
        _aged(store.quarantine_path(sha), days * 24)
    tree = _tree(store)

    result = _cli(app, "files", "sweep-orphans", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"1 file(s) would be moved into quarantine (no row names them)\n  - {orphan}" in (
        result.output
    )
    assert f"1 file(s) would be deleted (in quarantine past the retention)\n  - {expired}" in (
        result.output
    )
    assert "0 file(s) would be moved back" in result.output
    assert "Dry run: nothing was changed." in result.output
    assert _tree(store) == tree

    planned = _sweep(app, dry_run=True)
    assert _tree(store) == tree
    assert [sha for sha, _ in planned.quarantined] == [orphan]
    assert [sha for sha, _ in planned.deleted] == [expired]
    assert planned.in_quarantine == 2 and planned.dry_run
    done = _sweep(app)
    assert (done.quarantined, done.deleted) == (planned.quarantined, planned.deleted)
    assert done.in_quarantine_bytes == planned.in_quarantine_bytes
    assert sorted(store.iter_quarantined()) == sorted([orphan, recent])
    assert young in store.iter_hashes()


def test_a_quarantined_file_registered_again_comes_back(app, world, client_for):
    officer = client_for("officer")
    store = _store(app)
    pdf = blank_pdf(title="sent again a week later")
    orphan = _abandon(officer, pdf)
    _aged(store.path(orphan), 7 * 24)
    assert [sha for sha, _ in _sweep(app).quarantined] == [orphan]

    letter = _register(officer, pdf)  # the same bytes, uploaded again
    assert letter.documents[0].current.original_sha256 == orphan
    assert store.exists(orphan) and _cli(app, "verify-files").exit_code == 0
    url = f"/letters/{letter.id}/documents/{letter.documents[0].id}/v1/original"
    assert officer.get(url).data == pdf

    report = _sweep(app)
    assert report.restored == (orphan,) and report.quarantined == ()
    assert list(store.iter_quarantined()) == [] and report.in_quarantine == 0
    assert store.open_verified(orphan) == pdf
    assert _cli(app, "verify-files").exit_code == 0


def test_quarantined_files_are_deleted_after_the_retention(app, world, client_for, caplog):
    officer = client_for("officer")
    store = _store(app)
    early = _abandon(officer, blank_pdf(title="abandoned long ago"))
    late = _abandon(officer, blank_pdf(title="abandoned last month"))
    for sha in (early, late):
        _aged(store.path(sha), 48)
    assert len(_sweep(app).quarantined) == 2
    _aged(store.quarantine_path(early), 31 * 24)
    _aged(store.quarantine_path(late), 29 * 24)
    strays = [store.orphans_dir / "README", store.orphans_dir / "00" / "00" / early]
    for stray in strays:  # not quarantined files: never deleted
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_text("x")
        _aged(stray, 24 * 365)

    with caplog.at_level(logging.INFO, logger="diwan.files"):
        report = _sweep(app)

    size = len(blank_pdf(title="abandoned long ago"))
    assert report.deleted == ((early, size),) and report.deleted_bytes == size
    assert report.in_quarantine == 1 and list(store.iter_quarantined()) == [late]
    assert not store.quarantine_path(early).exists() and not store.exists(early)
    assert all(stray.exists() for stray in strays)
    assert f"orphan file {early} ({size} bytes) deleted" in caplog.text
    assert _cli(app, "verify-files").exit_code == 0


def test_a_file_named_while_in_quarantine_is_restored_not_deleted(app, world, client_for):
    """The sweep that quarantined the file lost a race: a row names it now. The next sweep puts
    it back, even past the retention."""
    officer = client_for("officer")
    store = _store(app)
    letter = _register(officer, blank_pdf(title="registered"))
    sha = letter.documents[0].current.original_sha256
    assert store.quarantine(sha, unused_since=time.time() + 60)
    _aged(store.quarantine_path(sha), 60 * 24)

    report = _sweep(app)
    assert report.restored == (sha,) and report.deleted == ()
    assert list(store.iter_quarantined()) == [] and store.path(sha).is_file()
    assert _cli(app, "verify-files").exit_code == 0


def test_the_references_are_read_again_right_before_deleting(app, world, monkeypatch):
    """A letter naming a quarantined file commits while the sweep runs: not deleted."""
    store = _store(app)
    pdf = blank_pdf(title="named during the sweep")
    sha = store.put_bytes(pdf)
    _aged(store.path(sha), 48)
    assert _sweep(app).quarantined == ((sha, len(pdf)),)
    _aged(store.quarantine_path(sha), 31 * 24)

    calls = []

    def references_then_a_letter_commits(session):
        names = referenced_files(session)
        if not calls:
            with current_app.test_request_context():
                _register_named(world.officer, sha, len(pdf))
        calls.append(names)
        return names

    monkeypatch.setattr(orphan_files, "referenced_files", references_then_a_letter_commits)
    report = _sweep(app)
    assert len(calls) == 2 and sha not in calls[0] and sha in calls[1]
    assert report.deleted == () and report.restored == (sha,)
    assert store.open_verified(sha) == pdf


def _register_named(user, sha: str, size: int) -> Letter:
    scan = IngestedFile(sha, size, "application/pdf", "scan.pdf", sha, 1)
    data = registration.LetterInput(
        register="incoming",
        subject="Demande",
        channel="post",
        new_correspondent=registration.NewContact(name="Amina Berrada"),
        files=[scan],
    )
    settings = registration.NumberingSettings.from_config(current_app.config)
    return registration.register_letter(db.session, Actor(user), data, settings)


READERS = {
    "download": None,  # the letter's page: GET the original
    "open_verified": lambda store, sha: store.open_verified(sha),
    "stream_verified": lambda store, sha: b"".join(store.stream_verified(sha)),
    "ensure_verified": lambda store, sha: store.ensure_verified(sha).read_bytes(),
    "exists": lambda store, sha: store.exists(sha),
    "verify": lambda store, sha: store.verify(sha),
}


@pytest.mark.parametrize("reader", READERS)
def test_reading_a_quarantined_file_moves_it_back(app, world, client_for, reader, caplog):
    officer = client_for("officer")
    store = _store(app)
    pdf = blank_pdf(title="read while in quarantine")
    letter = _register(officer, pdf)
    sha = letter.documents[0].current.original_sha256
    assert store.quarantine(sha, unused_since=time.time() + 60)  # lost a race with the sweep
    _aged(store.quarantine_path(sha), 48)  # and nobody read it for two days
    assert not store.path(sha).exists()

    with caplog.at_level(logging.WARNING, logger="diwan.files"):
        if READERS[reader] is None:
            url = f"/letters/{letter.id}/documents/{letter.documents[0].id}/v1/original"
            response = officer.get(url)
            assert response.status_code == 200 and response.data == pdf
        else:
            assert READERS[reader](store, sha) in (pdf, True)
    assert store.path(sha).is_file() and list(store.iter_quarantined()) == []
    assert time.time() - store.path(sha).stat().st_mtime < 60  # the next sweep leaves it
    assert f"file {sha} was read while in quarantine" in caplog.text
    assert _sweep(app).quarantined == ()


def test_a_missing_file_is_still_missing(app):
    store = _store(app)
    sha = _sha(b"never stored")
    assert not store.exists(sha) and not store.restore(sha)
    with pytest.raises(store_module.MissingFile):
        store.open_verified(sha)
    assert not store.orphans_dir.exists()


def test_storing_the_same_bytes_again_makes_the_file_young(app, world):
    """An upload of bytes already stored reuses the file: its time is refreshed, so a sweep
    reading the references before that upload's row commits leaves it in place."""
    store = _store(app)
    pdf = blank_pdf(title="uploaded twice")
    sha = store.put_bytes(pdf)
    inode = _aged(store.path(sha), 48).stat().st_ino
    assert store.put_bytes(pdf) == sha
    assert store.path(sha).stat().st_ino == inode  # kept, never rewritten
    assert time.time() - store.path(sha).stat().st_mtime < 60
    assert _sweep(app).quarantined == ()
    assert list(store.iter_hashes()) == [sha]


def test_an_upload_whose_file_is_quarantined_meanwhile_stores_it_again(app, monkeypatch):
    """The sweep moves the file between the upload finding it and refreshing it."""
    store = _store(app)
    pdf = blank_pdf(title="raced")
    sha = store.put_bytes(pdf)
    real_hash = store_module._hash_file
    armed = [True]

    def sweep_strikes_first(path):
        if armed and path == store.path(sha):
            armed.clear()
            assert store.quarantine(sha, unused_since=time.time() + 60)
        return real_hash(path)

    monkeypatch.setattr(store_module, "_hash_file", sweep_strikes_first)
    assert store.put_bytes(pdf) == sha
    assert not armed, "the race did not happen"
    assert store.path(sha).is_file() and store.open_verified(sha) == pdf


def test_a_reuse_between_the_sweeps_look_and_its_move_puts_the_file_back(app, monkeypatch):
    store = _store(app)
    pdf = blank_pdf(title="reused at the last moment")
    sha = store.put_bytes(pdf)
    _aged(store.path(sha), 48)
    real_rename = os.rename
    armed = [True]

    def upload_strikes_first(source, target):
        if armed and Path(source) == store.path(sha):
            armed.clear()
            store.put_bytes(pdf)  # the same bytes, uploaded now: the row will name them
        return real_rename(source, target)

    monkeypatch.setattr(store_module.os, "rename", upload_strikes_first)
    report = _sweep(app)
    assert not armed, "the race did not happen"
    assert report.quarantined == () and report.in_quarantine == 0
    assert store.path(sha).is_file() and list(store.iter_quarantined()) == []


def test_the_command_sweeps_and_verify_files_passes(app, world, client_for):
    officer = client_for("officer")
    store = _store(app)
    _register(officer, blank_pdf(title="registered"))
    orphan = _abandon(officer, blank_pdf(title="abandoned"))
    size = store.path(orphan).stat().st_size
    _aged(store.path(orphan), 25)

    result = _cli(app, "files", "sweep-orphans")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "1 file(s) moved into quarantine (no row names them)\n"
        f"  - {orphan} ({size} bytes)\n"
        "0 file(s) moved back (a row names them again)\n"
        "0 file(s) deleted (in quarantine past the retention)\n"
        f"1 file(s) ({size} bytes) in quarantine\n"
    )
    verified = _cli(app, "verify-files")
    assert verified.exit_code == 0 and "0 problems" in verified.output


def test_the_command_refuses_unsafe_settings(app, world):
    store = _store(app)
    sha = _aged(store.path(store.put_bytes(blank_pdf(title="stray"))), 48).name
    app.config["ORPHAN_MIN_AGE_HOURS"] = 0
    result = _cli(app, "files", "sweep-orphans")
    assert result.exit_code == 1 and "min_age_s must be at least 3600" in result.output
    app.config["ORPHAN_MIN_AGE_HOURS"] = 24
    app.config["ORPHAN_RETENTION_DAYS"] = -1
    result = _cli(app, "files", "sweep-orphans")
    assert result.exit_code == 1 and "retention_s must not be negative" in result.output
    assert list(store.iter_hashes()) == [sha]  # nothing moved
    assert _cli(app, "files", "sweep-orphans", "--bogus").exit_code == 2


def test_a_file_that_cannot_be_moved_is_reported_and_the_rest_is_swept(app, world, monkeypatch):
    store = _store(app)
    stuck, other = (store.put_bytes(blank_pdf(title=title)) for title in ("stuck", "other"))
    for sha in (stuck, other):
        _aged(store.path(sha), 48)
    real_rename = os.rename

    def full_disk(source, target):
        if Path(source).name == stuck:
            raise OSError(28, "No space left on device")
        return real_rename(source, target)

    monkeypatch.setattr(store_module.os, "rename", full_disk)
    result = _cli(app, "files", "sweep-orphans")
    assert result.exit_code == 1
    assert f"! {stuck}: quarantine: No space left on device" in result.output
    assert list(store.iter_quarantined()) == [other] and list(store.iter_hashes()) == [stuck]


# Columns that hold a SHA-256 but name no stored file.
NOT_FILES = {"extracted_texts.sha256"}  # text extracted from a file, kept by its hash


def test_every_column_naming_a_stored_file_is_a_reference():
    """A new table naming stored files must be added to referenced_files, or the sweep would
    quarantine its files and delete them after the retention."""
    source = inspect.getsource(referenced_files)
    missing = []
    for mapper in Base.registry.mappers:
        for column in mapper.columns:
            if not column.key.endswith("sha256"):
                continue
            name = f"{column.table.name}.{column.name}"
            if name not in NOT_FILES and f"{mapper.class_.__name__}.{column.key}" not in source:
                missing.append(name)
    assert not missing, f"referenced_files does not read {missing}"


def _race_once(store: FileStore, sha: str, pdf: bytes) -> dict:
    """One upload of ``pdf`` and one sweep of its old file, started together."""
    start, results = threading.Barrier(2), {}

    def upload():
        start.wait()
        results["upload"] = store.put_bytes(pdf)

    def sweep():
        start.wait()
        results["moved"] = store.quarantine(sha, unused_since=time.time() - 24 * HOUR)

    threads = [threading.Thread(target=upload), threading.Thread(target=sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_uploads_racing_sweeps_in_threads_always_leave_the_file_in_place(app):
    """The same bytes uploaded while a sweep moves the old, unnamed file: once both are done the
    file is in the store, each time, without any read to bring it back."""
    store = _store(app)
    pdf = blank_pdf(title="uploaded while the sweep runs")
    sha = store.put_bytes(pdf)
    for round_ in range(200):
        _aged(store.path(sha), 48)
        results = _race_once(store, sha, pdf)
        assert results["upload"] == sha
        assert store.path(sha).is_file(), f"round {round_}: the upload's file is in quarantine"
        for stale in store.iter_quarantined():  # a copy the upload replaced: the sweep's to drop
            store.quarantine_path(stale).unlink()
    assert store.verify_all() == []


def test_the_workers_periodic_file_sweep_quarantines_orphans(app, world):
    from app.worker import run_once

    store = FileStore(Path(current_app.config["FILE_STORE"]))
    stray = store.put_bytes(b"%PDF-1.7 a file whose registration rolled back")
    _aged(store.path(stray), 48)
    report = run_once(app)
    assert report["orphans_quarantined"] == 1 and report["staging_files_removed"] == 0
    assert not store.path(stray).exists()
    assert run_once(app)["orphans_quarantined"] == 0  # forced again: nothing more to move
