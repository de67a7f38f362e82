"""Content-addressed file store: every document is kept under the SHA-256 of its bytes.

Why content addressing: a registry must prove that what it shows today is what it received, so the
name of an object *is* its checksum and every read can be verified. Identical uploads share one
object, and an object is never rewritten in place.

Layout under ``root``::

    objects/ab/cd/abcd...(64 hex)   read-only (0o444) once committed
    tmp/                            staging area, same filesystem so commits are atomic
    orphans/ab/cd/abcd...           objects no row names, set aside by the orphan sweep

Writes go to ``tmp`` first (``stage``), are fsynced, then hard-linked into place (``commit``);
a crash leaves at worst a stray file in ``tmp`` (see ``purge_staging``), never a partial object.
The store never decides on its own that an object is unused: the database does, and
``app/services/orphan_files.py`` moves the objects no row names into ``orphans/`` (``quarantine``)
and, after a retention period, deletes them there. Reusing an object (``commit`` of bytes already
stored) refreshes its modification time, and every read of an object that is only in ``orphans/``
moves it back first (``restore``), so a row can never be left naming a file that is not served.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 64 * 1024
HEAD_SIZE = 2048
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP)
_PLACE_ATTEMPTS = 5

log = logging.getLogger("diwan.files")


class FileStoreError(Exception):
    """Base class for file store failures."""


class FileTooLarge(FileStoreError):
    """The stream was longer than the caller's limit; nothing was kept."""


class MissingFile(FileStoreError):
    """No object with this hash is stored."""


class CorruptFile(FileStoreError):
    """The stored bytes no longer hash to their name (disk fault or tampering)."""


def validate_sha256(sha256: object) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits, else raise ValueError.

    Hashes reach the store from URLs and database rows; checking them here means user input can
    never be turned into a path outside ``objects/``.
    """
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise ValueError("not a SHA-256 hex digest")
    return sha256


def _fsync_dir(path: Path) -> None:
    """Make a directory entry (a new link, a rename) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _touch(path: Path) -> None:
    """Set the modification time to now (the file itself stays read-only and unchanged)."""
    try:
        os.utime(path)
    except PermissionError:  # another user's object: reuse it all the same
        log.warning("cannot refresh the time of %s (not its owner)", path)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class StagedFile:
    """An upload written to the staging area and hashed, not yet part of the store."""

    path: Path
    sha256: str
    size: int
    head: bytes  # the first HEAD_SIZE bytes, for content sniffing

    def discard(self) -> None:
        """Remove the staged copy (harmless if it was already committed or removed)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class FileStore:
    """Local-disk content-addressed store; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects_dir = self.root / "objects"
        self.tmp_dir = self.root / "tmp"
        self.orphans_dir = self.root / "orphans"  # created by the first quarantine
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    # -- paths ---------------------------------------------------------------------------------

    def path(self, sha256: str) -> Path:
        """Where the object named ``sha256`` lives (whether or not it exists)."""
        validate_sha256(sha256)
        return self.objects_dir / sha256[:2] / sha256[2:4] / sha256

    def quarantine_path(self, sha256: str) -> Path:
        """Where the object named ``sha256`` lies while it is in quarantine (see ``quarantine``)."""
        validate_sha256(sha256)
        return self.orphans_dir / sha256[:2] / sha256[2:4] / sha256

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh empty file in the staging area, for a sandboxed tool to write its output into."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="out-", suffix=suffix)
        os.close(fd)
        return Path(name)

    # -- writing -------------------------------------------------------------------------------

    def stage(self, stream: BinaryIO, max_bytes: int) -> StagedFile:
        """Copy ``stream`` into the staging area while hashing it.

        Raises FileTooLarge as soon as more than ``max_bytes`` have been read, so an oversized
        upload is never read to its end; the partial copy is removed on any failure.
        """
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="stage-")
        path = Path(name)
        digest = hashlib.sha256()
        head = bytearray()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    # Never ask for more than one byte past the limit.
                    chunk = stream.read(min(CHUNK_SIZE, max_bytes - size + 1))
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileTooLarge(f"more than {max_bytes} bytes")
                    digest.update(chunk)
                    if len(head) < HEAD_SIZE:
                        head += chunk[: HEAD_SIZE - len(head)]
                    out.write(chunk)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        return StagedFile(path=path, sha256=digest.hexdigest(), size=size, head=bytes(head))

    def commit(self, staged: StagedFile) -> str:
        """Move a staged file into the store atomically and durably; return its hash.

        Never overwrites a good object: if the hash is already stored, the existing copy is
        verified and kept (its modification time refreshed, so the orphan sweep sees it as just
        used), and the staged copy dropped. If the existing copy is corrupt, the freshly received
        bytes (which hashed correctly while staging) replace it.
        """
        target = self.path(staged.sha256)
        try:
            fd = os.open(staged.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(staged.path, 0o444)
            self._make_dirs(target.parent)
            # The existing object can vanish between finding it and refreshing it (the orphan
            # sweep moved it into quarantine): then the staged bytes are linked in after all.
            for _attempt in range(_PLACE_ATTEMPTS):
                if self._place(staged, target):
                    break
            else:
                raise FileStoreError(f"{staged.sha256} kept vanishing while being stored")
            _fsync_dir(target.parent)
        finally:
            staged.discard()
        return staged.sha256

    def _place(self, staged: StagedFile, target: Path) -> bool:
        """Link the staged file in, or keep and refresh a good existing object; False if the
        existing object disappeared meanwhile (try again)."""
        try:
            os.link(staged.path, target)
            return True
        except FileExistsError:
            try:
                if _hash_file(target) != staged.sha256:
                    os.replace(staged.path, target)  # repair a corrupt object
                else:
                    _touch(target)
            except FileNotFoundError:
                return False
            return True
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
        # Filesystem without hard links: a rename is atomic too, and an existing object with the
        # same name has the same content unless it is corrupt.
        try:
            if target.exists() and _hash_file(target) == staged.sha256:
                _touch(target)
                return True
        except FileNotFoundError:
            pass
        os.replace(staged.path, target)
        return True

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its hash."""
        return self.commit(self.stage(io.BytesIO(data), max_bytes=len(data)))

    def _make_dirs(self, directory: Path, durable: bool = True) -> None:
        """Create objects/ab/cd, fsyncing each parent that gained an entry if ``durable``."""
        for parent in (directory.parent, directory):
            if not parent.is_dir():
                with contextlib.suppress(FileExistsError):
                    parent.mkdir()
                    if durable:
                        _fsync_dir(parent.parent)

    # -- reading -------------------------------------------------------------------------------

    # Every reader goes through ``_open`` (or ``exists``): an object found only in quarantine is
    # moved back first, so a row naming it is served (see ``restore``).

    def exists(self, sha256: str) -> bool:
        """True if the object is stored (moved back from quarantine if it was there)."""
        return self.path(sha256).is_file() or self._restore_for_reading(sha256)

    def _open(self, sha256: str) -> BinaryIO:
        path = self.path(sha256)
        try:
            return open(path, "rb")  # the caller closes it
        except FileNotFoundError:
            if not self._restore_for_reading(sha256):
                raise MissingFile(sha256) from None
        try:
            return open(path, "rb")  # the caller closes it
        except FileNotFoundError:
            raise MissingFile(sha256) from None

    def _restore_for_reading(self, sha256: str) -> bool:
        if not self.restore(sha256):
            return False
        log.warning("file %s was read while in quarantine: moved back into the store", sha256)
        return True

    def open_verified(self, sha256: str) -> bytes:
        """Return the object's bytes; CorruptFile if they do not hash to its name."""
        with self._open(sha256) as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptFile(sha256)
        return data

    def stream_verified(self, sha256: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the object in chunks, raising CorruptFile after the last one on a mismatch.

        For large downloads: the receiver must treat a raised error as a failed transfer.
        """
        fh = self._open(sha256)
        digest = hashlib.sha256()
        with fh:
            while chunk := fh.read(chunk_size):
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != sha256:
            raise CorruptFile(sha256)

    def ensure_verified(self, sha256: str) -> Path:
        """Check the object hashes right and return its path, for tools that need a file name.

        Raises MissingFile or CorruptFile.
        """
        with self._open(sha256) as fh:
            digest = hashlib.sha256()
            while chunk := fh.read(CHUNK_SIZE):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise CorruptFile(sha256)
        return self.path(sha256)

    def verify(self, sha256: str) -> bool:
        """True if the object exists and hashes to its name."""
        try:
            self.ensure_verified(sha256)
        except FileStoreError:
            return False
        return True

    # -- maintenance ---------------------------------------------------------------------------

    def iter_hashes(self) -> Iterator[str]:
        """Every stored object's hash (files at the right place with a valid name only)."""
        yield from _hashes_in(self.objects_dir)

    def verify_all(self) -> list[tuple[str, str]]:
        """Re-hash every object; return ``(sha256, problem)`` for each one that fails."""
        problems: list[tuple[str, str]] = []
        for sha256 in self.iter_hashes():
            try:
                actual = _hash_file(self.path(sha256))
            except OSError as exc:
                problems.append((sha256, f"unreadable: {exc.strerror or exc}"))
                continue
            if actual != sha256:
                problems.append((sha256, f"hash mismatch: content hashes to {actual}"))
        return problems

    def purge_staging(self, older_than_s: float = 24 * 3600) -> int:
        """Remove staging files left by crashed requests; return how many were removed."""
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.tmp_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    # -- quarantine (the orphan sweep, app/services/orphan_files.py) ------------------------------

    def iter_quarantined(self) -> Iterator[str]:
        """The hash of every object in quarantine (well-named files at the right place only)."""
        if self.orphans_dir.is_dir():
            yield from _hashes_in(self.orphans_dir)

    def quarantine(self, sha256: str, *, unused_since: float) -> bool:
        """Move the object into ``orphans/`` if it was last written or reused before
        ``unused_since`` (a ``time.time()``); True if it was moved.

        The object's time is looked at again once it is moved: a ``commit`` that reused it in
        between refreshed it, and it goes straight back. In quarantine its time is the moment
        it arrived there, which starts the retention period.
        """
        source, target = self.path(sha256), self.quarantine_path(sha256)
        try:
            if source.stat().st_mtime >= unused_since:
                return False
            if target.exists() and _hash_file(source) != sha256:
                return False  # keep the good copy already in quarantine; verify-files reports
        except FileNotFoundError:
            return False
        self.orphans_dir.mkdir(exist_ok=True)
        self._make_dirs(target.parent, durable=False)
        try:
            # An identical, older quarantined copy is replaced. No fsync: after a crash the file
            # is in one folder or the other, and both are looked in.
            os.rename(source, target)
        except FileNotFoundError:
            return False  # moved or restored meanwhile
        try:
            if target.stat().st_mtime >= unused_since:
                self.restore(sha256)
                return False
            _touch(target)
        except FileNotFoundError:
            return False  # a reader took it back at once
        return True

    def restore(self, sha256: str) -> bool:
        """Move the object back from quarantine; True if it is in the store again thanks to it.

        Never overwrites a good object: if one was stored again meanwhile, the quarantined copy
        is simply dropped. The restored file's time is refreshed, so the next sweep leaves it.
        """
        source, target = self.quarantine_path(sha256), self.path(sha256)
        try:
            _touch(source)  # first, so no sweep sees an old object while it is being moved
        except FileNotFoundError:
            return False
        self._make_dirs(target.parent)
        try:
            os.link(source, target)
        except FileNotFoundError:
            return target.is_file()  # another reader or sweep restored it first
        except FileExistsError:
            if _hash_file(target) != sha256:
                if _hash_file(source) != sha256:
                    return False  # both copies bad: leave them for verify-files
                os.replace(source, target)  # the quarantined copy repairs a corrupt object
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if not target.exists() or _hash_file(target) != sha256:
                try:
                    os.replace(source, target)
                except FileNotFoundError:
                    return target.is_file()
        with contextlib.suppress(FileNotFoundError):
            source.unlink()
        _fsync_dir(target.parent)
        return True

    def delete_quarantined(self, sha256: str, *, quarantined_before: float) -> int | None:
        """Delete the quarantined copy if it has been there since before ``quarantined_before``;
        return the bytes freed, or None if nothing was deleted. The caller checks first that no
        row names it; a copy being restored right now has a fresh time and stays."""
        path = self.quarantine_path(sha256)
        try:
            info = path.stat()
            if info.st_mtime >= quarantined_before:
                return None
            path.unlink()
        except FileNotFoundError:
            return None
        return info.st_size


def _hashes_in(folder: Path) -> Iterator[str]:
    """The names of well-named files at their place (ab/cd/abcd…) under `folder`."""
    for path in sorted(folder.glob("??/??/*")):
        name = path.name
        if (
            _SHA256_RE.fullmatch(name)
            and path.parent.name == name[2:4]
            and path.parent.parent.name == name[:2]
            and path.is_file()
        ):
            yield name
