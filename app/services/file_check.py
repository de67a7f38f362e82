"""Checking the file store against itself and against the database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from app.files.store import FileStore
from app.models import DocumentVersion


@dataclass(frozen=True)
class FileCheckReport:
    checked: int  # files in the store, each hashed
    problems: list[tuple[str, str]]


def check_files(session: Session, root: Path) -> FileCheckReport:
    """Every stored file must match its hash; every file a document names must exist."""
    store = FileStore(root)
    problems = list(store.verify_all())
    referenced = session.scalars(
        union(
            select(DocumentVersion.original_sha256),
            select(DocumentVersion.pdf_sha256).where(DocumentVersion.pdf_sha256.is_not(None)),
        )
    )
    for sha in referenced:
        if not store.exists(sha):
            problems.append((sha, "missing: named by a document but not in the store"))
    return FileCheckReport(sum(1 for _ in store.iter_hashes()), problems)
