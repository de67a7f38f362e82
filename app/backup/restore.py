"""Putting an archive back onto a machine, into an empty instance.

Three phases. First the target is checked (empty, same database engine); then the whole archive
is read into a staging directory beside the instance, every record authenticated and every
member checked against the manifest; only then is anything installed (the database, the
SECRET_KEY, the files). A refusal in the first two phases leaves the target as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.backup import database
from app.backup.create import KEPT_SETTINGS, KEYS, OBJECTS, BackupError
from app.backup.reading import read_archive
from app.files.store import FileStore
from app.settings import load_settings

# Left by any `diwan` command run with this instance before the restore (nothing uses it yet).
GENERATED = {"secret_key"}


@dataclass(frozen=True)
class Target:
    instance: Path
    database_url: str
    file_store: Path
    secret_key: str  # set in the environment, else "" (then kept in instance/secret_key)
    settings: dict

    @classmethod
    def of(cls, instance: Path) -> Target:
        """The instance's settings as `create_app` would resolve them, creating nothing."""
        settings = load_settings(INSTANCE_PATH=str(instance))
        return cls(
            instance=instance,
            database_url=settings["DATABASE_URL"] or f"sqlite:///{instance / 'diwan.sqlite3'}",
            file_store=Path(settings["FILE_STORE"] or instance / "files"),
            secret_key=settings["SECRET_KEY"],
            settings=settings,
        )

    @property
    def engine(self) -> str:
        return database.engine_name(self.database_url)


def _has_files(folder: Path, allowed: set[str] = frozenset()) -> bool:
    """True if `folder` holds a file (at any depth) other than the top-level `allowed` names."""
    if not folder.exists():
        return False
    for root, _dirs, files in os.walk(folder):
        if any(Path(root) != folder or name not in allowed for name in files):
            return True
    return False


def emptiness_problems(target: Target) -> list[str]:
    problems = []
    if target.instance.exists() and not target.instance.is_dir():
        problems.append(f"{target.instance} is not a directory")
    elif _has_files(target.instance, GENERATED):
        problems.append(f"the instance directory {target.instance} is not empty")
    if target.engine == "sqlite":
        path = database.sqlite_path(target.database_url)
        if path.exists() and path.stat().st_size > 0:
            problems.append(f"a database exists at {path}")
    if _has_files(target.file_store / "objects"):
        problems.append(f"the file store {target.file_store} holds files")
    return problems


def restore_archive(
    archive: Path, passphrase: str, instance: Path, *, force: bool = False, log=print
) -> dict:
    """Restore the archive into `instance`; return the manifest. Raises BackupError."""
    target = Target.of(instance.absolute())
    problems = emptiness_problems(target)
    if problems and not force:
        raise BackupError(
            "; ".join(problems) + ". Restore into an empty instance (or add --force to put the "
            "archive's database, key and files in place of what is there, kept aside)"
        )
    if target.engine == "postgresql" and not database.postgres_is_empty(target.database_url):
        raise BackupError(
            "the database named by DATABASE_URL is not empty: create an empty one to restore into"
        )
    parent = target.instance.parent
    if not parent.is_dir():
        raise BackupError(f"no directory {parent}")
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.instance.name}.restore-"))
    try:
        manifest = read_archive(archive, passphrase, _sink(staging))
        log(f"Archive of {manifest['created_at']} read and checked: every file matches its hash.")
        keys = json.loads((staging / KEYS).read_text())
        _check_compatible(manifest, keys, target, log)
        _install(staging, manifest, keys, target, replacing=bool(problems))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"Restored into {target.instance} ({manifest['database']['engine']}).")
    return manifest


def _sink(staging: Path):
    def open_member(name: str):
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "wb")  # closed by the reader (a context manager)

    return open_member


def _check_compatible(manifest: dict, keys: dict, target: Target, log) -> None:
    engine = manifest["database"]["engine"]
    if engine != target.engine:
        raise BackupError(
            f"the archive holds a {engine} database but DATABASE_URL names a {target.engine} "
            "one: restore into the same kind of database"
        )
    if target.secret_key and target.secret_key != keys["SECRET_KEY"]:
        raise BackupError(
            "DIWAN_SECRET_KEY differs from the archive's SECRET_KEY, under which the "
            "organisations' keys are encrypted: unset it (the archive's is then kept in the "
            "instance) or set it to the archived one"
        )
    for name in KEPT_SETTINGS:
        before, now = manifest["settings"].get(name), target.settings.get(name)
        if before is not None and before != now:
            log(f"Note: {name} was {before!r} on the backed-up machine, here it is {now!r}.")


def _aside(path: Path, stamp: str) -> None:
    """Keep what a forced restore replaces (the registry is a legal record)."""
    if path.exists():
        os.replace(path, path.with_name(f"{path.name}.before-restore-{stamp}"))


def _install(staging: Path, manifest: dict, keys: dict, target: Target, *, replacing: bool) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = staging / manifest["database"]["member"]
    if target.engine == "postgresql":  # first: it alone can still fail (all or nothing)
        database.restore_postgres(target.database_url, dump)
    target.instance.mkdir(parents=True, exist_ok=True)
    if target.engine == "sqlite":
        path = database.sqlite_path(target.database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm", ""):  # a stale WAL must never be replayed over the copy
            _aside(path.with_name(path.name + suffix), stamp)
        shutil.move(dump, path)
    if not target.secret_key:
        secret_file = target.instance / "secret_key"
        if replacing:
            _aside(secret_file, stamp)
        else:  # generated by a first run on this empty instance: it protects nothing yet
            secret_file.unlink(missing_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(keys["SECRET_KEY"] + "\n")
    store = FileStore(target.file_store)
    for sha, _size in manifest["files"]["objects"]:
        destination = store.path(sha)
        if store.verify(sha):
            continue  # a forced restore over a store that already has it
        destination.parent.mkdir(parents=True, exist_ok=True)
        staged = staging / OBJECTS / sha[:2] / sha[2:4] / sha
        shutil.move(staged, destination)
        os.chmod(destination, 0o444)
