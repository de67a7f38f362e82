"""What a database snapshot holds, read the same way when the backup is made and after it is
restored: counts, the schema revision, the audit chains' heads, the registry counters beside
the numbers actually used, and every file-store object its rows name."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.models import (
    AuditEvent,
    AuditHead,
    DocumentVersion,
    Letter,
    Organisation,
    OutgoingEmail,
    PortalSubmission,
    RegistryCounter,
    User,
)
from app.models.signing import CircuitVersion, KeyStorage, SigningCertificate

COUNTED = {
    "organisations": Organisation,
    "users": User,
    "letters": Letter,
    "document_versions": DocumentVersion,
    "circuit_versions": CircuitVersion,
    "audit_events": AuditEvent,
    "certificates": SigningCertificate,
}


def database_facts(session: Session) -> dict:
    counts = {
        name: session.scalar(select(func.count()).select_from(model))
        for name, model in COUNTED.items()
    }
    heads = session.execute(
        select(AuditHead.organisation_id, AuditHead.last_seq, AuditHead.last_hash).order_by(
            AuditHead.organisation_id
        )
    )
    return {
        "revision": session.scalar(text("SELECT version_num FROM alembic_version")),
        "counts": counts,
        "audit_heads": [
            {"organisation_id": org, "last_seq": seq, "last_hash": last} for org, seq, last in heads
        ],
        "numbers": registry_numbers(session),
        # Keys kept in a hardware token are not in the database, so not in a backup either.
        "pkcs11_certificates": session.scalar(
            select(func.count(SigningCertificate.id)).where(
                SigningCertificate.key_storage == KeyStorage.PKCS11,
                SigningCertificate.revoked_at.is_(None),
            )
        ),
    }


def registry_numbers(session: Session) -> list[dict]:
    """Each counter beside the highest number its letters carry: equal in a consistent copy."""
    used = {
        (org, register, year): top
        for org, register, year, top in session.execute(
            select(
                Letter.organisation_id, Letter.register, Letter.year, func.max(Letter.seq)
            ).group_by(Letter.organisation_id, Letter.register, Letter.year)
        )
    }
    rows = session.execute(
        select(
            RegistryCounter.organisation_id,
            RegistryCounter.register,
            RegistryCounter.year,
            RegistryCounter.last_value,
        ).order_by(RegistryCounter.organisation_id, RegistryCounter.register, RegistryCounter.year)
    )
    return [
        {
            "organisation_id": org,
            "register": register,
            "year": year,
            "counter": last,
            "max_seq": used.get((org, register, year), 0),
        }
        for org, register, year, last in rows
    ]


def referenced_files(session: Session) -> set[str]:
    """Every object the rows name: documents, circuit versions, receipts, e-mail attachments
    and the files of portal requests waiting for their e-mail confirmation."""
    columns = (
        DocumentVersion.original_sha256,
        DocumentVersion.pdf_sha256,
        CircuitVersion.sha256,
        PortalSubmission.receipt_sha256,
        OutgoingEmail.attachment_sha256,
    )
    names: set[str] = set()
    for column in columns:
        names.update(session.scalars(select(column).where(column.is_not(None)).distinct()))
    for files in session.scalars(select(PortalSubmission.files)):
        for item in files or []:
            names.update(
                item.get(key) for key in ("original_sha256", "pdf_sha256") if item.get(key)
            )
    return names
