"""A consistent copy of the database while Diwan runs, and putting it back.

SQLite: the online backup API copies every page in one step inside one read transaction, so
the copy is the database as of one commit (WAL lets the application keep writing meanwhile).
PostgreSQL: a REPEATABLE READ transaction exports its snapshot; the facts are read in it and
pg_dump dumps exactly that snapshot (--snapshot), so both describe the same moment.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.backup.facts import database_facts, referenced_files


class DatabaseError(Exception):
    """The database cannot be copied or restored; the message says why."""


@dataclass(frozen=True)
class Snapshot:
    engine: str  # "sqlite" or "postgresql"
    path: Path  # the copy (an SQLite file or a pg_dump custom-format archive)
    facts: dict
    referenced: set[str]
    server_version: str


def engine_name(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise DatabaseError(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise DatabaseError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A connection string for pg_dump/pg_restore, its password in the environment (never
    in the process list)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _facts_of(bind) -> tuple[dict, set[str]]:
    with Session(bind=bind) as session:
        return database_facts(session), referenced_files(session)


def snapshot(url: str, workdir: Path) -> Snapshot:
    if engine_name(url) == "sqlite":
        return _sqlite_snapshot(sqlite_path(url), workdir / "diwan.sqlite3")
    return _postgres_snapshot(url, workdir / "diwan.pgdump")


def _sqlite_snapshot(source: Path, target: Path) -> Snapshot:
    if not source.is_file():
        raise DatabaseError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step: one consistent read transaction
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        problems = [row[0] for row in dst.execute("PRAGMA quick_check")]
        version = sqlite3.sqlite_version
    finally:
        dst.close()
        src.close()
    if problems != ["ok"]:
        raise DatabaseError("the database copy fails SQLite's check: " + "; ".join(problems[:5]))
    with _engine(f"sqlite:///{target}") as engine:
        facts, referenced = _facts_of(engine)
    return Snapshot("sqlite", target, facts, referenced, f"SQLite {version}")


@contextmanager
def _engine(url: str) -> Iterator:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _postgres_snapshot(url: str, target: Path) -> Snapshot:
    tool = _tool("pg_dump")
    conninfo, env = libpq(url)
    with _engine(url) as engine, engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.execute(text("SET TRANSACTION READ ONLY"))
            snapshot_id = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
            facts, referenced = _facts_of(connection)
            version = connection.execute(text("SHOW server_version")).scalar()
            _run(
                [
                    tool,
                    "--format=custom",
                    f"--snapshot={snapshot_id}",
                    f"--file={target}",
                    f"--dbname={conninfo}",
                ],
                env,
                "pg_dump",
            )
    return Snapshot("postgresql", target, facts, referenced, f"PostgreSQL {version}")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise DatabaseError(
            f"{name} is needed for a PostgreSQL backup: install postgresql-client "
            "(apt-get install postgresql-client), of the server's major version or newer"
        )
    return found


def _run(command: list[str], env: dict[str, str], name: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - fixed tool, arguments from our settings
    if result.returncode != 0:
        raise DatabaseError(f"{name} failed: {result.stderr.strip()[-2000:]}")


def postgres_is_empty(url: str) -> bool:
    """No table, view or sequence outside PostgreSQL's own schemas."""
    with _engine(url) as engine, engine.connect() as connection:
        count = connection.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'v', 'm', 'S', 'p')"
            )
        ).scalar()
    return count == 0


def restore_postgres(url: str, dump: Path) -> None:
    """All of the dump in one transaction, or nothing."""
    conninfo, env = libpq(url)
    _run(
        [
            _tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={conninfo}",
            str(dump),
        ],
        env,
        "pg_restore",
    )
