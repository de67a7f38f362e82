"""Signing with keys held in a PKCS#11 token (SoftHSM2), validated by pyHanko."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

import pkcs11 as p11
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pypdf import PdfWriter

from signing.keystore import WrongSecret
from signing.pkcs11 import generate_keypair, open_signer, store_certificate, token_signer
from signing.pki import (
    RevokedEntry,
    Subject,
    UnsuitableCertificate,
    build_crl,
    generate_key,
    issue_certificate,
)


def blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def sign(signer) -> bytes:
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(blank_pdf())),
        signers.PdfSignatureMetadata(field_name="Sig1", subfilter=SigSeedSubFilter.PADES),
        signer=signer,
    )
    return out.getvalue()


def enrol(pki, token, key_label: str, kind: str):
    """A key pair made in the token, certified by the demo CA, the certificate stored beside."""
    module, label, pin = token
    public_key = generate_keypair(
        module, token_label=label, pin=pin, key_label=key_label, kind=kind
    )
    certificate = issue_certificate(
        pki.authority,
        Subject(common_name="فاطمة الزهراء", title="مديرة"),
        public_key,
        purpose="signatory",
        crl_url=pki.crl_url,
    )
    store_certificate(
        module, token_label=label, pin=pin, key_label=key_label, certificate=certificate
    )
    return certificate


@pytest.mark.parametrize("kind", ["ec-p256", "rsa-2048"])
def test_sign_a_pdf_with_a_token_key(pki, tmp_softhsm, validation_context, kind):
    module, label, pin = tmp_softhsm
    certificate = enrol(pki, tmp_softhsm, "signatory", kind)
    signer = open_signer(
        module,
        token_label=label,
        pin=pin,
        key_label="signatory",
        certificate=certificate,
        chain=[pki.authority.certificate],
    )
    try:
        signed = sign(signer)
    finally:
        signer.pkcs11_session.close()

    (embedded,) = PdfFileReader(BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(embedded, signer_validation_context=validation_context())
    assert status.intact and status.valid
    assert status.trusted and status.bottom_line
    assert status.signing_cert.serial_number == certificate.serial_number


def test_the_stored_certificate_is_used_when_none_is_given(pki, tmp_softhsm, validation_context):
    module, label, pin = tmp_softhsm
    certificate = enrol(pki, tmp_softhsm, "signatory", "ec-p256")
    with token_signer(module, token_label=label, pin=pin, key_label="signatory") as signer:
        signed = sign(signer)
    (embedded,) = PdfFileReader(BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(embedded, signer_validation_context=validation_context())
    assert status.bottom_line
    assert status.signing_cert.serial_number == certificate.serial_number


def test_a_revoked_token_certificate_does_not_validate(pki, tmp_softhsm, validation_context):
    module, label, pin = tmp_softhsm
    certificate = enrol(pki, tmp_softhsm, "signatory", "ec-p256")
    crl = build_crl(
        pki.authority,
        [RevokedEntry(serial=certificate.serial_number, revoked_at=datetime.now(UTC))],
        number=5,
    )
    with token_signer(module, token_label=label, pin=pin, key_label="signatory") as signer:
        signed = sign(signer)
    (embedded,) = PdfFileReader(BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(embedded, signer_validation_context=validation_context([crl]))
    assert status.intact and status.valid
    assert not status.bottom_line


def test_the_private_key_cannot_leave_the_token(pki, tmp_softhsm):
    module, label, pin = tmp_softhsm
    generate_keypair(module, token_label=label, pin=pin, key_label="signatory")
    session = p11.lib(module).get_token(token_label=label).open(user_pin=pin)
    try:
        key = session.get_key(object_class=p11.ObjectClass.PRIVATE_KEY, label="signatory")
        assert key[p11.Attribute.SENSITIVE] and not key[p11.Attribute.EXTRACTABLE]
        with pytest.raises(p11.exceptions.AttributeSensitive):
            key[p11.Attribute.VALUE]
    finally:
        session.close()


def test_storing_again_replaces_the_certificate(pki, tmp_softhsm):
    module, label, pin = tmp_softhsm
    first = enrol(pki, tmp_softhsm, "signatory", "ec-p256")
    renewed = issue_certificate(
        pki.authority,
        Subject(common_name="فاطمة الزهراء", title="مديرة عامة"),
        first.public_key(),
        purpose="signatory",
        crl_url=pki.crl_url,
    )
    store_certificate(
        module, token_label=label, pin=pin, key_label="signatory", certificate=renewed
    )
    with token_signer(module, token_label=label, pin=pin, key_label="signatory") as signer:
        assert signer.signing_cert.serial_number == renewed.serial_number
    session = p11.lib(module).get_token(token_label=label).open(user_pin=pin)
    try:
        certificates = list(
            session.get_objects(
                {
                    p11.Attribute.CLASS: p11.ObjectClass.CERTIFICATE,
                    p11.Attribute.LABEL: "signatory",
                }
            )
        )
        key = session.get_key(object_class=p11.ObjectClass.PRIVATE_KEY, label="signatory")
        assert len(certificates) == 1
        assert certificates[0][p11.Attribute.ID] == key[p11.Attribute.ID]
    finally:
        session.close()


def test_wrong_pin(pki, tmp_softhsm):
    module, label, pin = tmp_softhsm
    enrol(pki, tmp_softhsm, "signatory", "ec-p256")
    with pytest.raises(WrongSecret, match="wrong PIN"):
        open_signer(module, token_label=label, pin=pin + "0", key_label="signatory")
    with pytest.raises(WrongSecret):
        store_certificate(
            module,
            token_label=label,
            pin="000000",
            key_label="signatory",
            certificate=pki.signatory_ec.certificate,
        )


def test_missing_module_token_key_or_certificate(pki, tmp_softhsm):
    module, label, pin = tmp_softhsm
    with pytest.raises(LookupError, match="no PKCS#11 module"):
        open_signer("/nonexistent/libp11.so", token_label=label, pin=pin, key_label="k")
    with pytest.raises(LookupError, match="no token labelled 'other'"):
        open_signer(module, token_label="other", pin=pin, key_label="k")
    with pytest.raises(LookupError, match="no private key labelled 'k'"):
        open_signer(module, token_label=label, pin=pin, key_label="k")
    generate_keypair(module, token_label=label, pin=pin, key_label="k")
    with pytest.raises(LookupError, match="no certificate labelled 'k'"):
        open_signer(module, token_label=label, pin=pin, key_label="k")
    with pytest.raises(LookupError, match="no private key labelled 'nope'"):
        store_certificate(
            module,
            token_label=label,
            pin=pin,
            key_label="nope",
            certificate=pki.signatory_ec.certificate,
        )


def test_a_certificate_for_another_key_is_refused(pki, tmp_softhsm):
    module, label, pin = tmp_softhsm
    generate_keypair(module, token_label=label, pin=pin, key_label="k")
    foreign = issue_certificate(
        pki.authority,
        Subject(common_name="Jean Dupont"),
        generate_key().public_key(),
        purpose="signatory",
        crl_url=None,
    )
    with pytest.raises(UnsuitableCertificate, match="does not belong"):
        store_certificate(module, token_label=label, pin=pin, key_label="k", certificate=foreign)
    with pytest.raises(UnsuitableCertificate, match="does not belong"):
        open_signer(module, token_label=label, pin=pin, key_label="k", certificate=foreign)


def test_generating_refuses_a_taken_label_or_unknown_kind(tmp_softhsm):
    module, label, pin = tmp_softhsm
    generate_keypair(module, token_label=label, pin=pin, key_label="k")
    with pytest.raises(ValueError, match="already holds a key labelled 'k'"):
        generate_keypair(module, token_label=label, pin=pin, key_label="k", kind="rsa-2048")
    with pytest.raises(ValueError, match="unknown key kind"):
        generate_keypair(module, token_label=label, pin=pin, key_label="j", kind="ec-p384")
