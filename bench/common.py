"""Shared plumbing for the benchmarks (never imported by the app or the test suite).

* ``make_app``: the real application factory on an instance folder of our own.
* ``sqlite_app`` / ``postgres_app``: an app whose database has been built by the migrations
  (``flask_migrate.upgrade()``), on a temporary SQLite file or on a throwaway PostgreSQL database
  named ``diwan_bench_*`` that is dropped afterwards (``postgres_database(template=...)`` copies
  one).
* ``create_world``: an organisation, registry officers and letter types, through the services.
* ``capture_sql`` and ``explain``: the exact statement a service sent, and its plan.
* ``summary``: p50/p95/max of a list of durations; ``emit``: JSON to stdout (and a results file),
  one human line to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"  # gitignored: caches and saved results
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

# A database the benchmarks may connect to in order to CREATE/DROP their own diwan_bench_* ones.
PG_ADMIN_URL = os.environ.get("DIWAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BENCH_PASSWORD = "bench password 2026"  # noqa: S105 - throwaway users in throwaway databases
BACKENDS = ("sqlite", "postgresql")


# --- command line --------------------------------------------------------------------------------


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    return parser


def backends(choice: str) -> list[str]:
    return list(BACKENDS) if choice == "both" else [choice]


# --- applications and databases ------------------------------------------------------------------


def make_app(instance: Path, **overrides: Any) -> Flask:
    """The real app factory, on a benchmark's own instance folder (like tests/conftest.py)."""
    from app import create_app

    settings = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "bench-secret-key",
        "PARSE_TIMEOUT_S": 20,
        **overrides,
    }
    return create_app(settings)


def migrate(app: Flask) -> None:
    """Build the schema the only supported way: the migrations."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def head_revision() -> str:
    """The newest migration; a cached database built at another revision is stale."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_current_head() or ""


def dispose(app: Flask) -> None:
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@contextmanager
def temp_instance(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        yield Path(folder) / "instance"


@contextmanager
def sqlite_app(prefix: str = "diwan-bench-") -> Iterator[Flask]:
    """An app on a fresh, migrated SQLite file in a temporary instance folder."""
    with temp_instance(prefix) as instance:
        app = make_app(instance)
        migrate(app)
        try:
            yield app
        finally:
            dispose(app)


def pg_base_url() -> str:
    """postgresql+psycopg://user@host:port (no database), from PG_ADMIN_URL."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://", 1)


def pg_dsn(name: str) -> str:
    """A libpq URL for psycopg itself (COPY, VACUUM) on database ``name``."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@contextmanager
def postgres_database(
    purpose: str, *, keep: bool = False, template: str | None = None
) -> Iterator[str]:
    """CREATE a diwan_bench_<purpose>_<random> database, yield its name, DROP it afterwards.

    With ``template`` (a diwan_bench_* database nobody is connected to) the new database is a
    copy of it."""
    import psycopg

    name = f"diwan_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    if template is not None and not template.startswith("diwan_bench_"):
        raise ValueError(f"not a benchmark database: {template}")
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield name
    finally:
        if keep:
            log(f"kept PostgreSQL database {name}")
        else:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_app(purpose: str, *, keep: bool = False) -> Iterator[Flask]:
    """An app on a fresh, migrated PostgreSQL database, dropped afterwards (unless ``keep``)."""
    with postgres_database(purpose, keep=keep) as name, temp_instance("diwan-bench-pg-") as inst:
        app = make_app(inst, DATABASE_URL=f"{pg_base_url()}/{name}")
        migrate(app)
        try:
            yield app
        finally:
            dispose(app)


def backend_versions(app: Flask) -> dict[str, str]:
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        dialect = db.engine.dialect.name
        if dialect == "sqlite":
            version = db.session.scalar(text("select sqlite_version()"))
        else:
            version = db.session.scalar(text("show server_version"))
        db.session.remove()
    return {"dialect": dialect, "server_version": str(version)}


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "sqlite_library": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


# --- a minimal world, through the services -------------------------------------------------------

LETTER_TYPES = (
    ("COURRIER", "مراسلة", "Courrier"),
    ("DEMANDE", "طلب", "Demande"),
    ("PLAINTE", "شكاية", "Réclamation"),
    ("FACTURE", "فاتورة", "Facture"),
    ("CONVOCATION", "استدعاء", "Convocation"),
    ("NOTE_INTERNE", "مذكرة داخلية", "Note interne"),
)


def create_world(session, *, officers: int = 1) -> dict[str, Any]:
    """An organisation, ``officers`` registry officers and the letter types, via the services."""
    from app.models import Role
    from app.services import organisations as orgs

    org = orgs.create_organisation(
        session, None, code="bench", name_ar="وزارة الاختبار", name_fr="Ministère du banc d'essai"
    )
    users = [
        orgs.create_user(
            session,
            None,
            org,
            username=f"officer{n}",
            full_name=f"Officer {n}",
            password=BENCH_PASSWORD,
            roles=[Role.REGISTRY_OFFICER],
        )
        for n in range(1, officers + 1)
    ]
    types = {
        code: orgs.create_letter_type(session, None, org, code=code, name_ar=ar, name_fr=fr).id
        for code, ar, fr in LETTER_TYPES
    }
    return {"organisation_id": org.id, "officer_ids": [u.id for u in users], "letter_types": types}


# --- statements and plans ------------------------------------------------------------------------


@contextmanager
def capture_sql(engine: Engine, needle: str) -> Iterator[list[tuple[str, Any]]]:
    """Collect (statement, parameters) of every statement containing ``needle``, as sent."""
    captured: list[tuple[str, Any]] = []

    def listener(_conn, _cursor, statement, parameters, _context, _executemany):
        if needle in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def explain(connection: Connection, statement: str, parameters: Any) -> list[str]:
    """The plan of a captured statement: EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE,
    BUFFERS) on PostgreSQL (the statement runs once more with the same parameters)."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        depth: dict[int, int] = {0: -1}
        lines = []
        for node_id, parent, _unused, detail in rows:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + detail)
        return lines
    rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
    return [row[0] for row in rows]


# --- figures -------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(durations_s: list[float]) -> dict[str, float | int]:
    """p50/p95/max/mean in milliseconds (nearest-rank percentiles)."""
    values = sorted(d * 1000 for d in durations_s)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50), 3),
        "p95_ms": round(percentile(values, 0.95), 3),
        "max_ms": round(values[-1], 3),
        "mean_ms": round(sum(values) / len(values), 3),
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(name: str, result: dict[str, Any], human: str) -> Path:
    """The JSON figures on stdout (also saved under bench/results/), a human line on stderr."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    print(text, flush=True)
    log(human)
    return path
