"""An encrypted, authenticated byte stream for backup archives (framework-free).

Layout::

    header   b"DIWANBK1" | log2(N) r p (1 byte each) | salt (16) | check (32)
    records  flag (1: 0 = more follow, 1 = last) | length (4, big-endian) | AES-256-GCM ciphertext

The passphrase goes through scrypt (N = 2**17, r = 8, p = 1: about half a second and 128 MiB
once per archive) into 64 bytes: an AES-256 key and a key for `check`, an HMAC of the header
that tells a wrong passphrase apart from a damaged archive before anything is decrypted.
Each record holds at most CHUNK bytes of plain text, so neither side ever holds the archive in
memory. Its nonce is the record's number and its flag (the STREAM construction), and the
header is its associated data: records cannot be reordered, dropped, replayed from another
archive or cut off after any record but the last without the reader noticing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"DIWANBK1"
CHUNK = 1024 * 1024
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 17, 8, 1
_PARAMS = struct.Struct(">BBB")
_RECORD = struct.Struct(">BI")
_TAG = 16
HEADER_SIZE = len(MAGIC) + _PARAMS.size + 16 + 32


class SealedError(Exception):
    """The archive cannot be opened."""


class WrongPassphrase(SealedError):
    pass


class DamagedArchive(SealedError):
    pass


def _keys(passphrase: str, log_n: int, r: int, p: int, salt: bytes) -> tuple[bytes, bytes]:
    if not 14 <= log_n <= 22 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise DamagedArchive("the archive's header is damaged (key derivation parameters)")
    derived = Scrypt(salt=salt, length=64, n=2**log_n, r=r, p=p).derive(passphrase.encode())
    return derived[:32], derived[32:]


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class SealedWriter:
    """A write-only file object: whatever is written comes out encrypted into `out`."""

    def __init__(self, out: BinaryIO, passphrase: str) -> None:
        salt = os.urandom(16)
        params = _PARAMS.pack(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
        key, check_key = _keys(passphrase, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, salt)
        head = MAGIC + params + salt
        self.header = head + hmac.new(check_key, head, hashlib.sha256).digest()
        self._aead = AESGCM(key)
        self._out = out
        self._buffer = bytearray()
        self._counter = 0
        self.closed = False
        out.write(self.header)

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed archive")
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep at least one byte back for the last record
            self._record(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _record(self, plain: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._counter, last), plain, self.header)
        self._out.write(_RECORD.pack(1 if last else 0, len(sealed)) + sealed)
        self._counter += 1

    def close(self) -> None:
        """Write the last record (the only one flagged so); the caller closes `out`."""
        if not self.closed:
            self._record(bytes(self._buffer), last=True)
            self._buffer.clear()
            self.closed = True

    def flush(self) -> None:  # tarfile calls it; records are written as they fill
        pass


class SealedReader:
    """A read-only file object over an archive written by SealedWriter; every byte it returns
    has been authenticated. Call `finish()` after the last read: it checks that the archive
    ends with its last record and nothing after it."""

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        header = source.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
            raise DamagedArchive("not a Diwan backup archive (or its header is damaged)")
        params = header[len(MAGIC) : len(MAGIC) + _PARAMS.size]
        salt = header[len(MAGIC) + _PARAMS.size : -32]
        key, check_key = _keys(passphrase, *_PARAMS.unpack(params), salt)
        expected = hmac.new(check_key, header[:-32], hashlib.sha256).digest()
        if not hmac.compare_digest(expected, header[-32:]):
            raise WrongPassphrase("wrong passphrase (or the archive's header is damaged)")
        self.header = header
        self._aead = AESGCM(key)
        self._source = source
        self._buffer = b""
        self._position = 0
        self._counter = 0
        self._ended = False

    def _next_record(self) -> None:
        head = self._source.read(_RECORD.size)
        if len(head) < _RECORD.size:
            raise DamagedArchive("the archive is cut short")
        flag, length = _RECORD.unpack(head)
        if flag > 1 or not _TAG <= length <= CHUNK + _TAG:
            raise DamagedArchive(f"the archive is damaged at record {self._counter}")
        sealed = self._source.read(length)
        if len(sealed) < length:
            raise DamagedArchive("the archive is cut short")
        try:
            plain = self._aead.decrypt(_nonce(self._counter, flag == 1), sealed, self.header)
        except InvalidTag:
            raise DamagedArchive(
                f"the archive was altered or damaged (record {self._counter} fails its check)"
            ) from None
        self._buffer, self._position = plain, 0
        self._counter += 1
        self._ended = flag == 1

    def read(self, size: int = -1) -> bytes:
        parts = []
        while size != 0:
            if self._position >= len(self._buffer):
                if self._ended:
                    break
                self._next_record()
                continue
            end = len(self._buffer) if size < 0 else min(len(self._buffer), self._position + size)
            parts.append(self._buffer[self._position : end])
            size -= end - self._position if size > 0 else 0
            self._position = end
        return b"".join(parts)

    def finish(self) -> None:
        """Read what is left (tar's padding), then require the end of the archive."""
        while self.read(CHUNK):
            pass
        if self._source.read(1):
            raise DamagedArchive("the archive has data after its last record")
