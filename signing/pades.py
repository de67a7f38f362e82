"""PAdES signatures (ETSI.CAdES.detached) at levels B-B, B-T, B-LT and B-LTA, with pyHanko.

Every signature is an incremental update. A document that carries no signature yet is first
rewritten by pypdf (`normalise`: repairs xref damage, flattens earlier incremental updates); after
that, pyHanko is the only tool that writes the file, so earlier signatures stay valid.

Nothing here fetches from the network: B-LT and B-LTA embed the certificates and CRLs given in a
ValidationMaterial, and signing fails if they are not enough to check every certificate.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl as asn1_crl
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper, Signer
from pyhanko.sign.signers.pdf_signer import DSSContentSettings
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import async_validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader, PdfWriter

from signing.asyncio_bridge import run
from signing.signer import to_asn1
from signing.stamp import StampSpec, stamp_style

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
DIGEST = "sha256"
# A signature dictionary must sit uncompressed in the file (its /ByteRange names file offsets),
# so a document without these bytes carries no signature and one with them might.
SIGNATURE_MARKER = b"/ByteRange"


class _DropNoFetchingWarning(logging.Filter):
    """pyHanko warns on every B-LT signature that fetching is disabled: here that is the design
    (ValidationMaterial brings everything), so the warning would only bury real ones."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Validation/revocation info will be embedded")


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_DropNoFetchingWarning())


class UnreadablePdf(ValueError):
    """The input cannot be parsed (or is encrypted); it was not modified."""


class SigningError(RuntimeError):
    """The document was readable but could not be signed (certificate, TSA, field...)."""


@dataclass(frozen=True)
class ValidationMaterial:
    """What B-LT and B-LTA embed in the document security store; nothing is fetched."""

    trust_roots: tuple[x509.Certificate, ...]
    other_certs: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    def context(self) -> ValidationContext:
        # hard-fail: a certificate that names a CRL must be checked against one we were given.
        return ValidationContext(
            trust_roots=[to_asn1(c) for c in self.trust_roots],
            other_certs=[to_asn1(c) for c in self.other_certs],
            crls=[
                asn1_crl.CertificateList.load(c.public_bytes(serialization.Encoding.DER))
                for c in self.crls
            ],
            allow_fetching=False,
            revocation_mode="hard-fail",
        )


def _pypdf_reader(pdf: bytes) -> PdfReader:
    if not pdf:
        raise UnreadablePdf("the file is empty")
    try:
        reader = PdfReader(io.BytesIO(pdf), strict=False)
        encrypted = reader.is_encrypted
        if not encrypted:
            len(reader.pages)  # the page tree is where broken files usually fail
    except Exception as exc:  # pypdf raises many types (PdfReadError, ValueError, KeyError...)
        raise UnreadablePdf(f"this file is not a readable PDF ({exc})") from exc
    if encrypted:
        raise UnreadablePdf("this PDF is encrypted; an unprotected copy is needed to sign it")
    return reader


def _has_filled_signature_field(reader: PdfReader) -> bool:
    fields = reader.get_fields() or {}
    return any(f.get("/FT") == "/Sig" and f.get("/V") is not None for f in fields.values())


def is_signed(pdf: bytes) -> bool:
    """True when the document carries a signature or a document time-stamp (UnreadablePdf when
    it is not a PDF that can be read)."""
    if SIGNATURE_MARKER in pdf:
        return True
    return _has_filled_signature_field(_pypdf_reader(pdf))


def normalise(pdf: bytes) -> bytes:
    """A clean pypdf rewrite of an unsigned document; a signed one is returned unchanged."""
    if SIGNATURE_MARKER in pdf:
        return pdf
    reader = _pypdf_reader(pdf)
    if _has_filled_signature_field(reader):
        return pdf
    try:
        writer = PdfWriter(clone_from=reader)
        output = io.BytesIO()
        writer.write(output)
    except Exception as exc:  # a lenient read can still leave objects pypdf cannot write
        raise UnreadablePdf(f"this PDF is too damaged to be repaired ({exc})") from exc
    return output.getvalue()


def _incremental_writer(pdf: bytes) -> IncrementalPdfFileWriter:
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise UnreadablePdf(f"this PDF cannot be read for signing ({exc})") from exc
    if writer.security_handler is not None:
        raise UnreadablePdf("this PDF is encrypted; an unprotected copy is needed to sign it")
    return writer


def _reader(pdf: bytes) -> PdfFileReader:
    try:
        return PdfFileReader(io.BytesIO(pdf))
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise UnreadablePdf(f"this PDF cannot be read ({exc})") from exc


def _top_level_field_names(reader: PdfFileReader) -> set[str]:
    form = reader.root.get("/AcroForm")
    fields = form.get_object().get("/Fields") if form is not None else None
    fields = fields.get_object() if fields is not None else None
    if not isinstance(fields, ArrayObject):
        return set()
    names = set()
    for field in fields:
        field = field.get_object()
        if isinstance(field, DictionaryObject) and field.get("/T") is not None:
            names.add(str(field["/T"]))
    return names


def next_field_name(taken: Iterable[str], prefix: str) -> str:
    """`prefix` + the smallest number >= 1 that makes an unused name ("Signature1", ...)."""
    taken = set(taken)
    number = 1
    while f"{prefix}{number}" in taken:
        number += 1
    return f"{prefix}{number}"


def _refusal(what: str, exc: Exception) -> SigningError:
    """pyHanko refuses with its own errors, pyhanko_certvalidator's (untrusted, revoked), the
    TSA client's, and on unusual document structures with plain TypeError or AttributeError:
    for the caller all of them mean this document could not be signed (the cause is chained)."""
    return SigningError(f"the document could not be {what}: {exc}")


def _check_level(
    level: str, timestamper: TimeStamper | None, validation: ValidationMaterial | None
) -> None:
    if level not in LEVELS:
        raise ValueError(f"unknown PAdES level {level!r}; expected one of {', '.join(LEVELS)}")
    if level != "B-B" and timestamper is None:
        raise ValueError(f"PAdES {level} needs a time-stamping authority")
    if level in ("B-LT", "B-LTA") and validation is None:
        raise ValueError(f"PAdES {level} needs validation material (trust roots and CRLs)")


def sign_pdf(
    pdf: bytes,
    signer: Signer,
    *,
    level: str = "B-B",
    field_name: str | None = None,
    reason: str | None = None,
    location: str | None = None,
    name: str | None = None,
    stamp: StampSpec | None = None,
    timestamper: TimeStamper | None = None,
    validation: ValidationMaterial | None = None,
) -> bytes:
    """`pdf` with one more PAdES signature, appended as an incremental update.

    Visible when `stamp` is given (its page and box, drawn by signing.stamp), invisible otherwise.
    """
    _check_level(level, timestamper, validation)
    writer = _incremental_writer(normalise(pdf))
    taken = _top_level_field_names(writer.prev)
    field_name = field_name or next_field_name(taken, "Signature")
    long_term = level in ("B-LT", "B-LTA")
    metadata = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=DIGEST,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=name,
        embed_validation_info=long_term,
        use_pades_lta=level == "B-LTA",
        timestamp_field_name=next_field_name(taken, "Timestamp") if level == "B-LTA" else None,
        validation_context=validation.context() if long_term else None,
        # The VRI dictionary is deprecated in PAdES (EN 319 142-1) and costs a DSS update.
        dss_settings=DSSContentSettings(include_vri=False),
    )
    style = field_spec = None
    if stamp is not None:
        style = stamp_style(stamp)
        field_spec = SigFieldSpec(sig_field_name=field_name, on_page=stamp.page, box=stamp.box)
    pdf_signer = PdfSigner(
        metadata,
        signer,
        timestamper=timestamper if level != "B-B" else None,
        stamp_style=style,
        new_field_spec=field_spec,
    )
    try:
        output = run(lambda: pdf_signer.async_sign_pdf(writer))
    except Exception as exc:  # see _refusal
        raise _refusal("signed", exc) from exc
    return output.getvalue()


def add_document_timestamp(
    pdf: bytes, timestamper: TimeStamper, validation: ValidationMaterial
) -> bytes:
    """The B-LTA renewal step: validation data for the newest time-stamp, then a new one.

    SigningError when the newest document time-stamp does not validate with `validation`
    (renewing would extend a chain that is already broken)."""
    document = normalise(pdf)
    reader = _reader(document)
    if reader.security_handler is not None:
        raise UnreadablePdf("this PDF is encrypted; an unprotected copy is needed to sign it")
    timestamps = reader.embedded_timestamp_signatures
    try:
        if timestamps:
            status = run(lambda: async_validate_pdf_timestamp(timestamps[-1], validation.context()))
            if not (status.intact and status.valid and status.trusted):
                raise SigningError(
                    f"the newest document time-stamp does not validate ({status.summary()})"
                )
        stamper = PdfTimeStamper(
            timestamper, field_name=next_field_name(_top_level_field_names(reader), "Timestamp")
        )
        output = run(
            lambda: stamper.async_update_archival_timestamp_chain(
                reader, validation.context(), in_place=False, default_md_algorithm=DIGEST
            )
        )
    except SigningError:
        raise
    except Exception as exc:  # see _refusal
        raise _refusal("time-stamped", exc) from exc
    return output.getvalue()


def last_timestamp_expiry(pdf: bytes) -> datetime | None:
    """When the TSA certificate of the newest document time-stamp expires (None: there is none)."""
    reader = _reader(pdf)
    try:
        timestamps = reader.embedded_timestamp_signatures
    except PdfError as exc:
        raise UnreadablePdf(f"the signatures of this PDF cannot be read ({exc})") from exc
    if not timestamps:
        return None
    return timestamps[-1].signer_cert["tbs_certificate"]["validity"]["not_after"].native
