"""signing.validation's strict verdicts on documents we sign here, and signing.isolation's child.

The files are made with the demo PKI of conftest.py; every change after signing is a real
incremental update written with pyHanko, as another tool would append it.
"""

from __future__ import annotations

import io
import os
import signal
from datetime import UTC, datetime, timedelta

import pytest
from fpdf import FPDF
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm

from signing import isolation
from signing.pades import ValidationMaterial, sign_pdf
from signing.pki import Subject, create_authority
from signing.signer import KeySigner
from signing.timestamps import LocalTimeStamper
from signing.validation import REASONS, VERDICTS, validate, verdict_of

TEXT = b"Objet : demande de renseignements"


def letter(*, with_text_field: bool = False) -> bytes:
    pdf = FPDF()
    pdf.set_compression(False)  # the text stays readable in the file, to tamper with it
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=TEXT.decode())
    document = bytes(pdf.output())
    return add_text_field(document) if with_text_field else document


def signer_of(identity) -> KeySigner:
    return KeySigner(identity.key, identity.certificate, identity.chain)


def incremental(pdf: bytes, change) -> bytes:
    """`pdf` with one more revision: `change(writer)` edits objects through pyHanko's writer."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def first_page(writer):
    return writer.root["/Pages"]["/Kids"][0]


def add_text_field(pdf: bytes) -> bytes:
    def change(writer):
        page_ref = first_page(writer)
        field = writer.add_object(
            generic.DictionaryObject(
                {
                    generic.NameObject("/Type"): generic.NameObject("/Annot"),
                    generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
                    generic.NameObject("/FT"): generic.NameObject("/Tx"),
                    generic.NameObject("/T"): generic.pdf_string("Nom"),
                    generic.NameObject("/V"): generic.pdf_string(""),
                    generic.NameObject("/Rect"): generic.ArrayObject(
                        [generic.NumberObject(n) for n in (50, 700, 250, 720)]
                    ),
                    generic.NameObject("/P"): page_ref,
                }
            )
        )
        page = page_ref.get_object()
        page[generic.NameObject("/Annots")] = generic.ArrayObject([field])
        writer.update_container(page)
        writer.root[generic.NameObject("/AcroForm")] = generic.DictionaryObject(
            {generic.NameObject("/Fields"): generic.ArrayObject([field])}
        )
        writer.update_root()

    return incremental(pdf, change)


def add_annotation(pdf: bytes, **extra) -> bytes:
    """A sticky note appended to the first page's /Annots, as a PDF reader adds a comment."""

    def change(writer):
        page_ref = first_page(writer)
        note = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject(extra.pop("subtype", "/Text")),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (300, 700, 320, 720)]
                ),
                generic.NameObject("/Contents"): generic.pdf_string("Vu, à classer"),
                generic.NameObject("/P"): page_ref,
            }
        )
        for key, value in extra.items():
            note[generic.NameObject("/" + key)] = value
        note_ref = writer.add_object(note)
        page = page_ref.get_object()
        annots = page.get("/Annots", generic.ArrayObject())
        page[generic.NameObject("/Annots")] = generic.ArrayObject([*annots, note_ref])
        writer.update_container(page)

    return incremental(pdf, change)


@pytest.fixture(scope="module")
def signed(pki) -> bytes:
    return sign_pdf(letter(), signer_of(pki.signatory_ec))


@pytest.fixture(scope="module")
def timestamper(pki) -> LocalTimeStamper:
    return LocalTimeStamper(pki.tsa.certificate, pki.tsa.key, pki.tsa.chain)


def only_signature(report: dict) -> dict:
    [signature] = report["signatures"]
    return signature


# --- VALID, and what the report says --------------------------------------------------------------


def test_a_b_b_signature_trusted_is_valid_and_described(pki, signed):
    report = validate(signed, trust_roots=pki.trust_roots)

    assert report["verdict"] == "VALID", report
    assert report["reasons"] == []
    assert report["pages"] == 1
    assert report["document_timestamps"] == []
    signature = only_signature(report)
    assert signature["signer"]["common_name"] == "فاطمة الزهراء"
    assert "CN=فاطمة الزهراء" in signature["signer"]["subject"]
    assert signature["level"] == "B-B"
    assert signature["intact"] and signature["valid"] and signature["trusted"]
    assert signature["coverage"] == "entire-file"
    assert signature["modifications"] == "none"
    assert signature["docmdp_ok"] is True
    assert signature["chain"][0] == pki.signatory_ec.certificate.subject.rfc4514_string()
    assert signature["chain"][-1] == pki.authority.certificate.subject.rfc4514_string()
    assert signature["revocation"] == "not-checked"  # no CRL of its CA was given
    claimed = datetime.fromisoformat(signature["signing_time"])
    assert abs(claimed - datetime.now(UTC)) < timedelta(minutes=10)
    assert signature["timestamp_time"] is None


def test_the_report_is_json_ready_and_names_only_known_verdicts_and_reasons(pki, signed):
    import json

    report = validate(signed)

    assert json.loads(json.dumps(report)) == report
    assert report["verdict"] in VERDICTS
    assert set(report["reasons"]) <= set(REASONS)


def test_with_its_ca_crl_the_revocation_status_is_checked_and_good(pki, signed):
    report = validate(signed, trust_roots=pki.trust_roots, crls=[pki.crl])

    assert report["verdict"] == "VALID", report
    assert only_signature(report)["revocation"] == "good"


def test_a_stale_crl_of_the_signers_ca_makes_the_status_unknown(pki, signed):
    # Validated as of a week and a day from now: the demo CRL's next update has passed.
    later = datetime.now(UTC) + timedelta(days=8)

    report = validate(signed, trust_roots=pki.trust_roots, crls=[pki.crl], now=later)

    assert report["verdict"] == "INDETERMINATE"
    assert report["reasons"] == ["revocation-unknown"]
    assert only_signature(report)["revocation"] == "unknown"


def test_without_its_root_the_same_file_is_indeterminate_untrusted(pki, signed):
    stranger = create_authority(Subject(common_name="Autre autorité", country="MA"))

    for roots in ([], [stranger.certificate]):
        report = validate(signed, trust_roots=roots)

        assert report["verdict"] == "INDETERMINATE"
        assert report["reasons"] == ["untrusted"]
        signature = only_signature(report)
        assert signature["intact"] and signature["valid"]
        assert signature["trusted"] is False
        assert signature["chain"] == [pki.signatory_ec.certificate.subject.rfc4514_string()]


@pytest.mark.parametrize("level", ["B-T", "B-LT", "B-LTA"])
def test_time_stamped_levels_are_recognised_and_valid(pki, timestamper, level):
    material = ValidationMaterial(trust_roots=tuple(pki.trust_roots), crls=(pki.crl,))
    signed = sign_pdf(
        letter(),
        signer_of(pki.signatory_rsa),
        level=level,
        timestamper=timestamper,
        validation=material,
    )

    report = validate(signed, trust_roots=pki.trust_roots, crls=[pki.crl])

    assert report["verdict"] == "VALID", report
    signature = only_signature(report)
    assert signature["level"] == level
    assert signature["timestamp_time"] is not None
    assert len(report["document_timestamps"]) == (1 if level == "B-LTA" else 0)
    for stamp in report["document_timestamps"]:
        assert stamp["verdict"] == "VALID" and stamp["signer"]["common_name"] == "Diwan TSA"


def test_two_signatures_are_both_listed_and_valid(pki, signed):
    twice = sign_pdf(signed, signer_of(pki.signatory_rsa))

    report = validate(twice, trust_roots=pki.trust_roots)

    assert report["verdict"] == "VALID", report
    first, second = report["signatures"]
    assert first["signer"]["common_name"] == "فاطمة الزهراء"
    assert second["signer"]["common_name"] == "Jean Dupont"
    # A signature field created and signed later is a later signature, not form filling.
    assert first["coverage"] == "entire-revision"
    assert first["modifications"] == "lta-updates"
    assert second["coverage"] == "entire-file"


# --- INVALID --------------------------------------------------------------------------------------


def test_a_byte_changed_inside_the_signed_range_is_invalid(pki, signed):
    assert signed.count(TEXT) == 1
    tampered = signed.replace(TEXT, TEXT.replace(b"demande", b"refus!!"))

    report = validate(tampered, trust_roots=pki.trust_roots)

    assert report["verdict"] == "INVALID"
    assert "not-intact" in report["reasons"]
    assert only_signature(report)["intact"] is False


def test_bytes_appended_after_eof_are_not_valid(pki, signed):
    # pyHanko itself finds the signature complete: it tolerates a kilobyte after %%EOF.
    report = validate(signed + b"\n% appended after the signature\n", trust_roots=pki.trust_roots)

    assert report["verdict"] == "INVALID"
    assert report["reasons"] == ["modified-after-signing"]
    assert only_signature(report)["modifications"] == "other"
    # White-space after %%EOF is not data.
    assert validate(signed + b"\r\n\n", trust_roots=pki.trust_roots)["verdict"] == "VALID"


def test_bytes_covered_by_a_signature_are_not_trailing_data(pki, signed):
    appended = signed + b"% a comment the next signer signs\n"

    report = validate(sign_pdf(appended, signer_of(pki.signatory_rsa)), trust_roots=pki.trust_roots)

    assert report["verdict"] == "VALID", report


def test_a_page_content_change_in_a_later_revision_is_invalid(pki, signed):
    def change(writer):
        page = first_page(writer).get_object()
        page[generic.NameObject("/Contents")] = writer.add_object(
            generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (Refus) Tj ET")
        )
        writer.update_container(page)

    report = validate(incremental(signed, change), trust_roots=pki.trust_roots)

    assert report["verdict"] == "INVALID"
    assert report["reasons"] == ["modified-after-signing"]
    assert only_signature(report)["modifications"] == "other"


def test_a_revoked_signer_is_invalid(pki, revoked_signatory, crl_with_revocation):
    signed = sign_pdf(letter(), signer_of(revoked_signatory))

    report = validate(signed, trust_roots=pki.trust_roots, crls=[crl_with_revocation])

    assert report["verdict"] == "INVALID"
    assert report["reasons"] == ["revoked"]
    assert only_signature(report)["revocation"] == "revoked"
    # With a CRL that does not list it, the same signature is valid.
    assert validate(signed, trust_roots=pki.trust_roots, crls=[pki.crl])["verdict"] == "VALID"


def test_a_signature_made_after_the_certificate_expired_is_invalid(pki, expired_signatory):
    signed = sign_pdf(letter(), signer_of(expired_signatory))

    report = validate(signed, trust_roots=pki.trust_roots)

    assert report["verdict"] == "INVALID"
    assert "expired" in report["reasons"]


def test_a_certificate_expired_since_signing_without_a_time_stamp_is_indeterminate(pki, signed):
    # The demo signatory certificates are valid for three years.
    later = datetime.now(UTC) + timedelta(days=4 * 365)

    report = validate(signed, trust_roots=pki.trust_roots, now=later)

    assert report["verdict"] == "INDETERMINATE"
    assert report["reasons"] == ["expired-since-signing"]


def test_a_change_a_certification_signature_forbids_is_invalid(pki):
    certified = sign_with_pyhanko(
        letter(),
        pki.signatory_ec,
        certify=True,
        docmdp_permissions=MDPPerm.FILL_FORMS,
    )

    report = validate(add_annotation(certified), trust_roots=pki.trust_roots)

    assert report["verdict"] == "INVALID"
    assert report["reasons"] == ["docmdp-violation"]
    assert only_signature(report)["modifications"] == "annotations"


def sign_with_pyhanko(pdf: bytes, identity, *, field: str = "Signature1", **metadata) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name=field, subfilter=fields.SigSeedSubFilter.PADES, **metadata
    )
    return signers.PdfSigner(meta, signer_of(identity)).sign_pdf(writer).getvalue()


# --- REVIEW ---------------------------------------------------------------------------------------


def test_a_field_filled_after_signing_is_to_review(pki):
    signed = sign_pdf(letter(with_text_field=True), signer_of(pki.signatory_ec))

    def fill(writer):
        field = writer.root["/AcroForm"]["/Fields"][0].get_object()
        field[generic.NameObject("/V")] = generic.pdf_string("Karim")
        writer.update_container(field)

    report = validate(incremental(signed, fill), trust_roots=pki.trust_roots)

    assert report["verdict"] == "REVIEW"
    assert report["reasons"] == ["form-filled"]
    assert only_signature(report)["modifications"] == "form-filling"


def test_a_comment_added_after_signing_is_to_review(pki, signed):
    report = validate(add_annotation(signed), trust_roots=pki.trust_roots)

    assert report["verdict"] == "REVIEW", report
    assert report["reasons"] == ["annotations-added"]
    assert only_signature(report)["modifications"] == "annotations"


def test_an_annotation_that_acts_or_is_not_markup_is_not_a_permitted_change(pki, signed):
    javascript = generic.DictionaryObject(
        {
            generic.NameObject("/S"): generic.NameObject("/JavaScript"),
            generic.NameObject("/JS"): generic.pdf_string("app.alert('x')"),
        }
    )
    with_action = add_annotation(signed, A=javascript)
    link = add_annotation(signed, subtype="/Link")

    for changed in (with_action, link):
        report = validate(changed, trust_roots=pki.trust_roots)

        assert report["verdict"] == "INVALID"
        assert report["reasons"] == ["modified-after-signing"]


def test_an_annotation_slipped_in_with_another_change_is_invalid(pki, signed):
    def rotate(writer):
        page = first_page(writer).get_object()
        page[generic.NameObject("/Rotate")] = generic.NumberObject(90)
        writer.update_container(page)

    report = validate(incremental(add_annotation(signed), rotate), trust_roots=pki.trust_roots)

    assert report["verdict"] == "INVALID"
    assert report["reasons"] == ["modified-after-signing"]


def test_a_name_tree_added_with_a_comment_must_be_annotation_appearances_only(pki, signed):
    def names(tree_key: str):
        def change(writer):
            appearance = writer.add_object(
                generic.StreamObject(
                    {
                        generic.NameObject("/Type"): generic.NameObject("/XObject"),
                        generic.NameObject("/Subtype"): generic.NameObject("/Form"),
                        generic.NameObject("/BBox"): generic.ArrayObject(
                            [generic.NumberObject(n) for n in (0, 0, 20, 20)]
                        ),
                    },
                    stream_data=b"0 0 1 rg 0 0 20 20 re f",
                )
            )
            tree = generic.DictionaryObject(
                {
                    generic.NameObject("/Names"): generic.ArrayObject(
                        [generic.pdf_string("icon"), appearance]
                    )
                }
            )
            writer.root[generic.NameObject("/Names")] = generic.DictionaryObject(
                {generic.NameObject(tree_key): writer.add_object(tree)}
            )
            writer.update_root()

        return change

    # Annotation tools add the icons of their comments under /Names /AP: a permitted change.
    icons = incremental(add_annotation(signed), names("/AP"))
    assert validate(icons, trust_roots=pki.trust_roots)["reasons"] == ["annotations-added"]
    # The same shape under /JavaScript (run when the document opens) is not.
    scripts = incremental(add_annotation(signed), names("/JavaScript"))
    report = validate(scripts, trust_roots=pki.trust_roots)
    assert report["verdict"] == "INVALID"
    assert report["reasons"] == ["modified-after-signing"]


def test_filling_a_prepared_signature_field_is_to_review(pki):
    def prepare(writer):
        fields.append_signature_field(
            writer, fields.SigFieldSpec("Visa2", on_page=0, box=(300, 50, 500, 100))
        )

    prepared = incremental(letter(), prepare)
    first = sign_with_pyhanko(prepared, pki.signatory_ec, field="Visa1")
    second = sign_with_pyhanko(first, pki.signatory_rsa, field="Visa2")

    report = validate(second, trust_roots=pki.trust_roots)

    # The later signature is valid, but the first signer saw an empty field there.
    assert report["verdict"] == "REVIEW"
    assert report["reasons"] == ["form-filled"]
    assert [s["verdict"] for s in report["signatures"]] == ["REVIEW", "VALID"]


# --- UNSIGNED and INDETERMINATE -------------------------------------------------------------------


def test_an_unsigned_pdf_is_unsigned():
    report = validate(letter())

    assert report["verdict"] == "UNSIGNED"
    assert report["reasons"] == [] and report["signatures"] == []
    assert report["pages"] == 1


@pytest.mark.parametrize("garbage", [b"", b"not a pdf at all", b"%PDF-1.7\n" + os.urandom(300)])
def test_garbage_is_indeterminate_unreadable(garbage):
    report = validate(garbage)

    assert report["verdict"] == "INDETERMINATE"
    assert report["reasons"] == ["unreadable"]
    assert len(report["sha256"]) == 64


def test_a_signature_of_a_kind_we_cannot_check_is_indeterminate(pki, signed):
    pades = b"/ETSI.CAdES.detached"
    other = b"/adbe.x509.rsa_sha1 "  # same length: the byte ranges stay where they were
    assert signed.count(pades) == 1 and len(pades) == len(other)

    report = validate(signed.replace(pades, other), trust_roots=pki.trust_roots)

    assert report["verdict"] == "INDETERMINATE"
    assert report["reasons"] == ["unsupported-signature"]
    assert only_signature(report)["field"] == "Signature1"


def test_an_exception_from_the_library_is_indeterminate(pki, signed, monkeypatch):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("pyHanko fell over")

    monkeypatch.setattr("signing.validation.async_validate_pdf_signature", broken)

    report = validate(signed, trust_roots=pki.trust_roots)

    assert report["verdict"] == "INDETERMINATE"
    assert report["reasons"] == ["library-error"]
    assert only_signature(report)["detail"] == "RuntimeError"


def test_running_out_of_memory_is_indeterminate_resources(signed, monkeypatch):
    def exhausted(_pdf):
        raise MemoryError

    monkeypatch.setattr("signing.validation._read", exhausted)

    report = validate(signed)

    assert report["verdict"] == "INDETERMINATE"
    assert report["reasons"] == ["resources"]


def test_a_naive_validation_time_is_refused_as_a_verdict_not_an_exception(signed):
    report = validate(signed, now=datetime(2026, 1, 1))  # naive: the point of the test

    assert report["verdict"] == "INDETERMINATE"
    assert report["reasons"] == ["library-error"]
    assert report["detail"] == "ValueError"


def test_validation_works_under_a_running_event_loop(pki, signed):
    import asyncio

    async def from_async_code() -> dict:
        return validate(signed, trust_roots=pki.trust_roots)

    assert asyncio.run(from_async_code())["verdict"] == "VALID"


def test_verdict_of_takes_the_worst_reason():
    assert verdict_of([]) == "VALID"
    assert verdict_of(["form-filled"]) == "REVIEW"
    assert verdict_of(["form-filled", "untrusted"]) == "INDETERMINATE"
    assert verdict_of(["untrusted", "not-intact"]) == "INVALID"
    # After a library failure, a finding of the same structural analysis is not proof.
    assert verdict_of(["library-error", "modified-after-signing"]) == "INDETERMINATE"
    assert verdict_of(["library-error", "not-intact"]) == "INVALID"
    with pytest.raises(KeyError):
        verdict_of(["no-such-reason"])


# --- validate_isolated ----------------------------------------------------------------------------


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF with a correct cross-reference table around the given object bodies (1, 2, ...)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def huge_signature_contents(hex_digits: int) -> bytes:
    """A signature whose /Contents pyHanko parses one hex digit at a time (about 1 s per
    million digits): a small upload that costs seconds of CPU."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            b"<< /FT /Sig /T (Signature1) /V 5 0 R >>",
            b"<< /Type /Sig /SubFilter /ETSI.CAdES.detached /ByteRange [0 0 0 0] /Contents <"
            + b"0" * hex_digits
            + b"> >>",
        ]
    )


def test_the_isolated_report_is_the_in_process_report(pki, signed):
    isolated = isolation.validate_isolated(signed, trust_roots=pki.trust_roots, crls=[pki.crl])
    in_process = validate(signed, trust_roots=pki.trust_roots, crls=[pki.crl])

    assert isolated["verdict"] == "VALID"
    assert isolated == in_process


def test_an_isolated_garbage_file_is_unreadable_not_a_crash():
    report = isolation.validate_isolated(b"%PDF-1.4\n\x00\xff garbage")

    assert report["verdict"] == "INDETERMINATE" and report["reasons"] == ["unreadable"]


def test_a_file_that_takes_too_long_is_stopped_as_a_timeout():
    hostile = huge_signature_contents(6_000_000)  # ~5 s of parsing

    report = isolation.validate_isolated(hostile, timeout=1)

    assert report["verdict"] == "INDETERMINATE"
    assert report["reasons"] == ["timeout"]
    assert report["signatures"] == []


def test_a_tiny_time_limit_stops_even_a_simple_file(signed):
    report = isolation.validate_isolated(signed, timeout=0.001)

    assert report["reasons"] == ["timeout"]


def test_the_memory_limit_is_set_and_exceeding_it_is_resources():
    assert isolation.probe_isolation(memory_mb=300)["rlimit_as"] == 300 * 1024 * 1024
    big = raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            b"<< /Length 30000000 >>\nstream\n" + os.urandom(30_000_000) + b"\nendstream",
        ]
    )

    starved = isolation.validate_isolated(big, memory_mb=150)

    assert starved["verdict"] == "INDETERMINATE"
    assert starved["reasons"] == ["resources"]
    # The same file within the default limit is simply unsigned.
    assert isolation.validate_isolated(big)["verdict"] == "UNSIGNED"


def test_the_child_inherits_no_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("DIWAN_SECRET_KEY", "do-not-leak")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    isolation.shutdown_pool()  # children started from now on see the variables above

    seen = isolation.probe_isolation()

    assert seen["environment"] == ["LC_ALL", "PATH"]
    assert seen["flags_isolated"] is True
    assert seen["cwd"] == "/"
    assert seen["rlimit_core"] == 0


def test_each_child_takes_one_job_and_has_a_cpu_limit():
    first = isolation.probe_isolation(timeout=5)
    second = isolation.probe_isolation(timeout=5)

    assert first["pid"] != second["pid"]
    # CPU already spent importing, plus the job's allowance (ceil(timeout)), plus rounding.
    assert 5 <= first["rlimit_cpu"] <= 5 + 5


def test_a_cpu_limit_signal_or_a_crash_is_reported_not_raised():
    assert isolation._interpret(-signal.SIGXCPU, b"", "")["failure"] == "timeout"
    assert isolation._interpret(isolation.EXIT_MEMORY, b"", "")["failure"] == "resources"
    assert isolation._interpret(-signal.SIGKILL, b"", "")["failure"] == "resources"
    crashed = isolation._interpret(-signal.SIGSEGV, b"", "Fatal Python error")
    assert crashed == {"failure": "resources", "detail": "killed by SIGSEGV; Fatal Python error"}
    assert isolation._interpret(0, b"{not json", "")["failure"] == "resources"


def test_the_pool_can_be_emptied_and_sized(signed):
    isolation.set_pool_size(0)
    try:
        assert isolation.validate_isolated(signed)["verdict"] == "INDETERMINATE"
        assert isolation._POOL._idle == []
    finally:
        isolation.set_pool_size(isolation.POOL_SIZE)
    with pytest.raises(ValueError):
        isolation.set_pool_size(-1)
    with pytest.raises(ValueError):
        isolation.validate_isolated(signed, timeout=0)
