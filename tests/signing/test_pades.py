"""PAdES signing at every level, checked with pyHanko's validator trusting the demo CA."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fpdf import FPDF
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.api import CAdESSignedAttrSpec, GenericCommitment
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    SignatureCoverageLevel,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pypdf import PdfReader, PdfWriter

from signing.pades import (
    LEVELS,
    SigningError,
    UnreadablePdf,
    ValidationMaterial,
    add_document_timestamp,
    is_signed,
    last_timestamp_expiry,
    next_field_name,
    normalise,
    sign_pdf,
)
from signing.pki import Subject, build_crl, create_authority, generate_key, issue_certificate
from signing.signer import KeySigner, largest_signature
from signing.stamp import StampSpec
from signing.timestamps import LocalTimeStamper, http_timestamper
from signing.validation import validate
from tests.signing.conftest import as_asn1
from tests.testdata import TESTDATA, needs_testdata

PADES = "/ETSI.CAdES.detached"


def two_page_letter() -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in (1, 2):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {page}. " + "Objet : demande de renseignements. " * 40)
    return bytes(pdf.output())


@pytest.fixture(scope="module")
def letter() -> bytes:
    return two_page_letter()


@pytest.fixture(scope="module")
def timestamper(pki) -> LocalTimeStamper:
    return LocalTimeStamper(pki.tsa.certificate, pki.tsa.key, pki.tsa.chain)


@pytest.fixture(scope="module")
def material(pki) -> ValidationMaterial:
    return ValidationMaterial(trust_roots=tuple(pki.trust_roots), crls=(pki.crl,))


def signer_of(identity) -> KeySigner:
    return KeySigner(identity.key, identity.certificate, identity.chain)


def _reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf))


def _signature_statuses(pdf: bytes, validation_context):
    return [
        validate_pdf_signature(sig, validation_context())
        for sig in _reader(pdf).embedded_regular_signatures
    ]


def _timestamp_statuses(pdf: bytes, validation_context):
    return [
        validate_pdf_timestamp(sig, validation_context())
        for sig in _reader(pdf).embedded_timestamp_signatures
    ]


def _assert_trusted(status) -> None:
    assert status.intact, status.pretty_print_details()
    assert status.valid, status.pretty_print_details()
    assert status.trusted, status.pretty_print_details()


# --- every level, both key types -------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("key_kind", ["ec", "rsa"])
def test_each_level_validates(
    pki, letter, timestamper, material, validation_context, level, key_kind
):
    identity = pki.signatory_ec if key_kind == "ec" else pki.signatory_rsa

    signed = sign_pdf(
        letter,
        signer_of(identity),
        level=level,
        timestamper=timestamper,
        validation=material,
        reason="Approbation",
        location="Rabat",
    )

    reader = _reader(signed)
    [signature] = reader.embedded_regular_signatures
    assert signature.sig_object["/SubFilter"] == PADES
    assert signature.sig_object["/Reason"] == "Approbation"
    assert signature.sig_object["/Location"] == "Rabat"
    assert signature.field_name == "Signature1"
    [status] = _signature_statuses(signed, validation_context)
    _assert_trusted(status)
    assert status.signing_cert.dump() == as_asn1(identity.certificate).dump()
    if level in ("B-B", "B-T"):
        assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        assert status.modification_level == ModificationLevel.NONE
    else:
        # the DSS (and the document time-stamp) come after the signature
        assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        assert status.modification_level == ModificationLevel.LTA_UPDATES
    if level == "B-B":
        assert status.timestamp_validity is None
    else:
        _assert_trusted(status.timestamp_validity)
    dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
    if level in ("B-LT", "B-LTA"):
        embedded_crls = [c.get_object().data for c in dss.crls]
        assert as_asn1(pki.crl).dump() in embedded_crls
    else:
        assert dss is None
    timestamps = _timestamp_statuses(signed, validation_context)
    if level == "B-LTA":
        [doc_timestamp] = timestamps
        _assert_trusted(doc_timestamp)
        assert reader.embedded_timestamp_signatures[0].field_name == "Timestamp1"
    else:
        assert timestamps == []


def test_b_lt_carries_what_a_strict_offline_validator_needs(
    pki, letter, timestamper, material, validation_context
):
    signed = sign_pdf(
        letter,
        signer_of(pki.signatory_ec),
        level="B-LT",
        timestamper=timestamper,
        validation=material,
    )
    reader = _reader(signed)
    [signature] = reader.embedded_regular_signatures

    # revocation_mode "require": every certificate needs revocation data, found only in the DSS
    from_dss = DocumentSecurityStore.read_dss(reader).as_validation_context(
        {
            "trust_roots": [as_asn1(r) for r in pki.trust_roots],
            "allow_fetching": False,
            "revocation_mode": "require",
        }
    )
    status = validate_pdf_signature(signature, from_dss)
    _assert_trusted(status)
    # the same demand without the DSS fails: the CRL really is what made the difference
    status_without_dss = validate_pdf_signature(
        signature, validation_context(crls=[]), ts_validation_context=validation_context(crls=[])
    )
    assert not status_without_dss.trusted


def test_b_lta_renewal_twice_keeps_everything_valid(
    pki, letter, timestamper, material, validation_context
):
    signed = sign_pdf(
        letter,
        signer_of(pki.signatory_rsa),
        level="B-LTA",
        timestamper=timestamper,
        validation=material,
    )
    fresh_crl = build_crl(pki.authority, [], number=7)
    renewed_material = ValidationMaterial(trust_roots=tuple(pki.trust_roots), crls=(fresh_crl,))

    once = add_document_timestamp(signed, timestamper, renewed_material)
    twice = add_document_timestamp(once, timestamper, renewed_material)

    assert once.startswith(signed) and twice.startswith(once)
    [status] = _signature_statuses(twice, validation_context)
    _assert_trusted(status)
    assert status.modification_level == ModificationLevel.LTA_UPDATES
    timestamps = _timestamp_statuses(twice, validation_context)
    assert len(timestamps) == 3
    for timestamp in timestamps:
        _assert_trusted(timestamp)
        assert timestamp.modification_level in (
            ModificationLevel.NONE,
            ModificationLevel.LTA_UPDATES,
        )
    names = [t.field_name for t in _reader(twice).embedded_timestamp_signatures]
    assert names == ["Timestamp1", "Timestamp2", "Timestamp3"]
    # the renewal brought the newer CRL into the DSS
    dss_crls = [c.get_object().data for c in DocumentSecurityStore.read_dss(_reader(twice)).crls]
    assert as_asn1(fresh_crl).dump() in dss_crls


def test_a_b_lt_document_can_be_brought_to_lta(pki, letter, timestamper, material):
    signed = sign_pdf(
        letter,
        signer_of(pki.signatory_ec),
        level="B-LT",
        timestamper=timestamper,
        validation=material,
    )
    assert last_timestamp_expiry(signed) is None

    stamped = add_document_timestamp(signed, timestamper, material)

    assert len(_reader(stamped).embedded_timestamp_signatures) == 1


def test_last_timestamp_expiry_is_the_tsa_certificate_end(pki, letter, timestamper, material):
    signed = sign_pdf(
        letter,
        signer_of(pki.signatory_ec),
        level="B-LTA",
        timestamper=timestamper,
        validation=material,
    )

    assert last_timestamp_expiry(signed) == pki.tsa.certificate.not_valid_after_utc
    assert last_timestamp_expiry(letter) is None
    with pytest.raises(UnreadablePdf):
        last_timestamp_expiry(b"garbage")


# --- visible stamp ---------------------------------------------------------------------------

STAMP = StampSpec(
    page=1,
    box=(330, 60, 560, 140),
    lines=("وقعه: فاطمة الزهراء", "المديرة", "Signé le 23/11/2026"),
    qr_url="https://diwan.example/v/ABC123",
)


def _widgets(pdf: bytes) -> list[tuple[int, dict]]:
    """(page index, widget) for every signature widget on every page."""
    reader = PdfReader(io.BytesIO(pdf))
    found = []
    for index, page in enumerate(reader.pages):
        for annotation in page.get("/Annots") or ():
            widget = annotation.get_object()
            if widget.get("/FT") == "/Sig":
                found.append((index, widget))
    return found


@pytest.mark.parametrize("key_kind", ["ec", "rsa"])
def test_a_visible_stamp_sits_in_its_box_on_its_page(
    pki, letter, timestamper, validation_context, key_kind
):
    identity = pki.signatory_ec if key_kind == "ec" else pki.signatory_rsa

    signed = sign_pdf(
        letter, signer_of(identity), level="B-T", timestamper=timestamper, stamp=STAMP
    )

    [(page_index, widget)] = _widgets(signed)
    assert page_index == STAMP.page
    assert [float(v) for v in widget["/Rect"]] == list(STAMP.box)
    assert widget["/AP"]["/N"].get_object().get_data()  # an appearance is drawn
    assert widget["/T"] == "Signature1"
    [status] = _signature_statuses(signed, validation_context)
    _assert_trusted(status)
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE


def test_an_invisible_signature_has_an_empty_rectangle(pki, letter):
    signed = sign_pdf(letter, signer_of(pki.signatory_ec))

    [(_, widget)] = _widgets(signed)
    assert [float(v) for v in widget["/Rect"]] == [0, 0, 0, 0]


def test_a_stamp_on_a_page_the_document_lacks_is_a_signing_error(pki, letter):
    beyond = StampSpec(page=2, box=STAMP.box, lines=("Signé",))

    with pytest.raises(SigningError, match="Page"):
        sign_pdf(letter, signer_of(pki.signatory_ec), stamp=beyond)


# --- Diwan's own strict validator agrees --------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_diwans_strict_validator_finds_each_level_valid(pki, letter, timestamper, material, level):
    signed = sign_pdf(
        letter,
        signer_of(pki.signatory_rsa),
        level=level,
        timestamper=timestamper,
        validation=material,
        stamp=STAMP,
    )

    report = validate(signed, trust_roots=pki.trust_roots, crls=[pki.crl])

    assert report["verdict"] == "VALID", report


def test_diwans_strict_validator_finds_a_renewed_twice_signed_document_valid(
    pki, letter, timestamper, material
):
    first = sign_pdf(
        letter,
        signer_of(pki.signatory_ec),
        level="B-LTA",
        timestamper=timestamper,
        validation=material,
    )
    second = sign_pdf(first, signer_of(pki.seal), level="B-T", timestamper=timestamper)
    renewed = add_document_timestamp(second, timestamper, material)

    report = validate(renewed, trust_roots=pki.trust_roots, crls=[pki.crl])

    assert report["verdict"] == "VALID", report
    assert len(report["signatures"]) == 2
    assert len(report["document_timestamps"]) == 2


# --- incremental updates and normalisation ----------------------------------------------------


def test_the_signature_is_appended_to_the_normalised_input(pki, letter):
    normalised = normalise(letter)

    signed = sign_pdf(letter, signer_of(pki.signatory_ec))

    assert signed.startswith(normalised)
    assert len(signed) > len(normalised)


def test_a_document_signed_twice_keeps_both_signatures_valid(
    pki, letter, timestamper, validation_context
):
    first = sign_pdf(letter, signer_of(pki.signatory_ec), level="B-T", timestamper=timestamper)
    second = sign_pdf(first, signer_of(pki.signatory_rsa), level="B-T", timestamper=timestamper)

    assert second.startswith(first)  # the signed file was not rewritten
    earlier, later = _signature_statuses(second, validation_context)
    _assert_trusted(earlier)
    _assert_trusted(later)
    assert earlier.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert earlier.modification_level == ModificationLevel.FORM_FILLING
    assert later.coverage == SignatureCoverageLevel.ENTIRE_FILE
    names = [s.field_name for s in _reader(second).embedded_regular_signatures]
    assert names == ["Signature1", "Signature2"]


def test_a_second_signature_on_a_b_lta_document_keeps_the_chain_valid(
    pki, letter, timestamper, material, validation_context
):
    first = sign_pdf(
        letter,
        signer_of(pki.signatory_ec),
        level="B-LTA",
        timestamper=timestamper,
        validation=material,
    )
    second = sign_pdf(
        first, signer_of(pki.seal), level="B-LTA", timestamper=timestamper, validation=material
    )

    for status in _signature_statuses(second, validation_context):
        _assert_trusted(status)
    for status in _timestamp_statuses(second, validation_context):
        _assert_trusted(status)
    assert [t.field_name for t in _reader(second).embedded_timestamp_signatures] == [
        "Timestamp1",
        "Timestamp2",
    ]


def _shift_every_object(pdf: bytes) -> bytes:
    """Insert bytes after the header: every xref offset is now wrong."""
    header_end = pdf.index(b"\n") + 1
    return pdf[:header_end] + b"%" + b"x" * 40 + b"\n" + pdf[header_end:]


def test_a_damaged_xref_is_repaired_before_signing(pki, letter, validation_context):
    damaged = _shift_every_object(letter)
    # the damage is real: pyHanko alone refuses this file
    with pytest.raises(PdfReadError):
        IncrementalPdfFileWriter(io.BytesIO(damaged)).root["/Pages"].get_object()

    signed = sign_pdf(damaged, signer_of(pki.signatory_ec))

    [status] = _signature_statuses(signed, validation_context)
    _assert_trusted(status)
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert len(PdfReader(io.BytesIO(signed)).pages) == 2


def test_normalise_flattens_unsigned_incremental_history(letter):
    incremental = PdfWriter(io.BytesIO(letter), incremental=True)
    incremental.add_metadata({"/Title": "Version 2"})
    output = io.BytesIO()
    incremental.write(output)
    history = output.getvalue()
    assert history.count(b"%%EOF") == 2

    normalised = normalise(history)

    assert normalised.count(b"%%EOF") == 1
    assert PdfReader(io.BytesIO(normalised)).metadata["/Title"] == "Version 2"


def test_an_already_signed_document_is_not_rewritten(pki, letter):
    signed = sign_pdf(letter, signer_of(pki.signatory_ec))

    assert is_signed(signed)
    assert not is_signed(letter)
    assert normalise(signed) == signed


@needs_testdata
def test_a_signature_from_elsewhere_survives_our_signature(pki, validation_context):
    theirs = (TESTDATA / "signature/dss/pdf-signed-original.pdf").read_bytes()
    assert is_signed(theirs)

    signed = sign_pdf(theirs, signer_of(pki.signatory_ec))

    assert signed.startswith(theirs)
    reader = _reader(signed)
    their_signature, our_signature = reader.embedded_regular_signatures
    their_status = validate_pdf_signature(their_signature, validation_context())
    assert their_status.intact and their_status.valid  # not trusted: their test CA is not ours
    assert their_status.modification_level == ModificationLevel.FORM_FILLING
    _assert_trusted(validate_pdf_signature(our_signature, validation_context()))


@needs_testdata
def test_a_signed_document_pyhanko_cannot_read_is_refused_not_repaired(pki):
    # A valid two-signature file whose xref sections pyHanko's strict reader rejects: repairing
    # it with pypdf would destroy both signatures, so it is refused.
    theirs = (TESTDATA / "signature/dss/hello_signed_INCSAVE_signed.pdf").read_bytes()

    assert normalise(theirs) is theirs
    with pytest.raises(UnreadablePdf):
        sign_pdf(theirs, signer_of(pki.signatory_ec))


def _encrypted(letter: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(letter)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


@pytest.mark.parametrize(
    "make_input",
    [
        pytest.param(lambda letter: b"", id="empty"),
        pytest.param(lambda letter: b"this is not a PDF", id="garbage"),
        pytest.param(lambda letter: letter[: len(letter) // 3], id="truncated"),
        pytest.param(lambda letter: b"%PDF-1.7\n%%EOF\n", id="header-only"),
        pytest.param(_encrypted, id="encrypted"),
    ],
)
def test_unreadable_input_is_refused(pki, letter, make_input):
    bad = make_input(letter)

    with pytest.raises(UnreadablePdf):
        sign_pdf(bad, signer_of(pki.signatory_ec))
    with pytest.raises(UnreadablePdf):
        normalise(bad)


@needs_testdata
@pytest.mark.parametrize(
    "name", ["issue-119.pdf", "issue-120.pdf", "issue-147.pdf", "pages-loop.pdf", "issue-100.pdf"]
)
def test_broken_files_from_qpdf_are_refused(pki, name):
    broken = (TESTDATA / "extraction/qpdf" / name).read_bytes()

    with pytest.raises(UnreadablePdf):
        sign_pdf(broken, signer_of(pki.signatory_ec))


def _corpus(*categories: str) -> list[str]:
    manifest = TESTDATA / "manifest.tsv"
    if not manifest.is_file():
        return []
    rows = manifest.read_text(encoding="utf-8").splitlines()[1:]
    return [row.split("\t")[0] for row in rows if row.split("\t")[1] in categories]


@needs_testdata
@pytest.mark.parametrize("path", _corpus("signature", "extraction"))
def test_every_corpus_file_is_signed_or_refused_cleanly(pki, path):
    # Attack and damaged files from other projects: signing either works, keeping a signed
    # input byte for byte, or says UnreadablePdf / SigningError; nothing else escapes.
    original = (TESTDATA / path).read_bytes()
    try:
        signed = sign_pdf(original, signer_of(pki.signatory_ec))
    except (UnreadablePdf, SigningError):
        return
    if is_signed(original):
        assert signed.startswith(original)
    # The newest CMS in the file is ours. Found in the bytes: some of these files carry earlier
    # signatures, or form trees, that pyHanko's reader cannot enumerate.
    newest_contents = re.findall(rb"/Contents\s*<([0-9a-fA-F]{2000,})>", signed)[-1]
    signed_data = cms.ContentInfo.load(bytes.fromhex(newest_contents.decode()))["content"]
    signer_id = signed_data["signer_infos"][0]["sid"].chosen
    assert signer_id["serial_number"].native == pki.signatory_ec.certificate.serial_number


# --- refusals ---------------------------------------------------------------------------------


def test_level_requirements_are_checked_before_anything_else(pki, letter, timestamper):
    signer = signer_of(pki.signatory_ec)
    with pytest.raises(ValueError, match="level"):
        sign_pdf(letter, signer, level="B-LTV")
    with pytest.raises(ValueError, match="time-stamping"):
        sign_pdf(letter, signer, level="B-T")
    with pytest.raises(ValueError, match="validation material"):
        sign_pdf(letter, signer, level="B-LT", timestamper=timestamper)


def test_b_lt_refuses_a_revoked_signatory(
    pki, letter, timestamper, revoked_signatory, crl_with_revocation
):
    material = ValidationMaterial(trust_roots=tuple(pki.trust_roots), crls=(crl_with_revocation,))

    with pytest.raises(SigningError, match="could not be validated"):
        sign_pdf(
            letter,
            signer_of(revoked_signatory),
            level="B-LT",
            timestamper=timestamper,
            validation=material,
        )
    # with the same material, an unrevoked signatory signs
    sign_pdf(
        letter,
        signer_of(pki.signatory_ec),
        level="B-LT",
        timestamper=timestamper,
        validation=material,
    )


def test_b_lt_refuses_when_the_crl_is_missing(pki, letter, timestamper):
    without_crl = ValidationMaterial(trust_roots=tuple(pki.trust_roots))

    with pytest.raises(SigningError):
        sign_pdf(
            letter,
            signer_of(pki.signatory_ec),
            level="B-LT",
            timestamper=timestamper,
            validation=without_crl,
        )


def test_b_lt_refuses_an_expired_signatory(pki, letter, timestamper, material, expired_signatory):
    with pytest.raises(SigningError):
        sign_pdf(
            letter,
            signer_of(expired_signatory),
            level="B-LT",
            timestamper=timestamper,
            validation=material,
        )


@pytest.fixture(scope="module")
def foreign_tsa() -> LocalTimeStamper:
    """A TSA certified by an authority Diwan does not trust."""
    authority = create_authority(Subject(common_name="Autre autorité"))
    key = generate_key("ec-p256")
    certificate = issue_certificate(
        authority,
        Subject(common_name="Autre TSA"),
        key.public_key(),
        purpose="timestamping",
        crl_url=None,
    )
    return LocalTimeStamper(certificate, key, (authority.certificate,))


def test_b_lt_refuses_a_tsa_it_cannot_validate(pki, letter, material, foreign_tsa):
    with pytest.raises(SigningError):
        sign_pdf(
            letter,
            signer_of(pki.signatory_ec),
            level="B-LT",
            timestamper=foreign_tsa,
            validation=material,
        )


def test_renewal_refuses_a_chain_whose_last_timestamp_does_not_validate(
    pki, letter, timestamper, material
):
    signed = sign_pdf(
        letter,
        signer_of(pki.signatory_ec),
        level="B-LTA",
        timestamper=timestamper,
        validation=material,
    )
    without_crl = ValidationMaterial(trust_roots=tuple(pki.trust_roots))
    trusting_someone_else = ValidationMaterial(
        trust_roots=(pki.signatory_rsa.certificate,), crls=(pki.crl,)
    )

    for bad in (without_crl, trusting_someone_else):
        with pytest.raises(SigningError, match="does not validate"):
            add_document_timestamp(signed, timestamper, bad)


def test_an_unreachable_tsa_is_a_signing_error(pki, letter):
    with pytest.raises(SigningError):
        sign_pdf(
            letter,
            signer_of(pki.signatory_ec),
            level="B-T",
            timestamper=http_timestamper("http://127.0.0.1:9/tsa", timeout=2),
        )


def test_a_filled_field_cannot_be_signed_again(pki, letter):
    signed = sign_pdf(letter, signer_of(pki.signatory_ec), field_name="Directeur")

    with pytest.raises(SigningError):
        sign_pdf(signed, signer_of(pki.signatory_rsa), field_name="Directeur")


def test_a_named_field_and_signer_name_are_used(pki, letter):
    signed = sign_pdf(letter, signer_of(pki.signatory_ec), field_name="Directeur", name="F. Z.")

    [signature] = _reader(signed).embedded_regular_signatures
    assert signature.field_name == "Directeur"
    assert signature.sig_object["/Name"] == "F. Z."


def test_next_field_name_skips_taken_names():
    assert next_field_name([], "Signature") == "Signature1"
    assert next_field_name(["Signature1", "Signature3"], "Signature") == "Signature2"
    assert next_field_name(["Signature1", "Signature2"], "Timestamp") == "Timestamp1"


# --- the signer -------------------------------------------------------------------------------


def test_one_signer_signs_many_documents_at_different_levels(
    pki, letter, timestamper, material, validation_context
):
    # KeySigner reuses its dry-run CMS between signatures: changing level must not break that.
    signer = signer_of(pki.signatory_rsa)
    for level in ("B-B", "B-T", "B-B", "B-LTA", "B-T"):
        signed = sign_pdf(letter, signer, level=level, timestamper=timestamper, validation=material)
        [status] = _signature_statuses(signed, validation_context)
        _assert_trusted(status)
        assert (status.timestamp_validity is None) == (level == "B-B")


def _cms(signer, *, dry_run=True, timestamper=None, settings=None):
    return asyncio.run(
        signer.async_sign(
            hashlib.sha256(b"document").digest(),
            "sha256",
            dry_run=dry_run,
            use_pades=True,
            timestamper=timestamper,
            signed_attr_settings=settings,
        )
    )


def test_a_dry_run_is_reused_only_for_the_same_request(pki, timestamper):
    signer = signer_of(pki.signatory_ec)
    plain = _cms(signer)

    assert _cms(signer) is plain
    with_tsa = _cms(signer, timestamper=timestamper)
    assert with_tsa is not plain
    assert len(with_tsa.dump()) > len(plain.dump())  # room for the signature time-stamp
    committed = PdfCMSSignedAttributes(
        cades_signed_attrs=CAdESSignedAttrSpec(
            commitment_type=GenericCommitment.PROOF_OF_APPROVAL.asn1
        )
    )
    assert _cms(signer, settings=committed) is not _cms(signer, settings=committed)
    real = _cms(signer, dry_run=False)
    assert real is not plain and real is not _cms(signer, dry_run=False)


def test_the_signing_certificate_attribute_names_the_signer(pki, letter):
    signed = sign_pdf(letter, signer_of(pki.signatory_rsa))

    [signature] = _reader(signed).embedded_regular_signatures
    attributes = {a["type"].native: a["values"][0] for a in signature.signer_info["signed_attrs"]}
    [reference] = attributes["signing_certificate_v2"]["certs"]
    certificate = as_asn1(pki.signatory_rsa.certificate)
    assert reference["cert_hash"].native == hashlib.sha256(certificate.dump()).digest()
    assert reference["issuer_serial"]["serial_number"].native == certificate.serial_number


def test_key_signer_refuses_a_key_of_another_certificate(pki):
    with pytest.raises(ValueError, match="does not belong"):
        KeySigner(pki.signatory_rsa.key, pki.signatory_ec.certificate)


def test_key_signer_refuses_unsupported_key_types(pki):
    with pytest.raises(TypeError):
        KeySigner(ed25519.Ed25519PrivateKey.generate(), pki.signatory_ec.certificate)


def test_the_size_placeholder_is_never_shorter_than_a_signature(pki):
    key = pki.signatory_ec.key
    placeholder = largest_signature(key)
    assert len(placeholder) == 72  # P-256: SEQUENCE of two 33-byte INTEGERs
    assert all(len(key.sign(bytes([i]), ec.ECDSA(hashes.SHA256()))) <= 72 for i in range(64))
    assert len(largest_signature(pki.signatory_rsa.key)) == 256


def test_signing_time_is_now(pki, letter):
    signed = sign_pdf(letter, signer_of(pki.signatory_ec))

    [signature] = _reader(signed).embedded_regular_signatures
    assert abs(signature.self_reported_timestamp - datetime.now(UTC)) < timedelta(minutes=1)
