"""Private keys sealed under a secret the server never stores."""

from __future__ import annotations

import unicodedata

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from signing.keystore import WeakSecret, WrongSecret, open_key, seal_key

SECRET = "ma phrase secrète ٢٠٢٦"


@pytest.fixture(scope="module")
def sealed_ec(pki) -> bytes:
    return seal_key(pki.signatory_ec.key, SECRET)


def test_round_trip_ec(pki, sealed_ec):
    opened = open_key(sealed_ec, SECRET)
    assert opened.private_numbers() == pki.signatory_ec.key.private_numbers()


def test_round_trip_rsa(pki):
    key = pki.signatory_rsa.key
    opened = open_key(seal_key(key, SECRET), SECRET)
    assert opened.private_numbers() == key.private_numbers()


def test_sealing_twice_gives_different_envelopes(pki, sealed_ec):
    assert seal_key(pki.signatory_ec.key, SECRET) != sealed_ec


def test_envelope_layout(sealed_ec):
    assert sealed_ec[:4] == b"DWNK"
    assert tuple(sealed_ec[4:9]) == (1, 1, 15, 8, 1)  # version, scrypt, log2(n), r, p


def test_wrong_secret(sealed_ec):
    with pytest.raises(WrongSecret):
        open_key(sealed_ec, SECRET + "!")
    with pytest.raises(WrongSecret):
        open_key(sealed_ec, "")


def test_secret_is_compared_after_unicode_normalisation(pki):
    composed = unicodedata.normalize("NFC", "Sécurité-2026")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    opened = open_key(seal_key(pki.signatory_ec.key, composed), decomposed)
    assert opened.private_numbers() == pki.signatory_ec.key.private_numbers()


# Offsets in the envelope: magic 0-3, version 4, kdf 5, log2(n) 6, r 7, p 8, salt 9-24,
# nonce 25-36, ciphertext and tag from 37.
@pytest.mark.parametrize(
    ("offset", "error", "message"),
    [
        (0, ValueError, "unknown format"),
        (3, ValueError, "unknown format"),
        (4, ValueError, "unsupported version"),
        (5, ValueError, "unsupported version"),
        (6, WrongSecret, "wrong signing secret"),  # log2(n) 15 -> 14: another key
        (7, WrongSecret, "wrong signing secret"),  # r 8 -> 9
        (8, ValueError, "out-of-range"),  # p 1 -> 0
        (9, WrongSecret, "wrong signing secret"),
        (24, WrongSecret, "wrong signing secret"),
        (25, WrongSecret, "wrong signing secret"),
        (36, WrongSecret, "wrong signing secret"),
        (37, WrongSecret, "wrong signing secret"),
        (100, WrongSecret, "wrong signing secret"),
        (-17, WrongSecret, "wrong signing secret"),  # last ciphertext byte
        (-1, WrongSecret, "wrong signing secret"),  # last tag byte
    ],
)
def test_a_flipped_byte_is_detected(sealed_ec, offset, error, message):
    damaged = bytearray(sealed_ec)
    damaged[offset] ^= 0x01
    with pytest.raises(error, match=message):
        open_key(bytes(damaged), SECRET)


def test_truncated_or_extended_envelopes(sealed_ec):
    with pytest.raises(ValueError, match="too short"):
        open_key(sealed_ec[:40], SECRET)
    with pytest.raises(WrongSecret):
        open_key(sealed_ec[:-1], SECRET)
    with pytest.raises(WrongSecret):
        open_key(sealed_ec + b"\x00", SECRET)


def test_forged_work_factor_is_refused_before_any_work(sealed_ec):
    # scrypt with n = 2**30 would need 1 TiB: refused on sight.
    forged = bytearray(sealed_ec)
    forged[6] = 30
    with pytest.raises(ValueError, match="out-of-range"):
        open_key(bytes(forged), SECRET)


@pytest.mark.parametrize("holder", ["signatory_ec", "signatory_rsa"])
def test_the_key_is_not_in_clear(pki, holder):
    key = getattr(pki, holder).key
    blob = seal_key(key, SECRET)
    numbers = key.private_numbers()
    secret_integer = numbers.private_value if holder == "signatory_ec" else numbers.p
    secret_bytes = secret_integer.to_bytes((secret_integer.bit_length() + 7) // 8, "big")
    assert secret_bytes[:16] not in blob
    assert secret_bytes[-16:] not in blob
    pkcs8 = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    assert pkcs8[-32:] not in blob


@pytest.mark.parametrize("secret", ["", "1234567", "سر قصير"])
def test_weak_secret_is_refused(pki, secret):
    with pytest.raises(WeakSecret, match="at least 8 characters"):
        seal_key(pki.signatory_ec.key, secret)


def test_eight_characters_are_enough(pki):
    assert open_key(seal_key(pki.signatory_ec.key, "سر طويل!"), "سر طويل!")


def test_only_rsa_and_ec_keys_are_sealed():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    with pytest.raises(TypeError):
        seal_key(ed25519.Ed25519PrivateKey.generate(), SECRET)
