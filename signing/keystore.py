"""Private keys sealed under a secret: the signatory's signing secret (never stored by the server),
or, for the server's own keys (CA, seal, TSA), a secret the caller derives from its SECRET_KEY.

Envelope, version 1 (all integers big-endian):

    magic "DWNK" | version 1 | kdf 1 (scrypt) | log2(n) | r | p | salt (16) | nonce (12)
    | ciphertext with its 16-byte tag

The ciphertext is AES-256-GCM over the key's unencrypted PKCS#8 DER, under a key derived with
scrypt from the secret; everything before it is authenticated data, so the stored parameters
cannot be altered without detection.
"""

from __future__ import annotations

import os
import struct
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from signing.pki import PrivateKey

MAGIC = b"DWNK"
VERSION = 1
KDF_SCRYPT = 1
SCRYPT_LOG2_N = 15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
NONCE_BYTES = 12
MIN_SECRET_LENGTH = 8

_HEADER = struct.Struct(f">4sBBBBB{SALT_BYTES}s{NONCE_BYTES}s")
_TAG_BYTES = 16
# Bounds on parameters read back, so a damaged or forged envelope cannot make scrypt take
# gigabytes of memory (scrypt needs 128 * r * n bytes) or minutes of work.
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
_MAX_P = 4


class WrongSecret(ValueError):
    """The secret does not open this key (or the sealed key was altered)."""


class WeakSecret(ValueError):
    """The secret is too short to protect a signing key."""


def _secret_bytes(secret: str) -> bytes:
    # The same secret typed on different keyboards may arrive composed or decomposed.
    return unicodedata.normalize("NFC", secret).encode("utf-8")


def _derive(secret: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p).derive(_secret_bytes(secret))


def seal_key(key: PrivateKey, secret: str) -> bytes:
    """The key encrypted under `secret`, as a versioned envelope safe to store."""
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError("only RSA and elliptic-curve private keys can be sealed")
    if len(unicodedata.normalize("NFC", secret)) < MIN_SECRET_LENGTH:
        raise WeakSecret(f"the signing secret must be at least {MIN_SECRET_LENGTH} characters long")
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    header = _HEADER.pack(
        MAGIC, VERSION, KDF_SCRYPT, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, salt, nonce
    )
    plaintext = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    aead_key = _derive(secret, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    return header + AESGCM(aead_key).encrypt(nonce, plaintext, header)


def open_key(blob: bytes, secret: str) -> PrivateKey:
    """The key sealed in `blob`; WrongSecret if `secret` is wrong or the blob was altered,
    ValueError if the blob is not an envelope this version understands."""
    if len(blob) < _HEADER.size + _TAG_BYTES:
        raise ValueError("not a sealed key: too short")
    magic, version, kdf, log2_n, r, p, salt, nonce = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise ValueError("not a sealed key: unknown format")
    if version != VERSION or kdf != KDF_SCRYPT:
        raise ValueError(f"sealed key of unsupported version {version} (key derivation {kdf})")
    if min(log2_n, r, p) < 1 or p > _MAX_P or 128 * r * 2**log2_n > _MAX_SCRYPT_MEMORY:
        raise ValueError("sealed key with out-of-range key-derivation parameters")
    header = blob[: _HEADER.size]
    aead_key = _derive(secret, salt, log2_n, r, p)
    try:
        plaintext = AESGCM(aead_key).decrypt(nonce, blob[_HEADER.size :], header)
    except InvalidTag:
        raise WrongSecret("wrong signing secret") from None
    # GCM has authenticated these bytes as the ones seal_key wrote from a valid key object, so
    # the costly RSA consistency check (about 150 ms) would prove nothing more.
    key = serialization.load_der_private_key(
        plaintext, password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("the sealed key is neither RSA nor elliptic-curve")
    return key
