"""Reading an archive back: decrypted and authenticated record by record, each member checked
against the manifest (its name expected, its size and SHA-256 equal, none missing, none twice).
`verify` reads into nothing; restore reads into a staging directory."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import BinaryIO

from app.backup.create import FORMAT, KEYS, MANIFEST, BackupError, object_member
from app.backup.sealed import SealedError, SealedReader
from app.files.store import CHUNK_SIZE

MAX_MANIFEST = 512 * 1024 * 1024
_SHA = re.compile(r"[0-9a-f]{64}")
DATABASE_MEMBERS = {"database/diwan.sqlite3", "database/diwan.pgdump"}

# Given a member's name, where to write it (a context manager giving a binary file) or None.
Sink = Callable[[str], AbstractContextManager[BinaryIO] | None]


def _expected(manifest: dict) -> dict[str, tuple[str, int]]:
    """Every member after the manifest: name -> (sha256, size)."""
    try:
        if manifest.get("format") != FORMAT:
            raise BackupError(f"unknown archive format {manifest.get('format')!r}")
        expected = {}
        if (
            manifest["database"]["member"] not in DATABASE_MEMBERS
            or manifest["keys"]["member"] != KEYS
        ):
            raise BackupError("the manifest names unexpected entries")
        for part in (manifest["database"], manifest["keys"]):
            expected[part["member"]] = (part["sha256"], int(part["size"]))
        for sha, size in manifest["files"]["objects"]:
            if not isinstance(sha, str) or not _SHA.fullmatch(sha):
                raise BackupError("the manifest names a file that is not a SHA-256")
            expected[object_member(sha)] = (sha, int(size))
    except (KeyError, TypeError, ValueError) as error:
        raise BackupError(f"the manifest is incomplete ({error})") from error
    return expected


def read_archive(path: Path, passphrase: str, sink: Sink | None = None) -> dict:
    """Read and check the whole archive; return its manifest. Raises BackupError."""
    try:
        with open(path, "rb") as raw:
            reader = SealedReader(raw, passphrase)
            manifest = _read_members(reader, sink or (lambda name: None))
            reader.finish()
    except FileNotFoundError:
        raise BackupError(f"no archive at {path}") from None
    except SealedError as error:
        raise BackupError(str(error)) from error
    except tarfile.TarError as error:
        raise BackupError(f"the archive's contents are damaged ({error})") from error
    return manifest


def _read_members(reader: SealedReader, sink: Sink) -> dict:
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        first = tar.next()
        if first is None or first.name != MANIFEST or not first.isfile():
            raise BackupError("the archive does not start with its manifest")
        if first.size > MAX_MANIFEST:
            raise BackupError("the manifest is too large")
        try:
            manifest = json.loads(tar.extractfile(first).read())
        except ValueError as error:
            raise BackupError("the manifest is not valid JSON") from error
        expected = _expected(manifest)
        while (member := tar.next()) is not None:
            if member.name not in expected or not member.isfile():
                raise BackupError(f"unexpected entry in the archive: {member.name!r}")
            sha, size = expected.pop(member.name)
            if member.size != size:
                raise BackupError(f"{member.name}: {member.size} bytes, the manifest says {size}")
            target = sink(member.name) or nullcontext(None)
            with target as out:
                actual = _copy(tar.extractfile(member), out)
            if actual != sha:
                raise BackupError(f"{member.name} does not match the SHA-256 in the manifest")
    if expected:
        raise BackupError(f"{len(expected)} entries of the manifest are missing from the archive")
    return manifest


def _copy(source: BinaryIO, out: BinaryIO | None) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
    return digest.hexdigest()
