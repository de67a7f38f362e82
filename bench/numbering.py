"""Registration throughput and the gap-free guarantee under concurrency.

K threads (--threads, default 8) each register M letters (--per-thread, default 50) through the
real service, ``registration.register_letter``, each thread in its own app context and with a
fresh session per registration (as a web request has). Every letter reuses one small PDF ingested
once with ``app.files.intake.ingest_upload``. A fraction of the registrations (--failure-rate,
default 0.2) fail on purpose *after* their number has been allocated: half of them right after
``numbering.next_value`` returns, half in ``audit.record`` for the "letter.registered" event (so
after the letter and its document rows were flushed). Some registrations (--new-contact-rate)
create their correspondent, as the registration form allows; the others pick an existing one.

Then, per backend: registrations/second, p50/p95 latency of a registration, the failures, and the
checks: the letters' numbers are exactly 1..N (no gap, no duplicate), the counter says N, every
letter has its document, no contact or audit event survived a failed registration, and
``audit.verify_chain`` accepts the organisation's chain.

    .venv/bin/python bench/numbering.py [--backend sqlite|postgresql|both] [--threads 8]
        [--per-thread 50] [--failure-rate 0.2] [--new-contact-rate 0.1] [--seed 2026]
"""

from __future__ import annotations

import io
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
from flask import Flask
from sqlalchemy import func, select

from app.database import write_transaction
from app.extensions import db
from app.files.intake import ingest_upload
from app.models import (
    AuditEvent,
    Contact,
    Document,
    DocumentVersion,
    Letter,
    RegistryCounter,
    User,
)
from app.services import audit, numbering, registration
from app.services.actor import Actor
from app.uploads import file_store

EXISTING_CONTACTS = 50


class InjectedFailure(Exception):
    """Raised on purpose after the registration has taken its number."""


def small_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def prepare(app: Flask) -> dict[str, Any]:
    """Organisation, officer, letter types, existing contacts and the one ingested scan."""
    with app.app_context():
        world = common.create_world(db.session)
        with write_transaction(db.session) as session:
            contacts = [
                Contact(organisation_id=world["organisation_id"], name=f"Correspondent {n}")
                for n in range(EXISTING_CONTACTS)
            ]
            session.add_all(contacts)
        world["contact_ids"] = [c.id for c in contacts]
        world["scan"] = ingest_upload(
            file_store(), io.BytesIO(small_pdf()), "scan.pdf", max_bytes=10**6
        )
        world["audit_events_before"] = db.session.scalar(select(func.count(AuditEvent.id)))
        db.session.remove()
    return world


class FailureInjector:
    """Wraps numbering.next_value and audit.record; a thread chooses per registration whether,
    and where, its registration fails. Restores the originals on exit."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.real_next_value = numbering.next_value
        self.real_record = audit.record

    def next_value(self, session, *args, **kwargs):
        value = self.real_next_value(session, *args, **kwargs)
        if getattr(self.local, "fail_at", None) == "next_value":
            raise InjectedFailure(f"after taking number {value}")
        return value

    def record(self, session, actor, action, **kwargs):
        if action == "letter.registered" and getattr(self.local, "fail_at", None) == "audit":
            raise InjectedFailure(f"in audit.record for letter {kwargs.get('object_id')}")
        return self.real_record(session, actor, action, **kwargs)

    def __enter__(self) -> FailureInjector:
        numbering.next_value = self.next_value
        audit.record = self.record
        return self

    def __exit__(self, *_exc) -> None:
        numbering.next_value = self.real_next_value
        audit.record = self.real_record


def run_threads(app: Flask, world: dict[str, Any], args) -> dict[str, Any]:
    settings = registration.NumberingSettings.from_config(app.config)
    officer_id = world["officer_ids"][0]
    letter_type_id = world["letter_types"]["COURRIER"]
    lock = threading.Lock()
    ok_latencies: list[float] = []
    failed_latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    unexpected: Counter[str] = Counter()
    first_detail: dict[str, str] = {}
    new_contacts_ok = 0
    start = threading.Barrier(args.threads + 1)

    def worker(thread_no: int, injector: FailureInjector) -> None:
        nonlocal new_contacts_ok
        rng = random.Random(args.seed * 1000 + thread_no)
        with app.app_context():
            start.wait()
            for n in range(args.per_thread):
                fail = rng.random() < args.failure_rate
                injector.local.fail_at = rng.choice(("next_value", "audit")) if fail else None
                new_contact = rng.random() < args.new_contact_rate
                user = db.session.get(User, officer_id)  # what a request's user loader does
                data = registration.LetterInput(
                    register="incoming",
                    subject=f"Bench letter {thread_no}-{n}",
                    channel=rng.choice(("post", "hand", "email")),
                    letter_type_id=letter_type_id if rng.random() < 0.5 else None,
                    correspondent_id=None if new_contact else rng.choice(world["contact_ids"]),
                    new_correspondent=(
                        registration.NewContact(name=f"New sender {thread_no}-{n}")
                        if new_contact
                        else None
                    ),
                    files=[world["scan"]],
                )
                began = time.perf_counter()
                try:
                    registration.register_letter(
                        db.session, Actor(user, "127.0.0.1"), data, settings
                    )
                    outcome = "ok"
                except InjectedFailure:
                    outcome = f"injected_{injector.local.fail_at}"
                except Exception as error:  # counted and reported, never hidden
                    outcome = "unexpected"
                    key = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
                    with lock:
                        unexpected[key] += 1
                        # The driver's full message (PostgreSQL's DETAIL names the locks).
                        first_detail.setdefault(key, str(getattr(error, "orig", error)))
                elapsed = time.perf_counter() - began
                db.session.remove()
                with lock:
                    outcomes[outcome] += 1
                    if outcome == "ok":
                        ok_latencies.append(elapsed)
                        new_contacts_ok += new_contact
                    else:
                        failed_latencies.append(elapsed)

    with FailureInjector() as injector:
        threads = [
            threading.Thread(target=worker, args=(k, injector), daemon=True)
            for k in range(args.threads)
        ]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began

    ok = outcomes["ok"]
    attempts = sum(outcomes.values())
    return {
        "threads": args.threads,
        "attempts": attempts,
        "registered": ok,
        "failures": {
            "injected": sum(v for k, v in outcomes.items() if k.startswith("injected")),
            "injected_after_next_value": outcomes["injected_next_value"],
            "injected_in_audit_record": outcomes["injected_audit"],
            "unexpected": outcomes["unexpected"],
            "unexpected_by_error": dict(unexpected),
            "unexpected_first_message": first_detail,
        },
        "new_contacts_registered": new_contacts_ok,
        "wall_s": round(wall, 3),
        "registrations_per_s": round(ok / wall, 2),
        "attempts_per_s": round(attempts / wall, 2),
        "latency_ok": common.summary(ok_latencies),
        "latency_failed": common.summary(failed_latencies),
    }


def check(app: Flask, world: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    """Gap-free, duplicate-free numbers; nothing left behind by a failed registration."""
    org_id = world["organisation_id"]
    expected = figures["registered"]
    with app.app_context():
        session = db.session
        rows = session.execute(
            select(Letter.year, Letter.seq, Letter.number).where(Letter.organisation_id == org_id)
        ).all()
        seqs = sorted(row.seq for row in rows)
        numbers = [row.number for row in rows]
        settings = registration.NumberingSettings.from_config(app.config)
        well_formed = all(
            row.number
            == numbering.format_number(
                settings.number_format,
                year=row.year,
                register_code=settings.register_codes["incoming"],
                seq=row.seq,
            )
            for row in rows
        )
        counter = session.scalar(
            select(RegistryCounter.last_value).where(RegistryCounter.organisation_id == org_id)
        )
        documents = session.scalar(select(func.count(Document.id)))
        versions = session.scalar(select(func.count(DocumentVersion.id)))
        contacts = session.scalar(select(func.count(Contact.id)))
        registered_events = session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "letter.registered")
        )
        all_events = session.scalar(select(func.count(AuditEvent.id)))
        chain = audit.verify_chain(session, org_id)
        session.remove()
    missing = sorted(set(range(1, expected + 1)) - set(seqs))
    duplicates = sorted(seq for seq, n in Counter(seqs).items() if n > 1)
    checks = {
        "numbers_are_1_to_n": seqs == list(range(1, expected + 1)),
        "missing_seqs": missing[:20],
        "duplicate_seqs": duplicates[:20],
        "numbers_unique": len(set(numbers)) == len(numbers),
        "numbers_well_formed": well_formed,
        "counter_equals_n": counter == expected,
        "one_document_per_letter": documents == expected and versions == expected,
        "no_orphan_contact": contacts == EXISTING_CONTACTS + figures["new_contacts_registered"],
        "one_audit_event_per_letter": registered_events == expected,
        "audit_events_expected": all_events
        == world["audit_events_before"] + expected + figures["new_contacts_registered"],
        "audit_chain_ok": chain.ok,
        "audit_chain_events": chain.events,
        "audit_chain_problems": chain.problems[:10],
    }
    checks["all_ok"] = all(
        checks[key]
        for key in (
            "numbers_are_1_to_n",
            "numbers_unique",
            "numbers_well_formed",
            "counter_equals_n",
            "one_document_per_letter",
            "no_orphan_contact",
            "one_audit_event_per_letter",
            "audit_events_expected",
            "audit_chain_ok",
        )
    )
    return checks


def bench_backend(app: Flask, args) -> dict[str, Any]:
    world = prepare(app)
    figures = run_threads(app, world, args)
    figures["checks"] = check(app, world, figures)
    return {**common.backend_versions(app), **figures}


def main() -> int:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-thread", type=int, default=50)
    parser.add_argument("--failure-rate", type=float, default=0.2)
    parser.add_argument("--new-contact-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    results: dict[str, Any] = {
        "benchmark": "numbering",
        "parameters": {
            "threads": args.threads,
            "per_thread": args.per_thread,
            "failure_rate": args.failure_rate,
            "new_contact_rate": args.new_contact_rate,
            "seed": args.seed,
        },
        "environment": common.environment(),
        "backends": {},
    }
    for backend in common.backends(args.backend):
        common.log(f"numbering: {backend} ...")
        if backend == "sqlite":
            with common.sqlite_app("diwan-bench-numbering-") as app:
                results["backends"][backend] = bench_backend(app, args)
        else:
            with common.postgres_app("numbering") as app:
                results["backends"][backend] = bench_backend(app, args)

    human = "; ".join(
        f"{name}: {r['registrations_per_s']} reg/s, p50 {r['latency_ok']['p50_ms']} ms, "
        f"p95 {r['latency_ok']['p95_ms']} ms, {r['registered']} ok / "
        f"{r['failures']['injected']} injected / {r['failures']['unexpected']} unexpected "
        f"failures, gap-free and chain {'OK' if r['checks']['all_ok'] else 'FAILED'}"
        for name, r in results["backends"].items()
    )
    ok = all(
        r["checks"]["all_ok"] and not r["failures"]["unexpected"]
        for r in results["backends"].values()
    )
    common.emit("numbering", results, "numbering: " + human)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
