"""Making a backup archive: the database snapshot, the file store's objects and the keys, with
a manifest, as one encrypted tar stream written to a temporary file and then linked into place.

Files are written to the store before the row that names them commits, and never changed, so
every object the snapshot names is already in the store when it is listed after the snapshot.
Objects written after the snapshot (by registrations still running) may be listed too: they
are copied, and nothing in the restored database names them, like the file a failed upload
leaves. An object that no longer hashes to its name stops the backup.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from app.backup import database
from app.backup.sealed import SealedWriter
from app.files.store import CHUNK_SIZE, FileStore

FORMAT = "diwan-backup/1"
MANIFEST = "manifest.json"
KEYS = "keys.json"
OBJECTS = "files/objects/"
# Settings that shape what the restored machine does with the data: compared on restore.
KEPT_SETTINGS = (
    "NUMBER_FORMAT",
    "REGISTER_CODE_INCOMING",
    "REGISTER_CODE_OUTGOING",
    "REGISTER_CODE_INTERNAL",
    "DEFAULT_TIMEZONE",
    "SEARCH_BACKEND",
    "BASE_URL",
)
MIN_PASSPHRASE = 12


class BackupError(Exception):
    """A backup cannot be made or read; the message says why."""


def object_member(sha256: str) -> str:
    return f"{OBJECTS}{sha256[:2]}/{sha256[2:4]}/{sha256}"


class _Hashing:
    """Reads a file for tarfile while hashing it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def create_backup(
    config, archive: Path, passphrase: str, log: Callable[[str], None] = lambda line: None
) -> dict:
    """Write the archive; return its manifest. Nothing is left behind on failure."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    archive = archive.absolute()
    if archive.exists():
        raise BackupError(f"{archive} exists: a backup is never overwritten, choose another name")
    if not archive.parent.is_dir():
        raise BackupError(f"no directory {archive.parent}")
    store = FileStore(Path(config["FILE_STORE"]))
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".diwan-backup-") as work:
        try:
            snap = database.snapshot(config["DATABASE_URL"], Path(work))
        except database.DatabaseError as error:
            raise BackupError(str(error)) from error
        log(
            f"Database snapshot: {snap.server_version}, revision {snap.facts['revision']}, "
            f"{snap.facts['counts']['letters']} letters"
        )
        objects = {sha: store.path(sha).stat().st_size for sha in store.iter_hashes()}
        missing = sorted(snap.referenced - objects.keys())
        if missing:
            raise BackupError(
                f"{len(missing)} files named by the database are missing from the store "
                f"(first: {missing[0]}); run `diwan verify-files`"
            )
        keys = json.dumps({"SECRET_KEY": config["SECRET_KEY"]}).encode()
        manifest = _manifest(config, snap, keys, objects)
        _write(archive, passphrase, manifest, snap.path, keys, store, objects)
    size = archive.stat().st_size
    log(f"{len(objects)} files ({sum(objects.values()) / 1e6:.1f} MB), archive {size / 1e6:.1f} MB")
    return manifest


def _manifest(config, snap: database.Snapshot, keys: bytes, objects: dict[str, int]) -> dict:
    suffix = "sqlite3" if snap.engine == "sqlite" else "pgdump"
    return {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "diwan_version": metadata.version("diwan"),
        "python": platform.python_version(),
        "database": {
            "engine": snap.engine,
            "server": snap.server_version,
            "member": f"database/diwan.{suffix}",
            "sha256": _hash_file(snap.path),
            "size": snap.path.stat().st_size,
            **snap.facts,
        },
        "keys": {
            "member": KEYS,
            "names": ["SECRET_KEY"],
            "sha256": hashlib.sha256(keys).hexdigest(),
            "size": len(keys),
        },
        "settings": {name: config[name] for name in KEPT_SETTINGS},
        "files": {
            "count": len(objects),
            "bytes": sum(objects.values()),
            "referenced": len(snap.referenced),
            "objects": sorted([sha, size] for sha, size in objects.items()),
        },
    }


def _write(archive, passphrase, manifest, db_path, keys, store, objects) -> None:
    fd, name = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.", suffix=".part")
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            sealed = SealedWriter(out, passphrase)
            with tarfile.open(fileobj=sealed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
                _add_bytes(tar, KEYS, keys)
                tar.add(db_path, arcname=manifest["database"]["member"], recursive=False)
                for sha, size in sorted(objects.items()):
                    _add_object(tar, store, sha, size)
            sealed.close()
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(partial, archive)  # atomic, and never replaces an archive made meanwhile
        except FileExistsError:
            raise BackupError(f"{archive} appeared while the backup was written") from None
        _fsync_dir(archive.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


def _add_object(tar: tarfile.TarFile, store: FileStore, sha: str, size: int) -> None:
    info = tarfile.TarInfo(object_member(sha))
    info.size, info.mode = size, 0o444
    with open(store.path(sha), "rb") as handle:
        reader = _Hashing(handle)
        tar.addfile(info, reader)
    if reader.digest.hexdigest() != sha:
        raise BackupError(
            f"the stored file {sha} no longer matches its hash; run `diwan verify-files`"
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
