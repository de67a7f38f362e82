"""The orphan-file sweep: stored files that no row names are set aside, then deleted.

Uploads are stored before the rows that name them commit, so a rolled-back transaction or a
crash leaves objects nobody refers to. Each sweep, in this order:

1. reads every hash the rows name (``referenced_files``), in a transaction of its own;
2. moves back from quarantine (``<store>/orphans/``) the files a row names again;
3. moves into quarantine, by an atomic rename, the objects no row names whose time (written, or
   last reused) is older than ``min_age_s``;
4. deletes the quarantined files that have been there longer than ``retention_s``, after reading
   the references once more, right before; a file named again is moved back instead.

Racing an upload of the same bytes: ``FileStore.commit`` finds the object already stored, keeps
it, and the row naming it commits a moment later. ``commit`` refreshes the object's time, and the
sweep reads the references *before* it looks at any object's time, so an object reused by a
transaction that had not committed when the references were read is too young to be moved.
If the reuse falls between the sweep's look and its rename, ``quarantine`` sees the fresh time
on the moved file and puts it straight back; if it falls after the rename, ``commit`` finds no
object and stores the bytes again. Whatever slips through is still served: every read of a file
that is only in quarantine moves it back, and the next sweep moves back any file a row names.
Deleting re-reads the references and skips a copy whose time a restore has just refreshed.
Nothing a row names is ever lost, and no object is overwritten.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, scoped_session

from app.backup.facts import referenced_files
from app.files.store import FileStore

log = logging.getLogger("diwan.files")

# Below an hour, a registration still being typed could find its upload moved.
MIN_AGE_FLOOR_S = 3600


@dataclass(frozen=True)
class OrphanReport:
    """What one sweep did (or, for a dry run, would do); hashes with their sizes in bytes."""

    quarantined: tuple[tuple[str, int], ...]
    restored: tuple[str, ...]
    deleted: tuple[tuple[str, int], ...]
    in_quarantine: int  # files left in quarantine afterwards
    in_quarantine_bytes: int
    problems: tuple[tuple[str, str], ...] = ()  # (hash, error) for files that could not be moved
    dry_run: bool = False

    @property
    def quarantined_bytes(self) -> int:
        return sum(size for _sha, size in self.quarantined)

    @property
    def deleted_bytes(self) -> int:
        return sum(size for _sha, size in self.deleted)

    def counts(self) -> dict[str, int]:
        """Figures for the worker's round report."""
        return {
            "orphans_quarantined": len(self.quarantined),
            "orphans_restored": len(self.restored),
            "orphans_deleted": len(self.deleted),
            "orphans_in_quarantine": self.in_quarantine,
            "orphans_problems": len(self.problems),
        }


def sweep_orphans(
    session: Session,
    store: FileStore,
    *,
    min_age_s: float,
    retention_s: float,
    dry_run: bool = False,
) -> OrphanReport:
    """Quarantine unreferenced objects older than ``min_age_s``, restore quarantined ones a row
    names, delete those quarantined longer than ``retention_s``; see the module docstring.

    Ends any transaction open on ``session`` first (as ``write_transaction`` does): the
    references must be read fresh. ``dry_run`` changes nothing and reports what would be done.
    """
    if min_age_s < MIN_AGE_FLOOR_S:
        raise ValueError(f"min_age_s must be at least {MIN_AGE_FLOOR_S} seconds")
    if retention_s < 0:
        raise ValueError("retention_s must not be negative")
    referenced = _fresh_references(session)  # before any object's time is looked at
    now = time.time()
    sweep = _Sweep(store, dry_run)

    named_again = [sha for sha in store.iter_quarantined() if sha in referenced]
    for sha in named_again:
        sweep.restore(sha)

    unused_since = now - min_age_s
    for sha in store.iter_hashes():
        if sha not in referenced:
            sweep.quarantine(sha, unused_since)

    quarantined_before = now - retention_s
    expired = [
        (sha, size)
        for sha, size in _quarantined_sizes(store, before=quarantined_before).items()
        if sha not in named_again
    ]
    if expired:
        referenced = _fresh_references(session)  # a row may have named one since the first read
        for sha, size in expired:
            if sha in referenced:
                sweep.restore(sha)
            else:
                sweep.delete(sha, size, quarantined_before)

    held = _quarantined_sizes(store)
    if dry_run:
        held.update(sweep.quarantined)
        for sha in [*sweep.restored, *(sha for sha, _size in sweep.deleted)]:
            held.pop(sha, None)
    report = OrphanReport(
        quarantined=tuple(sweep.quarantined),
        restored=tuple(sweep.restored),
        deleted=tuple(sweep.deleted),
        in_quarantine=len(held),
        in_quarantine_bytes=sum(held.values()),
        problems=tuple(sweep.problems),
        dry_run=dry_run,
    )
    _log(report)
    return report


def _fresh_references(session: Session) -> set[str]:
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction():
        session.commit()
    try:
        return referenced_files(session)
    finally:
        session.commit()  # a read only: ends the snapshot


def _quarantined_sizes(store: FileStore, before: float | None = None) -> dict[str, int]:
    """Size of each quarantined file (only those quarantined before ``before``, if given)."""
    sizes = {}
    for sha in store.iter_quarantined():
        try:
            info = store.quarantine_path(sha).stat()
        except FileNotFoundError:
            continue
        if before is None or info.st_mtime < before:
            sizes[sha] = info.st_size
    return sizes


class _Sweep:
    """One sweep's moves, each file on its own: a failure (permissions, a full disk) is noted
    and the sweep goes on. In a dry run, only what would be done is noted."""

    def __init__(self, store: FileStore, dry_run: bool) -> None:
        self.store, self.dry_run = store, dry_run
        self.quarantined: list[tuple[str, int]] = []
        self.restored: list[str] = []
        self.deleted: list[tuple[str, int]] = []
        self.problems: list[tuple[str, str]] = []

    def restore(self, sha: str) -> None:
        if self.dry_run or self._attempt("restore", sha, self.store.restore, sha):
            self.restored.append(sha)

    def quarantine(self, sha: str, unused_since: float) -> None:
        try:
            info = self.store.path(sha).stat()
        except FileNotFoundError:
            return
        if info.st_mtime >= unused_since:
            return
        if self.dry_run or self._attempt(
            "quarantine", sha, self.store.quarantine, sha, unused_since=unused_since
        ):
            self.quarantined.append((sha, info.st_size))

    def delete(self, sha: str, size: int, quarantined_before: float) -> None:
        if self.dry_run:
            self.deleted.append((sha, size))
            return
        freed = self._attempt(
            "delete", sha, self.store.delete_quarantined, sha, quarantined_before=quarantined_before
        )
        if freed is not None:
            self.deleted.append((sha, freed))

    def _attempt(self, what: str, sha: str, action, *args, **kwargs):
        try:
            return action(*args, **kwargs)
        except OSError as exc:
            log.error("orphan sweep: could not %s %s: %s", what, sha, exc)
            self.problems.append((sha, f"{what}: {exc.strerror or exc}"))
            return None


def _log(report: OrphanReport) -> None:
    if report.dry_run:
        return
    for sha, size in report.quarantined:
        log.info("orphan file %s (%d bytes) moved into quarantine", sha, size)
    for sha in report.restored:
        log.info("file %s is named by a row again: moved back from quarantine", sha)
    for sha, size in report.deleted:
        log.info("orphan file %s (%d bytes) deleted after its time in quarantine", sha, size)
    if report.quarantined or report.restored or report.deleted:
        log.info(
            "orphan sweep: %d file(s) quarantined (%d bytes), %d restored, %d deleted "
            "(%d bytes); %d in quarantine",
            len(report.quarantined),
            report.quarantined_bytes,
            len(report.restored),
            len(report.deleted),
            report.deleted_bytes,
            report.in_quarantine,
        )
