"""What a restored instance must show before anyone works on it: the database as the manifest
describes it, every file re-hashed, every audit chain intact, the organisations' keys opening
under the restored SECRET_KEY, and a search index rebuilt that finds a letter by its subject."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from sqlalchemy import select

from app.backup.facts import database_facts, referenced_files
from app.extensions import db
from app.files.store import FileStore
from app.models import Letter, Organisation
from app.models.signing import KeyStorage, SigningCertificate
from app.services import audit_timestamps, search_index
from app.services.pki import PkiSettings
from indexing.backends import UNRESTRICTED, DateRange, SearchQuery
from signing import keystore


def check_restored(instance: Path, manifest: dict, log) -> list[str]:
    """Run every check in a fresh application on the restored instance; return the problems."""
    from app import create_app

    app = create_app({"INSTANCE_PATH": str(instance)})
    config, problems = app.config, []
    checks = {
        "database": lambda session: _database(session, manifest, log),
        "files": lambda session: _files(session, Path(config["FILE_STORE"]), log),
        "audit": lambda session: _audit(session, config, log),
        "keys": lambda session: _keys(session, PkiSettings.from_config(config), log),
        "search": lambda session: _search(session, config, log),
    }
    with app.app_context():
        try:
            for name, check in checks.items():
                try:
                    problems += check(db.session)
                except Exception as error:  # a check that cannot run is a failed check
                    db.session.rollback()
                    problems.append(f"{name}: the check could not run ({error})")
        finally:
            db.session.remove()
            db.engine.dispose()
    return problems


def _database(session, manifest: dict, log) -> list[str]:
    facts, expected = database_facts(session), manifest["database"]
    problems = [
        f"{key} differs from the backup's: {facts[key]} != {expected[key]}"
        for key in ("revision", "counts", "audit_heads", "numbers")
        if facts[key] != expected[key]
    ]
    if not problems:
        counts = facts["counts"]
        log(
            f"Database: revision {facts['revision']}, {counts['letters']} letters, "
            f"{counts['audit_events']} audit events, as in the manifest."
        )
    if facts["pkcs11_certificates"]:
        log(
            f"Note: {facts['pkcs11_certificates']} certificates keep their key in a PKCS#11 "
            "token, which a backup cannot hold: connect the tokens to this machine."
        )
    return problems


def _files(session, root: Path, log) -> list[str]:
    store = FileStore(root)
    problems = [f"file {sha}: {problem}" for sha, problem in store.verify_all()]
    missing = sorted(sha for sha in referenced_files(session) if not store.exists(sha))
    problems += [f"file {sha}: named by the database, missing from the store" for sha in missing]
    if not problems:
        log(f"Files: {sum(1 for _ in store.iter_hashes())} re-hashed, none missing.")
    return problems


def _audit(session, config, log) -> list[str]:
    """Every chain, and every time-stamp on it (a restore must not lose the anchoring)."""
    trust = audit_timestamps.StampTrust.from_config(config)
    problems, events, stamps = [], 0, 0
    for organisation in session.scalars(select(Organisation).order_by(Organisation.id)):
        report = audit_timestamps.verify_timestamps(session, organisation.id, trust)
        events, stamps = events + report.chain.events, stamps + len(report.stamps)
        found = report.chain.problems + report.problems
        problems += [f"audit chain of {organisation.code}: {p}" for p in found]
    if not problems:
        log(f"Audit chains: {events} events and {stamps} time-stamps verified.")
    return problems


def _keys(session, settings: PkiSettings, log) -> list[str]:
    """Open every server-held key (CA, seal, time-stamping) with the restored SECRET_KEY."""
    rows = session.scalars(
        select(SigningCertificate).where(
            SigningCertificate.key_storage == KeyStorage.SERVER,
            SigningCertificate.revoked_at.is_(None),
        )
    ).all()
    problems = []
    for row in rows:
        try:
            keystore.open_key(
                row.encrypted_key, settings.server_secret(row.organisation_id, row.purpose)
            )
        except (keystore.WrongSecret, ValueError):
            problems.append(
                f"the {row.purpose} key of organisation {row.organisation_id} does not open"
            )
    if not problems:
        log(f"Keys: {len(rows)} organisation keys open with the restored SECRET_KEY.")
    return problems


def _search(session, config, log) -> list[str]:
    settings = search_index.SearchSettings.from_config(config)
    store = FileStore(Path(config["FILE_STORE"]))
    backend = search_index.open_index(settings)
    try:
        count = search_index.rebuild(session, backend, store, settings)
        probe = session.scalar(
            select(Letter).where(Letter.subject != "").order_by(Letter.id.desc()).limit(1)
        )
        if probe is None:
            log(f"Search index rebuilt: {count} letters.")
            return []
        word = max(re.findall(r"[^\W\d_]{3,}", probe.subject), key=len, default="")
        if not word:
            log(f"Search index rebuilt: {count} letters (no word to look for in {probe.number}).")
            return []
        day: date = probe.registered_at.date()
        results = backend.search(
            SearchQuery(
                text=word,
                allowed=UNRESTRICTED,
                filters={"register": probe.register},
                date_ranges={"registered_at": DateRange(day, day)},
                sort="date",
                page_size=100,
            )
        )
    finally:
        backend.close()
    if str(probe.id) not in {hit.id for hit in results.hits}:
        return [f"search: letter {probe.number} not found by the word {word!r} of its subject"]
    log(f"Search index rebuilt: {count} letters; {word!r} finds {probe.number}.")
    return []
