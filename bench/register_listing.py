"""The register list on a large registry: list_page latency with 1,000,000 letters.

Builds a migrated database, fills it FAST with bulk SQL (executemany on SQLite, COPY on
PostgreSQL; not through the registration service) with a realistic spread: two years of working
days, 3 registers, 6 channels, a few hundred correspondents, 6 letter types, ~1% cancelled, ~2%
confidential; then ANALYZE. It then times the real service, ``register_list.list_page``, each
repetition in a fresh session (as a request), for:

  a_first_page        the first page of the incoming register
  b_page_500          page 500, reached once by walking the cursors, then fetched repeatedly
  c_channel           the first page filtered by channel (email)
  d_day               one day's register (date_from = date_to = a Tuesday mid-way)
  e_cancelled         filtered by status=cancelled (rare)
  f_letter_type       filtered by a common letter type (PLAINTE)
  g_letter_type_absent filtered by a letter type never used in the incoming register
                      (NOTE_INTERNE is only used for internal notes; the filter form offers it)

and reports p50/p95/max over --reps repetitions (default 50) and the plans (EXPLAIN QUERY PLAN on
SQLite, EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL) of a, b and any case whose p95 is over the
target (50 ms). The SQLite database is cached in bench/results/ and reused when it has the right
number of letters and the current migration head; the PostgreSQL one is regenerated each run
and dropped afterwards (unless --keep-pg).

    .venv/bin/python bench/register_listing.py [--backend sqlite|postgresql|both]
        [--letters 1000000] [--reps 50] [--page 500] [--regenerate] [--keep-pg]
        [--all-plans] [--show-plans]

Bulk data is registry rows only: no documents and no audit events (the list reads neither).
"""

from __future__ import annotations

import bisect
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import LetterType, Organisation, User
from app.services.register_list import RegisterFilter, list_page

GENERATOR_VERSION = 1  # bump when the generated data changes, to invalidate the SQLite cache
SPAN_START = date(2024, 11, 1)
SPAN_DAYS = 730
OFFICERS = 3
CONTACTS = 500
BATCH = 50_000

LETTER_COLUMNS = (
    "id",
    "organisation_id",
    "register",
    "year",
    "seq",
    "number",
    "registered_at",
    "registered_by_id",
    "subject",
    "sender_reference",
    "letter_date",
    "received_on",
    "channel",
    "letter_type_id",
    "priority",
    "confidential",
    "language",
    "physical_attachments",
    "correspondent_id",
    "status",
    "cancelled_reason",
    "cancelled_at",
)
CONTACT_COLUMNS = (
    "id",
    "organisation_id",
    "kind",
    "name",
    "national_id",
    "email",
    "phone",
    "address",
    "created_at",
)

# (register, number code, share of letters)
REGISTERS = (("incoming", "A", 0.60), ("outgoing", "D", 0.30), ("internal", "I", 0.10))
CHANNELS = {
    "incoming": {"post": 40, "hand": 25, "email": 15, "portal": 10, "courier": 6, "fax": 4},
    "outgoing": {"post": 45, "email": 25, "hand": 15, "courier": 10, "fax": 3, "portal": 2},
    "internal": {"hand": 70, "email": 30},
}
# None: no letter type chosen.
LETTER_TYPE_WEIGHTS = {
    "incoming": {
        None: 20,
        "COURRIER": 35,
        "DEMANDE": 25,
        "PLAINTE": 8,
        "FACTURE": 10,
        "CONVOCATION": 2,
    },
    "outgoing": {None: 15, "COURRIER": 55, "CONVOCATION": 20, "DEMANDE": 10},
    "internal": {None: 20, "NOTE_INTERNE": 80},
}
PRIORITIES = {"normal": 90, "urgent": 8, "very_urgent": 2}
LANGUAGE_WEIGHTS = {"ar": 60, "fr": 35, "en": 3, "other": 2}
# Working days carry the mail; a little arrives at weekends (portal, email).
WEEKDAY_WEIGHTS = (1.3, 1.0, 1.0, 1.0, 0.8, 0.08, 0.03)
SUBJECTS = (
    "طلب الحصول على نسخة من القرار الإداري",
    "شكاية بخصوص تأخر معالجة الملف",
    "طلب شهادة إدارية",
    "إرسال وثائق تكميلية",
    "استدعاء لحضور اجتماع اللجنة",
    "Demande de certificat de résidence",
    "Réclamation concernant le dossier",
    "Transmission de pièces complémentaires",
    "Facture relative au marché",
    "Convocation à la réunion de coordination",
    "Note interne : organisation du service",
    "Request for information on the tender",
)
FIRST_NAMES = (
    "محمد",
    "فاطمة",
    "أحمد",
    "خديجة",
    "Youssef",
    "Salma",
    "Karim",
    "Nadia",
    "Omar",
    "Imane",
)
LAST_NAMES = ("العلوي", "بناني", "El Amrani", "Tazi", "Berrada", "الإدريسي", "Alaoui", "Chraibi")
ORGANISATIONS = ("Commune de", "Société", "Association", "Direction régionale de", "جماعة", "شركة")
CITIES = ("Rabat", "Fès", "Tanger", "Agadir", "Oujda", "الرباط", "مراكش")


def _cumulative(weights: dict) -> tuple[list, list[float]]:
    keys = list(weights)
    total = float(sum(weights.values()))
    running, cumulative = 0.0, []
    for key in keys:
        running += weights[key] / total
        cumulative.append(running)
    cumulative[-1] = 1.0
    return keys, cumulative


def _pick(rng: random.Random, table: tuple[list, list[float]]):
    keys, cumulative = table
    return keys[bisect.bisect_left(cumulative, rng.random())]


# --- data ----------------------------------------------------------------------------------------


def generate_contacts(organisation_id: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    created = datetime.combine(SPAN_START, datetime.min.time()) - timedelta(days=30)
    rows = []
    for n in range(1, CONTACTS + 1):
        if rng.random() < 0.3:
            kind = "organisation"
            name = f"{rng.choice(ORGANISATIONS)} {rng.choice(CITIES)} {n}"
            national_id = ""
        else:
            kind = "person"
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {n}"
            national_id = f"{rng.choice('ABCDGHJKLMX')}{rng.randrange(100000, 999999)}"
        rows.append(
            (n, organisation_id, kind, name, national_id, "", "", rng.choice(CITIES), created)
        )
    return rows


def generate_letters(
    count: int,
    organisation_id: int,
    officer_ids: list[int],
    letter_types: dict[str, int],
    contact_ids: list[int],
    seed: int,
    counters: dict[tuple[str, int], int],
) -> Iterator[tuple]:
    """``count`` letter rows in registration order (ids ascending with time), numbered per
    register and year from 1; ``counters`` receives each register's last number per year."""
    rng = random.Random(seed)
    days = [SPAN_START + timedelta(days=d) for d in range(SPAN_DAYS)]
    day_weights = [WEEKDAY_WEIGHTS[day.weekday()] for day in days]
    picked = rng.choices(range(SPAN_DAYS), weights=day_weights, k=count)
    # Office hours, 07:30-15:30 UTC (08:30-16:30 in Casablanca at UTC+1, earlier at UTC+0):
    # the UTC date and year are the local ones.
    office_us = 8 * 3600 * 1_000_000
    moments = sorted(d * 86_400_000_000 + rng.randrange(office_us) for d in picked)
    del picked
    epoch = datetime.combine(SPAN_START, datetime.min.time()) + timedelta(hours=7, minutes=30)

    register_table = _cumulative({name: share for name, _code, share in REGISTERS})
    codes = {name: code for name, code, _share in REGISTERS}
    channel_tables = {r: _cumulative(w) for r, w in CHANNELS.items()}
    type_tables = {r: _cumulative(w) for r, w in LETTER_TYPE_WEIGHTS.items()}
    priority_table = _cumulative(PRIORITIES)
    language_table = _cumulative(LANGUAGE_WEIGHTS)
    n_contacts = len(contact_ids)

    for letter_id, moment in enumerate(moments, start=1):
        registered_at = epoch + timedelta(microseconds=moment)
        register = _pick(rng, register_table)
        year = registered_at.year
        seq = counters.get((register, year), 0) + 1
        counters[(register, year)] = seq
        channel = _pick(rng, channel_tables[register])
        if registered_at.weekday() >= 5 and register != "internal":
            channel = "portal" if rng.random() < 0.5 else "email"
        type_code = _pick(rng, type_tables[register])
        day = registered_at.date()
        if register == "internal":
            correspondent_id = None
        else:  # a few correspondents write often
            correspondent_id = contact_ids[int(n_contacts * rng.random() ** 3)]
        incoming = register == "incoming"
        cancelled = rng.random() < 0.01
        yield (
            letter_id,
            organisation_id,
            register,
            year,
            seq,
            f"{year}/{codes[register]}/{seq:06d}",
            registered_at,
            officer_ids[letter_id % len(officer_ids)],
            f"{SUBJECTS[rng.randrange(len(SUBJECTS))]} - {rng.randrange(10_000, 99_999)}",
            f"REF-{rng.randrange(1, 9999)}/{year % 100}" if incoming and rng.random() < 0.6 else "",
            day - timedelta(days=rng.randrange(0, 10)) if incoming else day,
            day if incoming else None,
            channel,
            letter_types[type_code] if type_code else None,
            _pick(rng, priority_table),
            rng.random() < 0.02,
            _pick(rng, language_table),
            rng.randrange(0, 4) if rng.random() < 0.15 else 0,
            correspondent_id,
            "cancelled" if cancelled else "registered",
            "Enregistrement en double" if cancelled else "",
            registered_at + timedelta(hours=2) if cancelled else None,
        )


def _sqlite_value(value):
    """What SQLAlchemy itself stores on SQLite for dates and times (compared as text)."""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sqlite_row(row: tuple) -> tuple:
    return tuple(_sqlite_value(v) for v in row)


def _batches(rows: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def world_from_db(app: Flask) -> dict[str, Any]:
    with app.app_context():
        org = db.session.scalar(select(Organisation).where(Organisation.code == "bench"))
        officers = db.session.scalars(
            select(User.id).where(User.organisation_id == org.id).order_by(User.id)
        ).all()
        types = dict(
            db.session.execute(
                select(LetterType.code, LetterType.id).where(LetterType.organisation_id == org.id)
            ).all()
        )
        db.session.remove()
    return {"organisation_id": org.id, "officer_ids": list(officers), "letter_types": types}


def _placeholders(columns: tuple[str, ...], style: str) -> str:
    return ", ".join(style for _ in columns)


def load_sqlite(path: Path, world: dict[str, Any], count: int, seed: int) -> None:
    """Bulk insert with the sqlite3 module directly, then ANALYZE and checkpoint."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("PRAGMA temp_store=MEMORY")
    org_id = world["organisation_id"]
    contacts = generate_contacts(org_id, seed)
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) "  # noqa: S608 - constant names
        f"VALUES ({_placeholders(CONTACT_COLUMNS, '?')})",
        [_sqlite_row(row) for row in contacts],
    )
    conn.execute("COMMIT")
    counters: dict[tuple[str, int], int] = {}
    rows = generate_letters(
        count,
        org_id,
        world["officer_ids"],
        world["letter_types"],
        [c[0] for c in contacts],
        seed,
        counters,
    )
    insert = (
        f"INSERT INTO letters ({', '.join(LETTER_COLUMNS)}) "  # noqa: S608 - constant names
        f"VALUES ({_placeholders(LETTER_COLUMNS, '?')})"
    )
    done = 0
    for batch in _batches(rows, BATCH):
        conn.execute("BEGIN")
        conn.executemany(insert, [_sqlite_row(row) for row in batch])
        conn.execute("COMMIT")
        done += len(batch)
        if done % 200_000 == 0:
            common.log(f"  sqlite: {done:,} letters")
    conn.executemany(
        "INSERT INTO registry_counters (organisation_id, register, year, last_value) "
        "VALUES (?, ?, ?, ?)",
        [(org_id, register, year, last) for (register, year), last in counters.items()],
    )
    common.log("  sqlite: ANALYZE")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def load_postgresql(dsn: str, world: dict[str, Any], count: int, seed: int) -> None:
    """COPY with psycopg, fix the id sequences, then VACUUM (ANALYZE) as autovacuum would."""
    import psycopg

    org_id = world["organisation_id"]
    contacts = generate_contacts(org_id, seed)
    counters: dict[tuple[str, int], int] = {}
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY contacts ({', '.join(CONTACT_COLUMNS)}) FROM STDIN") as copy:
                for row in contacts:
                    copy.write_row(row)
            rows = generate_letters(
                count,
                org_id,
                world["officer_ids"],
                world["letter_types"],
                [c[0] for c in contacts],
                seed,
                counters,
            )
            with cur.copy(f"COPY letters ({', '.join(LETTER_COLUMNS)}) FROM STDIN") as copy:
                for done, row in enumerate(rows, start=1):
                    copy.write_row(row)
                    if done % 200_000 == 0:
                        common.log(f"  postgresql: {done:,} letters")
            cur.executemany(
                "INSERT INTO registry_counters (organisation_id, register, year, last_value) "
                "VALUES (%s, %s, %s, %s)",
                [(org_id, register, year, last) for (register, year), last in counters.items()],
            )
            for table in ("letters", "contacts"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
        conn.commit()
    common.log("  postgresql: VACUUM (ANALYZE)")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) letters")
        conn.execute("VACUUM (ANALYZE) contacts")


# --- SQLite cache --------------------------------------------------------------------------------


def sqlite_cache_path(count: int, seed: int) -> Path:
    name = f"register-listing-v{GENERATOR_VERSION}-{count}-seed{seed}.sqlite3"
    return common.RESULTS_DIR / name


def _sqlite_cache_valid(path: Path, count: int) -> bool:
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            letters = conn.execute("SELECT count(*) FROM letters").fetchone()[0]
            analysed = conn.execute(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'letters'"
            ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return revision == common.head_revision() and letters == count and analysed > 0


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def sqlite_database(count: int, seed: int, regenerate: bool) -> tuple[Path, dict[str, Any]]:
    """The cached database if valid, else a new one built by the migrations plus bulk rows."""
    path = sqlite_cache_path(count, seed)
    instance = common.RESULTS_DIR / "register-listing-instance"
    info: dict[str, Any] = {"database": str(path.relative_to(common.PROJECT_ROOT))}
    if not regenerate and _sqlite_cache_valid(path, count):
        info["cached"] = True
        return path, info
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    _remove_sqlite(path)
    building = path.with_name(path.name + ".building")
    _remove_sqlite(building)
    began = time.perf_counter()
    app = common.make_app(instance, DATABASE_URL=f"sqlite:///{building}")
    common.migrate(app)
    with app.app_context():
        world = common.create_world(db.session, officers=OFFICERS)
    common.dispose(app)
    load_sqlite(building, world, count, seed)
    os.replace(building, path)
    info.update(cached=False, generation_s=round(time.perf_counter() - began, 1))
    return path, info


# --- measurements --------------------------------------------------------------------------------


def cases(letter_types: dict[str, int]) -> dict[str, RegisterFilter]:
    middle = SPAN_START + timedelta(days=SPAN_DAYS // 2)
    while middle.weekday() != 1:  # a Tuesday
        middle += timedelta(days=1)
    return {
        "a_first_page": RegisterFilter(register="incoming"),
        "b_page_500": RegisterFilter(register="incoming"),
        "c_channel": RegisterFilter(register="incoming", channel="email"),
        "d_day": RegisterFilter(register="incoming", date_from=middle, date_to=middle),
        "e_cancelled": RegisterFilter(register="incoming", status="cancelled"),
        "f_letter_type": RegisterFilter(
            register="incoming", letter_type_id=letter_types["PLAINTE"]
        ),
        "g_letter_type_absent": RegisterFilter(
            register="incoming", letter_type_id=letter_types["NOTE_INTERNE"]
        ),
    }


def _describe(flt: RegisterFilter) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, date) else v) for k, v in vars(flt).items() if v}


class Lister:
    """Runs list_page as a request would: a fresh session each time, connection checked out
    (pool pre-ping, BEGIN) before the clock starts."""

    def __init__(self, app: Flask, organisation_id: int) -> None:
        self.app = app
        self.page_size = app.config["PAGE_SIZE"]
        with app.app_context():
            self.organisation = db.session.get(Organisation, organisation_id)
            db.session.remove()  # detached, attributes kept: list_page reads id and timezone

    def once(self, flt: RegisterFilter, cursor: str | None) -> tuple[float, Any]:
        db.session.connection()
        began = time.perf_counter()
        page = list_page(db.session, self.organisation, flt, cursor=cursor, limit=self.page_size)
        elapsed = time.perf_counter() - began
        db.session.remove()
        return elapsed, page

    def walk(self, flt: RegisterFilter, pages: int) -> tuple[str | None, list[float], bool]:
        """Follow next_cursor to the start of page ``pages``; check the order never breaks."""
        cursor, durations, seen, last_key, ordered = None, [], set(), None, True
        for _ in range(pages - 1):
            elapsed, page = self.once(flt, cursor)
            durations.append(elapsed)
            for letter in page.letters:
                key = (letter.registered_at, letter.id)
                if letter.id in seen or (last_key is not None and key >= last_key):
                    ordered = False
                seen.add(letter.id)
                last_key = key
            cursor = page.next_cursor
            if cursor is None:
                break
        return cursor, durations, ordered

    def plan(self, flt: RegisterFilter, cursor: str | None) -> dict[str, Any]:
        with common.capture_sql(db.engine, "FROM letters") as captured:
            self.once(flt, cursor)
        statement, parameters = captured[-1]
        lines = common.explain(db.session.connection(), statement, parameters)
        db.session.remove()
        return {"sql": statement, "parameters": _printable(parameters), "plan": lines}


def _printable(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {k: str(v) for k, v in parameters.items()}
    return [str(v) for v in parameters]


def measure(app: Flask, args) -> dict[str, Any]:
    world = world_from_db(app)
    lister = Lister(app, world["organisation_id"])
    results: dict[str, Any] = {"cases": {}, "plans": {}, "over_target": []}
    with app.app_context():
        for name, flt in cases(world["letter_types"]).items():
            cursor = None
            entry: dict[str, Any] = {"filter": _describe(flt)}
            if name == "b_page_500":
                began = time.perf_counter()
                cursor, walk, ordered = lister.walk(flt, args.page)
                entry["page"] = args.page
                entry["walk"] = {
                    "pages": len(walk),
                    "s": round(time.perf_counter() - began, 2),
                    **common.summary(walk),
                    "keyset_order_ok": ordered,
                }
                if cursor is None:
                    entry["error"] = "the register has fewer pages than --page"
            durations, rows = [], 0
            for _ in range(args.reps):
                elapsed, page = lister.once(flt, cursor)
                durations.append(elapsed)
                rows = len(page.letters)
            entry.update(common.summary(durations), rows=rows)
            entry["first_ms"] = round(durations[0] * 1000, 3)  # includes any cold start
            results["cases"][name] = entry
            over = entry["p95_ms"] > args.target_ms
            if over:
                results["over_target"].append(name)
            if args.all_plans or over or name in ("a_first_page", "b_page_500"):
                results["plans"][name] = lister.plan(flt, cursor)
            common.log(
                f"  {name}: p50 {entry['p50_ms']} ms, p95 {entry['p95_ms']} ms, "
                f"max {entry['max_ms']} ms ({rows} rows)"
            )
    return results


def database_size(app: Flask, sqlite_path: Path | None) -> dict[str, Any]:
    if sqlite_path is not None:
        return {"database_mb": round(sqlite_path.stat().st_size / 2**20, 1)}
    from sqlalchemy import text

    with app.app_context():
        row = db.session.execute(
            text(
                "SELECT pg_database_size(current_database()), pg_relation_size('letters'), "
                "pg_indexes_size('letters')"
            )
        ).one()
        db.session.remove()
    return {
        "database_mb": round(row[0] / 2**20, 1),
        "letters_table_mb": round(row[1] / 2**20, 1),
        "letters_indexes_mb": round(row[2] / 2**20, 1),
    }


def letter_count(app: Flask) -> dict[str, int]:
    from sqlalchemy import func

    from app.models import Letter

    with app.app_context():
        rows = db.session.execute(
            select(Letter.register, func.count()).group_by(Letter.register)
        ).all()
        db.session.remove()
    return {register: count for register, count in rows}


def bench_sqlite(args) -> dict[str, Any]:
    path, info = sqlite_database(args.letters, args.seed, args.regenerate)
    instance = common.RESULTS_DIR / "register-listing-instance"
    app = common.make_app(instance, DATABASE_URL=f"sqlite:///{path}")
    try:
        result = {**common.backend_versions(app), **info, **database_size(app, path)}
        result["letters_by_register"] = letter_count(app)
        result.update(measure(app, args))
    finally:
        common.dispose(app)
    return result


def bench_postgresql(args) -> dict[str, Any]:
    with (
        common.postgres_database("listing", keep=args.keep_pg) as name,
        common.temp_instance("diwan-bench-listing-") as instance,
    ):
        app = common.make_app(instance, DATABASE_URL=f"{common.pg_base_url()}/{name}")
        try:
            began = time.perf_counter()
            common.migrate(app)
            with app.app_context():
                world = common.create_world(db.session, officers=OFFICERS)
                db.session.remove()
            load_postgresql(common.pg_dsn(name), world, args.letters, args.seed)
            result = {
                **common.backend_versions(app),
                "database": name if args.keep_pg else f"{name} (dropped)",
                "generation_s": round(time.perf_counter() - began, 1),
                **database_size(app, None),
            }
            result["letters_by_register"] = letter_count(app)
            result.update(measure(app, args))
        finally:
            common.dispose(app)
    return result


def main() -> int:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--target-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--regenerate", action="store_true", help="ignore the SQLite cache")
    parser.add_argument("--keep-pg", action="store_true", help="do not drop the PostgreSQL db")
    parser.add_argument("--all-plans", action="store_true", help="plans of every case")
    parser.add_argument("--show-plans", action="store_true", help="also print plans to stderr")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "benchmark": "register_listing",
        "parameters": {
            "letters": args.letters,
            "reps": args.reps,
            "page": args.page,
            "target_ms": args.target_ms,
            "seed": args.seed,
        },
        "environment": common.environment(),
        "backends": {},
    }
    for backend in common.backends(args.backend):
        common.log(f"register_listing: {backend}, {args.letters:,} letters ...")
        bench = bench_sqlite if backend == "sqlite" else bench_postgresql
        results["backends"][backend] = bench(args)

    if args.show_plans:
        for backend, result in results["backends"].items():
            for name, plan in result["plans"].items():
                common.log(f"--- {backend} {name}\n" + "\n".join(plan["plan"]))
    first_and_500 = ("a_first_page", "b_page_500")
    verdicts = []
    for backend, result in results["backends"].items():
        figures = ", ".join(
            f"{name.split('_')[0]} p95 {result['cases'][name]['p95_ms']} ms"
            for name in first_and_500
        )
        over = ", ".join(result["over_target"]) or "none"
        verdicts.append(f"{backend}: {figures}; over {args.target_ms:g} ms: {over}")
    common.emit("register-listing", results, "register_listing: " + "; ".join(verdicts))
    target_met = all(
        result["cases"][name]["p95_ms"] <= args.target_ms
        for result in results["backends"].values()
        for name in first_and_500
    )
    return 0 if target_met else 1


if __name__ == "__main__":
    sys.exit(main())
