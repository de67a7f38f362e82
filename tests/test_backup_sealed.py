"""The backup archive's encrypted stream: records authenticated one by one, so a record
dropped, moved, cut off or added is refused, and a wrong passphrase is told apart."""

from __future__ import annotations

import io
import os

import pytest

from app.backup import sealed

PASSPHRASE = "sept mots pour un registre sûr"


def _records(data: bytes) -> list[bytes]:
    """The archive's records, each with its flag and length."""
    records, position = [], sealed.HEADER_SIZE
    while position < len(data):
        length = int.from_bytes(data[position + 1 : position + 5], "big")
        records.append(data[position : position + 5 + length])
        position += 5 + length
    return records


def test_sealed_records_cannot_be_dropped_reordered_or_cut(monkeypatch):
    monkeypatch.setattr(sealed, "CHUNK", 1024)
    monkeypatch.setattr(sealed, "SCRYPT_LOG_N", 14)  # the header carries it: quicker here
    plain = os.urandom(5 * 1024 + 100)
    out = io.BytesIO()
    writer = sealed.SealedWriter(out, PASSPHRASE)
    for start in range(0, len(plain), 700):  # writes that do not line up with records
        writer.write(plain[start : start + 700])
    writer.close()
    data = out.getvalue()
    header, records = data[: sealed.HEADER_SIZE], _records(data)
    assert len(records) == 6 and records[-1][0] == 1 and all(r[0] == 0 for r in records[:-1])

    def read(blob: bytes) -> bytes:
        reader = sealed.SealedReader(io.BytesIO(blob), PASSPHRASE)
        content = reader.read()
        reader.finish()
        return content

    assert read(data) == plain
    with pytest.raises(sealed.WrongPassphrase):
        sealed.SealedReader(io.BytesIO(data), "another passphrase")
    damaged = {
        "dropped": header + b"".join(records[:2] + records[3:]),
        "reordered": header + b"".join([records[1], records[0], *records[2:]]),
        "cut at a record": header + b"".join(records[:-1]),
        "trailing data": data + b"\0",
        "last flag moved": header
        + b"".join(records[:4])
        + b"\x01"
        + records[4][1:],  # claims to end early
    }
    for what, blob in damaged.items():
        with pytest.raises(sealed.DamagedArchive):
            read(blob)
            pytest.fail(what)
