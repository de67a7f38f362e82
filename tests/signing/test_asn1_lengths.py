"""asn1crypto 1.5.1 re-encoded every value whose definite length ends in octet 0x80 as if it
were BER's indefinite length (wbond/asn1crypto#249): signatures sometimes took half a minute.
signing.asn1_lengths fixes the test; a real indefinite length is still re-encoded to DER."""

from __future__ import annotations

import pytest
from asn1crypto import cms, core

import signing  # noqa: F401 - importing signing applies the fix
from signing import asn1_lengths


@pytest.mark.parametrize(
    ("header", "indefinite"),
    [
        (b"\x30\x80", True),  # SEQUENCE, indefinite
        (b"\x30\x81\x80", False),  # 128 bytes
        (b"\x30\x82\x01\x80", False),  # 384 bytes
        (b"\xa0\x82\x01\x80\x30\x80", True),  # explicit [0] definite, inner indefinite
        (b"\xa0\x80\x30\x81\x80", False),  # explicit [0] indefinite, inner definite
        (b"\x9f\x1f\x80", True),  # high tag number form, indefinite
        (b"\x04\x05", False),
    ],
)
def test_only_a_single_0x80_length_octet_is_indefinite(header, indefinite):
    assert asn1_lengths.ends_with_indefinite_length(header) is indefinite


def test_a_definite_length_ending_in_0x80_is_not_re_encoded():
    # 128 bytes with a (non-minimal) two-octet length: kept as received, like any other value.
    encoded = b"\x04\x82\x00\x80" + b"a" * 128
    assert core.OctetString.load(encoded).dump() == encoded


def test_an_indefinite_length_is_still_re_encoded_as_der():
    ber = b"\x24\x80\x04\x03abc\x00\x00"  # constructed OCTET STRING, indefinite length
    assert core.OctetString.load(ber).dump() == b"\x04\x03abc"


def test_structures_with_such_lengths_dump_to_the_same_bytes():
    data = cms.ContentInfo({"content_type": "data", "content": core.OctetString(b"x" * 380)}).dump()
    assert cms.ContentInfo.load(data).dump() == data
    assert cms.ContentInfo.load(data).dump(force=True) == data


def test_the_fix_is_applied_once():
    assert core._diwan_lengths_fixed is True
    assert asn1_lengths.apply() == 0
