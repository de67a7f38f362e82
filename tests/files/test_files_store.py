"""Content-addressed store: round trip, atomicity, no overwrite, corruption detection."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from app.files.store import (
    CorruptFile,
    FileStore,
    FileStoreError,
    FileTooLarge,
    MissingFile,
)

DATA = "Diwan object رسالة ".encode() * 10_000  # several 64 KiB chunks
SHA = hashlib.sha256(DATA).hexdigest()


class BrokenStream(io.RawIOBase):
    """Yields ``good`` bytes, then fails like a dropped connection."""

    def __init__(self, good: bytes) -> None:
        self.good = good
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.good:
            chunk, self.good = self.good[:size], self.good[size:]
            return chunk
        raise ConnectionResetError("client went away")


class EndlessStream(io.RawIOBase):
    """An upload that never ends; counts what was read from it."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.bytes_read += size
        return b"x" * size


def corrupt(store: FileStore, sha: str, data: bytes = b"bit rot") -> None:
    path = store.path(sha)
    os.chmod(path, 0o644)
    path.write_bytes(data)


def objects(store: FileStore) -> list[Path]:
    return [p for p in store.objects_dir.rglob("*") if p.is_file()]


def test_round_trip(store: FileStore) -> None:
    staged = store.stage(io.BytesIO(DATA), max_bytes=len(DATA))
    assert (staged.sha256, staged.size, staged.head) == (SHA, len(DATA), DATA[:2048])
    assert store.commit(staged) == SHA
    assert store.path(SHA) == store.root / "objects" / SHA[:2] / SHA[2:4] / SHA
    assert store.exists(SHA) and store.verify(SHA)
    assert store.open_verified(SHA) == DATA
    assert b"".join(store.stream_verified(SHA, 1000)) == DATA
    assert store.ensure_verified(SHA) == store.path(SHA)
    assert list(store.iter_hashes()) == [SHA]
    assert store.verify_all() == []
    assert not staged.path.exists() and list(store.tmp_dir.iterdir()) == []


def test_objects_are_read_only(store: FileStore) -> None:
    sha = store.put_bytes(b"read only")
    assert stat.S_IMODE(store.path(sha).stat().st_mode) == 0o444


def test_put_bytes_of_empty_content(store: FileStore) -> None:
    sha = store.put_bytes(b"")
    assert sha == hashlib.sha256(b"").hexdigest()
    assert store.open_verified(sha) == b""


def test_failing_stream_leaves_nothing(store: FileStore) -> None:
    with pytest.raises(ConnectionResetError):
        store.stage(BrokenStream(DATA[:100_000]), max_bytes=len(DATA))
    assert list(store.tmp_dir.iterdir()) == []
    assert objects(store) == []


def test_too_large_stops_reading_early(store: FileStore) -> None:
    stream = EndlessStream()
    with pytest.raises(FileTooLarge) as info:
        store.stage(stream, max_bytes=1_000_000)
    assert isinstance(info.value, FileStoreError)
    assert stream.bytes_read <= 1_000_000 + 1
    assert list(store.tmp_dir.iterdir()) == []


def test_exactly_max_bytes_is_accepted(store: FileStore) -> None:
    staged = store.stage(io.BytesIO(b"12345"), max_bytes=5)
    assert staged.size == 5
    staged.discard()
    staged.discard()  # idempotent
    with pytest.raises(FileTooLarge):
        store.stage(io.BytesIO(b"123456"), max_bytes=5)


def test_commit_never_overwrites_a_good_object(store: FileStore) -> None:
    store.put_bytes(DATA)
    before = store.path(SHA).stat()
    assert store.put_bytes(DATA) == SHA
    after = store.path(SHA).stat()
    assert before.st_ino == after.st_ino and store.open_verified(SHA) == DATA  # same file
    # Reuse refreshes its time only, so the orphan sweep sees it as just used.
    assert after.st_mtime_ns >= before.st_mtime_ns
    assert list(store.tmp_dir.iterdir()) == []


def test_commit_repairs_a_corrupt_object(store: FileStore) -> None:
    store.put_bytes(DATA)
    corrupt(store, SHA)
    assert not store.verify(SHA)
    assert store.put_bytes(DATA) == SHA
    assert store.open_verified(SHA) == DATA
    assert stat.S_IMODE(store.path(SHA).stat().st_mode) == 0o444


def test_corruption_is_detected(store: FileStore) -> None:
    good = store.put_bytes(b"good")
    store.put_bytes(DATA)
    corrupt(store, SHA)
    with pytest.raises(CorruptFile):
        store.open_verified(SHA)
    with pytest.raises(CorruptFile):
        list(store.stream_verified(SHA))
    with pytest.raises(CorruptFile):
        store.ensure_verified(SHA)
    assert store.verify(good) and not store.verify(SHA)
    problems = store.verify_all()
    assert [sha for sha, _ in problems] == [SHA]
    assert "hash mismatch" in problems[0][1]


def test_missing_object(store: FileStore) -> None:
    assert not store.exists(SHA) and not store.verify(SHA)
    with pytest.raises(MissingFile):
        store.open_verified(SHA)
    with pytest.raises(MissingFile):
        next(store.stream_verified(SHA))
    with pytest.raises(MissingFile):
        store.ensure_verified(SHA)


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "../../etc/passwd",
        SHA.upper(),
        SHA[:63],
        SHA + "0",
        "g" * 64,
        f"{SHA[:62]}/.",
        f"{SHA}\n",
        "",
        None,
        b"0" * 64,
    ],
)
def test_path_rejects_anything_but_a_lowercase_sha256(store: FileStore, bad: object) -> None:
    with pytest.raises(ValueError):
        store.path(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.exists(bad)  # type: ignore[arg-type]


def test_iter_hashes_ignores_stray_files(store: FileStore) -> None:
    sha = store.put_bytes(b"one")
    (store.objects_dir / "README").write_text("not an object")
    misplaced = store.objects_dir / "00" / "00" / hashlib.sha256(b"two").hexdigest()
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(b"two")
    assert list(store.iter_hashes()) == [sha]


def test_temp_path_and_purge_staging(store: FileStore) -> None:
    leftover = store.temp_path(".pdf")
    assert leftover.parent == store.tmp_dir and leftover.exists()
    assert store.purge_staging(older_than_s=3600) == 0
    os.utime(leftover, (0, 0))
    assert store.purge_staging(older_than_s=3600) == 1
    assert not leftover.exists()
