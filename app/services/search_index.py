"""Keeping the search index in step with the registry.

The index is fed from the `search_outbox` table (written with every audit event about a letter,
in the same transaction): the worker is the only writer; it extracts the text of new files
(kept by file hash in `extracted_texts`), builds the letter's search document, indexes and
commits a small batch, then removes those outbox rows. The index can always be rebuilt from the
database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.store import FileStore
from app.models import (
    AssignmentState,
    DocumentVersion,
    ExtractedText,
    Letter,
    SearchOutbox,
)
from app.models.base import utcnow
from app.services.search_visibility import letter_keys
from indexing.backends import LETTER_LAYOUT, Backend, Document, open_backend
from indexing.extraction import Extraction, extract_text

BATCH = 50


@dataclass(frozen=True)
class SearchSettings:
    backend: str  # "whoosh" or "postgres"
    index_dir: Path
    database_url: str
    timeout_s: float
    memory_mb: int
    estimate_above: int  # PostgreSQL: matches past which counts are estimated

    @classmethod
    def from_config(cls, config) -> SearchSettings:
        return cls(
            backend=config["SEARCH_BACKEND"],
            index_dir=Path(config["INDEX_DIR"]),
            database_url=config["DATABASE_URL"],
            timeout_s=float(config["EXTRACT_TIMEOUT_S"]),
            memory_mb=int(config["EXTRACT_MEMORY_MB"]),
            estimate_above=int(config["SEARCH_ESTIMATE_ABOVE"]),
        )


def open_index(settings: SearchSettings) -> Backend:
    if settings.backend == "postgres":
        url = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
        return open_backend(
            "postgres",
            LETTER_LAYOUT,
            database_url=url,
            table="search_letters",
            estimate_above=settings.estimate_above,
        )
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    return open_backend("whoosh", LETTER_LAYOUT, path=settings.index_dir)


def _latest_versions(letter: Letter) -> list[DocumentVersion]:
    return [max(document.versions, key=lambda v: v.version) for document in letter.documents]


def _extracted(session: Session, sha256: str) -> ExtractedText | None:
    return session.get(ExtractedText, sha256)


def extract_files(
    session: Session,
    letter: Letter,
    store: FileStore,
    settings: SearchSettings,
    extract: Callable[..., Extraction] = extract_text,
) -> None:
    """Extract (in a sandboxed child, OCR when needed) the files of the letter not yet read."""
    for version in _latest_versions(letter):
        sha = version.pdf_sha256 or version.original_sha256
        media_type = "application/pdf" if version.pdf_sha256 else version.media_type
        if _extracted(session, sha) is not None:
            continue
        result = extract(
            store.ensure_verified(sha),
            media_type,
            timeout_s=settings.timeout_s,
            memory_mb=settings.memory_mb,
        )
        with write_transaction(session):
            if _extracted(session, sha) is None:
                session.add(
                    ExtractedText(
                        sha256=sha,
                        status=result.status,
                        method=result.method,
                        reason=result.reason,
                        text=result.text,
                        pages=len(result.pages),
                    )
                )


def text_status(session: Session, letter: Letter) -> list[ExtractedText]:
    """What was extracted from each current file (the letter page flags files with no text)."""
    rows = []
    for version in _latest_versions(letter):
        row = _extracted(session, version.pdf_sha256 or version.original_sha256)
        if row is not None:
            rows.append(row)
    return rows


def letter_document(session: Session, letter: Letter) -> Document:
    """The letter as the index sees it: its words, its filters, who may find it."""
    texts = [row.text for row in text_status(session, letter) if row.text]
    reference = " ".join(part for part in (letter.number, letter.sender_reference) if part)
    filters: dict = {
        "register": letter.register,
        "direction": letter.register,
        "status": letter.status,
        "department_ids": [
            a.department_id for a in letter.assignments if a.state != AssignmentState.RETURNED
        ],
        "registered_at": letter.registered_at,
    }
    if letter.letter_type_id is not None:
        filters["letter_type"] = letter.letter_type_id
    if letter.correspondent_id is not None:
        filters["correspondent"] = letter.correspondent_id
    if letter.letter_date is not None:
        filters["letter_date"] = letter.letter_date
    return Document(
        id=str(letter.id),
        fields={
            "reference": reference,
            "subject": letter.subject or "",
            "correspondent_name": letter.correspondent.name if letter.correspondent else "",
            "documents": "\f".join(texts),
        },
        filters=filters,
        visibility=frozenset(letter_keys(letter)),
    )


def drain_outbox(
    session: Session,
    backend: Backend,
    store: FileStore,
    settings: SearchSettings,
    *,
    batch: int = BATCH,
    extract: Callable[..., Extraction] = extract_text,
) -> int:
    """Index the letters of the oldest outbox rows; returns how many letters were indexed."""
    rows = session.scalars(select(SearchOutbox).order_by(SearchOutbox.id).limit(batch)).all()
    if not rows:
        return 0
    last_id = rows[-1].id
    letter_ids = sorted({row.letter_id for row in rows})
    session.commit()  # end the read transaction before the slow part
    documents = _documents(session, letter_ids, store, settings, extract)
    backend.index(documents)
    backend.commit()
    with write_transaction(session):
        session.execute(delete(SearchOutbox).where(SearchOutbox.id <= last_id))
    return len(documents)


def _documents(
    session: Session,
    letter_ids: Iterable[int],
    store: FileStore,
    settings: SearchSettings,
    extract: Callable[..., Extraction],
) -> list[Document]:
    """The letters' search documents, their files' text extracted first where it is missing."""
    documents = []
    for letter_id in letter_ids:
        letter = session.get(Letter, letter_id)
        extract_files(session, letter, store, settings, extract)
        documents.append(letter_document(session, letter))
    return documents


def lag_seconds(session: Session, now: datetime | None = None) -> float:
    """How long the oldest change has waited for the index (0 when it is up to date)."""
    oldest = session.scalar(select(func.min(SearchOutbox.created_at)))
    if oldest is None:
        return 0.0
    return max(((now or utcnow()) - oldest).total_seconds(), 0.0)


def has_changes(session: Session) -> bool:
    """Whether a change waits for the index (one look at the outbox's primary key)."""
    return session.scalar(select(SearchOutbox.id).limit(1)) is not None


def rebuild(
    session: Session,
    backend: Backend,
    store: FileStore,
    settings: SearchSettings,
    *,
    after_id: int = 0,
    batch: int = 200,
    commit_every: int = 5000,
    progress: Callable[[int, int, int], None] = lambda done, total, last_id: None,
    extract: Callable[..., Extraction] = extract_text,
) -> int:
    """Index every letter from the database, in id order, read `batch` at a time and committed
    every `commit_every` letters (a Whoosh segment each: few and big, never merged again).
    `progress` is told after each commit, so its last id is a safe place to resume from. A
    rebuild from scratch (after_id=0) empties the index first; after_id resumes after that
    letter."""
    if after_id == 0:
        backend.clear()
    total = session.scalar(select(func.count(Letter.id)).where(Letter.id > after_id))
    done, last_id, uncommitted = 0, after_id, 0
    while True:
        ids = session.scalars(
            select(Letter.id).where(Letter.id > last_id).order_by(Letter.id).limit(batch)
        ).all()
        if ids:
            backend.index(_documents(session, ids, store, settings, extract))
            done, last_id, uncommitted = done + len(ids), ids[-1], uncommitted + len(ids)
            session.expire_all()
        if uncommitted and (uncommitted >= commit_every or not ids):
            backend.commit()
            uncommitted = 0
            progress(done, total, last_id)
        if not ids:
            backend.mark_complete()
            return done


def needs_rebuild(backend: Backend) -> bool:
    """Built with another analysis or layout, or made empty (a new or lost index, a rebuild
    cut short) and not filled from the database since: the outbox only has recent changes."""
    return backend.needs_rebuild() or not backend.is_complete()


def rebuild_for_worker(
    session: Session, backend: Backend, store: FileStore, settings: SearchSettings
) -> int:
    """A rebuild from scratch, then the outbox rows it covered are dropped: each was committed
    with its change before the rebuild read the letters (only those seen first, so a change
    committed meanwhile is indexed again rather than lost)."""
    covered = session.scalars(select(SearchOutbox.id)).all()
    session.commit()
    count = rebuild(session, backend, store, settings)
    for start in range(0, len(covered), 1000):
        with write_transaction(session):
            chunk = covered[start : start + 1000]
            session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(chunk)))
    return count
