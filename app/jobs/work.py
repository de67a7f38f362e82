"""What each of the worker's jobs does. Two kinds:

- drains empty an outbox (search index, dashboard facts, e-mail, webhooks, receipts). The rows
  are written in the same transaction as the change they follow, so they are the truth: a job
  on the queue only says "look now", and the worker's tick looks anyway;
- periodic jobs run once per interval (deadline reminders, CRLs and archive time-stamps, the
  audit chains' time-stamps, the file store sweeps, merging the search index's segments).

Each body takes the Flask app (inside its app context) and returns a count or a report of
counts. None of them assumes it runs alone: app.jobs.runner holds a claim per job while it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from flask import Flask

from app.extensions import db
from app.files.store import FileStore
from app.services import (
    audit_timestamps,
    dashboard_facts,
    email_outbox,
    orphan_files,
    portal_documents,
    reminders,
    search_index,
    signatures,
    webhook_delivery,
)

log = logging.getLogger("diwan.worker")


def _store(app: Flask) -> FileStore:
    return FileStore(Path(app.config["FILE_STORE"]))


# --- Drains ---------------------------------------------------------------------------------


def index_letters(app: Flask, merge: bool = False) -> int:
    """The search index follows its outbox (the worker is the index's only writer). An index
    built with another analysis version or layout, or new (never filled from the database: an
    upgrade, a lost index folder), is rebuilt from the database first. Text extraction and OCR
    of new files happen here, each file in a sandboxed child process."""
    settings = search_index.SearchSettings.from_config(app.config)
    store = _store(app)
    backend = search_index.open_index(settings)
    try:
        total = 0
        if search_index.needs_rebuild(backend):
            log.info("search index new, incomplete or of another analysis: rebuilding it")
            total += search_index.rebuild_for_worker(db.session, backend, store, settings)
        while indexed := search_index.drain_outbox(db.session, backend, store, settings):
            total += indexed
        if merge and hasattr(backend, "merge"):
            backend.merge()
        return total
    finally:
        backend.close()


def refresh_facts(app: Flask) -> int:
    total = 0
    while refreshed := dashboard_facts.drain_outbox(db.session):
        total += refreshed
    return total


def send_emails(app: Flask) -> int:
    total = 0
    while sent := email_outbox.send_pending_emails(db.session, app.config):
        total += sent
    return total


def deliver_webhooks(app: Flask) -> int:
    total = 0
    while delivered := webhook_delivery.deliver_due(db.session, app.config):
        total += delivered
    return total


def make_receipts(app: Flask) -> int:
    """Receipts of portal requests that a crash or a failed seal left unmade."""
    settings = portal_documents.ReceiptSettings.from_config(app.config)
    return portal_documents.issue_pending_receipts(db.session, _store(app), settings)


@dataclass(frozen=True)
class Drain:
    name: str
    run: Callable[[Flask], int]
    waiting: Callable[[Flask], bool]  # rows wait in its outbox
    counted_as: str  # the name of its count in a round's report


# In this order in a round: a receipt queues an e-mail; the index and the facts come last.
DRAINS = {
    drain.name: drain
    for drain in (
        Drain(
            "receipts",
            make_receipts,
            lambda app: portal_documents.has_pending_receipts(db.session),
            "receipts_made",
        ),
        Drain(
            "email",
            send_emails,
            lambda app: bool(app.config["SMTP_HOST"]) and email_outbox.has_due(db.session),
            "emails_sent",
        ),
        Drain(
            "webhooks",
            deliver_webhooks,
            lambda app: webhook_delivery.has_due(db.session),
            "webhooks_delivered",
        ),
        Drain(
            "search",
            index_letters,
            lambda app: search_index.has_changes(db.session),
            "letters_indexed",
        ),
        Drain(
            "facts",
            refresh_facts,
            lambda app: dashboard_facts.has_changes(db.session),
            "facts_refreshed",
        ),
    )
}


# --- Periodic jobs --------------------------------------------------------------------------


def check_deadlines(app: Flask, today: date | None = None) -> dict:
    settings = reminders.ReminderSettings.from_config(app.config)
    result = reminders.check_deadlines(db.session, today or date.today(), settings)
    return {"notifications": result.notifications, "emails_queued": result.emails}


def signature_upkeep(app: Flask) -> dict:
    """Fresh CRLs, and new archive time-stamps (B-LTA) before the old ones' certificates expire."""
    settings = signatures.SignatureSettings.from_config(app.config)
    report = {"crls_issued": signatures.refresh_revocation_lists(db.session, settings)}
    if settings.archive_timestamps:
        report["timestamps_renewed"] = signatures.renew_archive_timestamps(
            db.session, store=_store(app), settings=settings
        )
    return report


def stamp_audit_chains(app: Flask) -> dict:
    settings = signatures.SignatureSettings.from_config(app.config)
    return {"audit_chains_stamped": audit_timestamps.stamp_audit_heads(db.session, settings)}


def sweep_files(app: Flask) -> dict:
    """Unfinished uploads in the staging area, then stored files no row names (quarantined
    first, deleted only after ORPHAN_RETENTION_DAYS)."""
    store = _store(app)
    hour = 3600
    staging = store.purge_staging(older_than_s=app.config["STAGING_MAX_AGE_HOURS"] * hour)
    if staging:
        log.info("removed %d unfinished upload(s) from the staging area", staging)
    orphans = orphan_files.sweep_orphans(
        db.session,
        store,
        min_age_s=app.config["ORPHAN_MIN_AGE_HOURS"] * hour,
        retention_s=app.config["ORPHAN_RETENTION_DAYS"] * 24 * hour,
    )
    return {"staging_files_removed": staging, **orphans.counts()}


def merge_index(app: Flask) -> dict:
    """Index the waiting changes and merge the small segments the batches left."""
    return {"letters_indexed": index_letters(app, merge=True)}


@dataclass(frozen=True)
class Periodic:
    name: str
    run: Callable[[Flask], dict]
    interval_setting: str  # the config key giving its interval in seconds
    exclusive_with: str | None = None  # a drain it must not run beside (one index writer)


PERIODIC = {
    job.name: job
    for job in (
        Periodic("deadlines", check_deadlines, "DEADLINE_CHECK_INTERVAL_S"),
        Periodic("signatures", signature_upkeep, "SIGNATURE_UPKEEP_INTERVAL_S"),
        Periodic("audit-timestamps", stamp_audit_chains, "AUDIT_TIMESTAMP_INTERVAL_S"),
        Periodic("file-sweep", sweep_files, "FILE_SWEEP_INTERVAL_S"),
        Periodic("search-merge", merge_index, "SEARCH_MERGE_INTERVAL_S", exclusive_with="search"),
    )
}
