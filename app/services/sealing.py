"""Small secrets kept encrypted under a key derived from the installation's SECRET_KEY.

One derived key per purpose (HKDF-SHA256, info ``diwan-<purpose>-v1``), Fernet for the
encryption (AES-128-CBC with HMAC-SHA256): a TOTP secret in the users table, or an enrolment's
pending secret in the signed (not encrypted) session cookie. Changing SECRET_KEY makes what was
sealed under the old one unreadable (InvalidToken).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["InvalidToken", "seal", "unseal"]


def _fernet(secret_key: str, purpose: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"diwan-{purpose}-v1".encode()
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, purpose: str, plaintext: str) -> str:
    return _fernet(secret_key, purpose).encrypt(plaintext.encode()).decode()


def unseal(secret_key: str, purpose: str, sealed: str) -> str:
    """Raises InvalidToken when the text was altered or sealed under another key or purpose."""
    return _fernet(secret_key, purpose).decrypt(sealed.encode()).decode()
