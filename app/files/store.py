"""Content-addressed file store: every document is kept under the SHA-256 of its bytes.

Why content addressing: a registry must prove that what it shows today is what it received, so the
name of an object *is* its checksum and every read can be verified. Identical uploads share one
object, and an object is never rewritten in place.

Layout under ``root``::

    objects/ab/cd/abcd...(64 hex)   read-only (0o444) once committed
    tmp/                            staging area, same filesystem so commits are atomic

Writes go to ``tmp`` first (``stage``), are fsynced, then hard-linked into place (``commit``);
a crash leaves at worst a stray file in ``tmp`` (see ``purge_staging``), never a partial object.
Objects are never deleted here: the database decides what is referenced.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
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
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    # -- paths ---------------------------------------------------------------------------------

    def path(self, sha256: str) -> Path:
        """Where the object named ``sha256`` lives (whether or not it exists)."""
        validate_sha256(sha256)
        return self.objects_dir / sha256[:2] / sha256[2:4] / sha256

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
        verified and kept, and the staged copy dropped. If the existing copy is corrupt, the
        freshly received bytes (which hashed correctly while staging) replace it.
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
            try:
                os.link(staged.path, target)
            except FileExistsError:
                if _hash_file(target) != staged.sha256:
                    os.replace(staged.path, target)  # repair a corrupt object
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # Filesystem without hard links: a rename is atomic too, and an existing object
                # with the same name has the same content unless it is corrupt.
                if not target.exists() or _hash_file(target) != staged.sha256:
                    os.replace(staged.path, target)
            _fsync_dir(target.parent)
        finally:
            staged.discard()
        return staged.sha256

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its hash."""
        return self.commit(self.stage(io.BytesIO(data), max_bytes=len(data)))

    def _make_dirs(self, directory: Path) -> None:
        """Create objects/ab/cd, fsyncing each parent that gained an entry."""
        for parent in (directory.parent, directory):
            if not parent.is_dir():
                with contextlib.suppress(FileExistsError):
                    parent.mkdir()
                    _fsync_dir(parent.parent)

    # -- reading -------------------------------------------------------------------------------

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open_verified(self, sha256: str) -> bytes:
        """Return the object's bytes; CorruptFile if they do not hash to its name."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise MissingFile(sha256) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptFile(sha256)
        return data

    def stream_verified(self, sha256: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the object in chunks, raising CorruptFile after the last one on a mismatch.

        For large downloads: the receiver must treat a raised error as a failed transfer.
        """
        path = self.path(sha256)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the with below, after the check
        except FileNotFoundError:
            raise MissingFile(sha256) from None
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
        path = self.path(sha256)
        try:
            actual = _hash_file(path)
        except FileNotFoundError:
            raise MissingFile(sha256) from None
        if actual != sha256:
            raise CorruptFile(sha256)
        return path

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
        for path in sorted(self.objects_dir.glob("??/??/*")):
            name = path.name
            if (
                _SHA256_RE.fullmatch(name)
                and path.parent.name == name[2:4]
                and path.parent.parent.name == name[:2]
                and path.is_file()
            ):
                yield name

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
