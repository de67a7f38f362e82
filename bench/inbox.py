"""The department inbox with 100,000 open letters: counts() and list_page() latency.

Builds a migrated database and fills it FAST with bulk SQL (executemany on SQLite, COPY on
PostgreSQL; not through the services). The registry is the one of register_listing.py (same
letter generator: two years, three registers, 500 correspondents, six letter types), here
3 x --open letters by default (300,000), routed to 8 departments:

* the measured department (DRC) is the action department of ~55% of the routed letters (incoming
  and internal, not cancelled) and gets a copy of 30% of the others'; other departments get
  copies too, and ~2% of letters were first sent to a wrong department and returned;
* exactly --open letters are open in DRC: 70% action accepted (60% of them passed to one of
  --agents agents), 10% action pending (mostly the newest) and 20% copies. Other departments
  keep a similar share of their letters open; every other routed letter is closed, with its
  assignments, an outcome and a closing date (outgoing and cancelled letters are not routed).
  Open letters are chosen with a bias to recent ones;
* due dates: letter types DEMANDE, PLAINTE, FACTURE and CONVOCATION have a deadline (the
  other letters have none). A closed letter is due at received_on + the deadline; an open one is
  overdue (share rising with its age), due within 3 days, or due later (marked extended when
  that is past its legal deadline), so that a few % of the inbox are overdue and a few % due soon.

"Today" is fixed (2026-11-02, the day after the registry's last day) so the data can be cached.
Every assignment carries a copy of its letter's due date (``assignments.due_on``, as
deadlines.refresh_due_date and routing._assign keep it). After ANALYZE, the script times the real
service functions, ``inbox.counts`` and ``inbox.list_page``, each repetition in a fresh session
(as a request), for the department head (the whole queue) and for one agent (what was passed to
them, and the copies):

  load               the first page of the default tab (inbox.default_tab: "new" for a head,
                     "in_progress" for an agent) then counts(), as the view does: the issue's
                     target, p95 under --target-ms (100 ms)
  counts             counts() alone
  <tab>_first        the first page of each tab: new, in_progress, due_soon, overdue, copies
  <tab>_deep         page --page (100), reached once by walking the cursors (or the tab's last
                     page if it has fewer: "page" says which), then fetched repeatedly

and reports p50/p95/max over --reps repetitions (default 50), with EXPLAIN (QUERY PLAN on
SQLite, (ANALYZE, BUFFERS) on PostgreSQL) of the load's statements and of every case whose p95
is over the target.

Checks, independent of the service (plain SQL reading the letter's own due date, with the
conditions the inbox had before the copy: open states, agent_id = me OR copy):
"reference_differences" lists any count or any page of any tab (first and deep) whose ids differ
from the service's, "due_on_mismatches" counts assignments whose due_on differs from their
letter's, and every cursor walk must keep ids strictly falling ("keyset_order_ok").

The SQLite database is cached in bench/results/ (its name holds GENERATOR_VERSION and a hash of
the migrations); the PostgreSQL one is regenerated each run and dropped (unless --keep-pg).

    .venv/bin/python bench/inbox.py [--backend sqlite|postgresql|both] [--open 100000]
        [--letters 3*open] [--agents 20] [--reps 50] [--page 100] [--target-ms 100]
        [--regenerate] [--keep-pg] [--all-plans] [--show-plans]
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
import register_listing as registry  # the letter generator and its helpers
from flask import Flask
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import (
    Assignment,
    AssignmentKind,
    AssignmentState,
    Department,
    Letter,
    Role,
    User,
)
from app.models.routing import OPEN_STATES
from app.services import inbox
from app.services import organisations as orgs

# Bump when the generated data changes, to invalidate the SQLite cache. 2: assignments.due_on.
GENERATOR_VERSION = 2
TODAY = registry.SPAN_START + timedelta(days=registry.SPAN_DAYS + 1)  # 2026-11-02, a Monday
BATCH = 50_000

# (code, Arabic name, French name, weight among the other departments' action letters)
DEPARTMENTS = (
    ("DRC", "مديرية العلاقات مع المواطنين", "Direction des relations avec les citoyens", 0),
    ("DAF", "مديرية الشؤون المالية", "Direction des affaires financières", 30),
    ("DRH", "مديرية الموارد البشرية", "Direction des ressources humaines", 20),
    ("DAJ", "مديرية الشؤون القانونية", "Direction des affaires juridiques", 15),
    ("DSI", "مديرية نظم المعلومات", "Direction des systèmes d'information", 10),
    ("DPE", "مديرية التخطيط والتقييم", "Direction de la planification et de l'évaluation", 10),
    ("CAB", "الديوان", "Cabinet", 10),
    ("SG", "الكتابة العامة", "Secrétariat général", 5),
)
TARGET = "DRC"
TARGET_ACTION_SHARE = 0.55  # of the routed letters
COPY_TO_TARGET = 0.30  # of the other departments' letters
OTHER_COPY = 0.15  # a copy to another department
RETURNED_SHARE = 0.02  # first routed to a wrong department, which returned it
COPY_SHARE = 0.20  # of the target's open letters
PENDING_SHARE = 0.10  # of the target's open letters
PASSED_SHARE = 0.60  # of the accepted action letters, passed to an agent
OTHER_PENDING = 0.15  # other departments' open action letters not yet accepted
RECENCY = 2.0  # open letters: weight exp(-RECENCY * age / span)
PENDING_RECENCY = 8.0
# Deadlines in working days (stored on the letter types); dates use 7/5 calendar days.
DEADLINES = {"DEMANDE": 40, "PLAINTE": 20, "FACTURE": 40, "CONVOCATION": 10}
OVERDUE_SHARE = 0.10  # of the open letters with a deadline (twice that for the oldest)
DUE_SOON_SHARE = 0.08
OUTCOMES = {"answered": 60, "no_reply_needed": 25, "filed": 10, "transferred": 5}
RETURN_REASON = "Ne relève pas de nos attributions"

LETTER_COLUMNS = (*registry.LETTER_COLUMNS, "due_on", "extensions", "closed_at", "outcome")
ASSIGNMENT_COLUMNS = (
    "id",
    "organisation_id",
    "letter_id",
    "department_id",
    "kind",
    "state",
    "agent_id",
    "routed_by_id",
    "routed_at",
    "return_reason",
    "due_on",  # a copy of the letter's due date, as the app keeps it
)
_COL = {name: index for index, name in enumerate(registry.LETTER_COLUMNS)}


# --- the world, through the services -------------------------------------------------------------


def create_world(app: Flask, agents: int) -> dict[str, Any]:
    """Organisation, officers, letter types (common.create_world), departments, the target's
    head and agents and the other departments' heads, all through the services."""
    from app.models import Organisation

    with app.app_context():
        world = common.create_world(db.session, officers=registry.OFFICERS)
        org = db.session.get(Organisation, world["organisation_id"])
        departments = {}
        for code, name_ar, name_fr, _weight in DEPARTMENTS:
            departments[code] = orgs.create_department(
                db.session, None, org, code=code, name_ar=name_ar, name_fr=name_fr
            )
        for code, department in departments.items():
            orgs.create_user(
                db.session,
                None,
                org,
                username=f"head_{code.lower()}",
                full_name=f"Chef {code}",
                password=common.BENCH_PASSWORD,
                roles=[Role.DEPARTMENT_HEAD],
                department=department,
            )
        for n in range(1, agents + 1):
            orgs.create_user(
                db.session,
                None,
                org,
                username=f"agent{n:02d}",
                full_name=f"Agent {n:02d}",
                password=common.BENCH_PASSWORD,
                roles=[Role.AGENT],
                department=departments[TARGET],
            )
        db.session.remove()
    return world_from_db(app)


def world_from_db(app: Flask) -> dict[str, Any]:
    world = registry.world_from_db(app)
    with app.app_context():
        departments = dict(db.session.execute(select(Department.code, Department.id)).all())
        world["departments"] = [departments[code] for code, *_rest in DEPARTMENTS]
        world["head_id"] = db.session.scalar(
            select(User.id).where(User.username == f"head_{TARGET.lower()}")
        )
        world["agent_ids"] = list(
            db.session.scalars(
                select(User.id).where(User.username.like("agent%")).order_by(User.username)
            )
        )
        db.session.remove()
    # registry.world_from_db lists every user of the organisation; keep the officers.
    world["officer_ids"] = world["officer_ids"][: registry.OFFICERS]
    return world


# --- data ----------------------------------------------------------------------------------------


def _choose(
    candidates: list[int], k: int, keys: list[float], what: str, hint: str = ""
) -> set[int]:
    if k > len(candidates):
        raise SystemExit(f"only {len(candidates):,} {what} for {k:,} open ones{hint}")
    return set(heapq.nlargest(k, candidates, key=keys.__getitem__))


def _recency_keys(rng: random.Random, n: int, strength: float) -> list[float]:
    """Weighted sampling without replacement (Efraimidis-Spirakis): the k largest keys are a
    sample with weights exp(-strength * age), age 0 for the newest letter, 1 for the oldest."""
    return [rng.random() ** (1.0 / math.exp(-strength * (n - 1 - i) / n)) for i in range(n)]


def generate(world: dict[str, Any], letters: int, open_count: int, seed: int) -> dict[str, Any]:
    """Letter rows (registry.generate_letters plus processing columns), assignment rows, the
    registry counters and a summary of the mix."""
    rng = random.Random(seed + 1)
    org_id = world["organisation_id"]
    contacts = registry.generate_contacts(org_id, seed)
    counters: dict[tuple[str, int], int] = {}
    rows = list(
        registry.generate_letters(
            letters,
            org_id,
            world["officer_ids"],
            world["letter_types"],
            [c[0] for c in contacts],
            seed,
            counters,
        )
    )
    n = len(rows)
    deadline_of = {world["letter_types"][code]: days for code, days in DEADLINES.items()}
    departments = world["departments"]
    target, others = departments[0], departments[1:]
    other_weights = [weight for *_names, weight in DEPARTMENTS[1:]]

    # Routing: the action department, copies and an earlier wrong department.
    action: list[int | None] = [None] * n
    copies: list[tuple[int, ...]] = [()] * n
    returned_by: list[int | None] = [None] * n
    for i, row in enumerate(rows):
        if row[_COL["register"]] == "outgoing" or row[_COL["status"]] == "cancelled":
            continue
        if rng.random() < TARGET_ACTION_SHARE:
            handler = target
        else:
            handler = rng.choices(others, weights=other_weights)[0]
        cc = []
        if handler != target and rng.random() < COPY_TO_TARGET:
            cc.append(target)
        if rng.random() < OTHER_COPY:
            cc.append(rng.choice([d for d in others if d != handler]))
        action[i], copies[i] = handler, tuple(cc)
        if rng.random() < RETURNED_SHARE:
            returned_by[i] = rng.choice([d for d in departments if d != handler])

    # Which letters are open: exact numbers for the target, a similar share elsewhere.
    keys = _recency_keys(rng, n, RECENCY)
    by_target = [i for i in range(n) if action[i] == target]
    copied_to_target = [
        i for i in range(n) if action[i] not in (None, target) and target in copies[i]
    ]
    elsewhere = [i for i in range(n) if action[i] not in (None, target) and target not in copies[i]]
    n_copies = round(open_count * COPY_SHARE)
    n_actions = open_count - n_copies
    hint = " (raise --letters)"
    open_actions = _choose(by_target, n_actions, keys, "letters for the target", hint)
    open_copies = _choose(copied_to_target, n_copies, keys, "letters copied to the target", hint)
    share = n_copies / len(copied_to_target)
    open_letters = (
        open_actions | open_copies | _choose(elsewhere, round(len(elsewhere) * share), keys, "")
    )
    pending_keys = _recency_keys(rng, n, PENDING_RECENCY)
    pending = _choose(
        sorted(open_actions), round(open_count * PENDING_SHARE), pending_keys, "open letters"
    )

    # Letters: processing columns.
    ordered_open = sorted(open_letters)
    age_rank = {i: 1 - pos / len(ordered_open) for pos, i in enumerate(ordered_open)}
    outcome_keys, outcome_weights = list(OUTCOMES), list(OUTCOMES.values())
    now = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=7)
    letter_rows = []
    for i, row in enumerate(rows):
        registered_at = row[_COL["registered_at"]]
        received = row[_COL["received_on"]] or registered_at.date()
        days = deadline_of.get(row[_COL["letter_type_id"]])
        legal_due = received + timedelta(days=days * 7 // 5) if days else None
        due_on, extensions, closed_at, outcome, status = legal_due, 0, None, "", None
        if i in open_letters:
            if days:
                draw = rng.random()
                if draw < 2 * OVERDUE_SHARE * age_rank[i]:
                    due_on = max(
                        received + timedelta(days=1), TODAY - timedelta(rng.randint(1, 90))
                    )
                elif draw > 1 - DUE_SOON_SHARE:
                    due_on = TODAY + timedelta(days=rng.randint(0, 3))
                else:
                    due_on = TODAY + timedelta(days=rng.randint(4, 90))
                extensions = 1 if due_on > legal_due else 0
        elif action[i] is not None:
            status = "closed"
            closed_at = min(registered_at + timedelta(hours=rng.randint(4, 60 * 24)), now)
            outcome = rng.choices(outcome_keys, weights=outcome_weights)[0]
        if status:
            row = (*row[: _COL["status"]], status, *row[_COL["status"] + 1 :])
        letter_rows.append((*row, due_on, extensions, closed_at, outcome))

    # Assignments, numbered in routing order.
    officers = world["officer_ids"]
    agents = world["agent_ids"]
    pending_other = OTHER_PENDING
    raw = []
    for i in range(n):
        handler = action[i]
        if handler is None:
            continue
        letter_id = rows[i][_COL["id"]]
        routed_at = rows[i][_COL["registered_at"]] + timedelta(minutes=rng.randint(20, 300))
        by = officers[i % len(officers)]
        is_open = i in open_letters
        if returned_by[i] is not None:
            raw.append(
                (
                    routed_at,
                    letter_id,
                    returned_by[i],
                    "action",
                    "returned",
                    None,
                    by,
                    RETURN_REASON,
                )
            )
            routed_at += timedelta(days=1, minutes=rng.randint(0, 240))
        agent = None
        if not is_open:
            state = "closed"
            if handler == target and agents and rng.random() < PASSED_SHARE:
                agent = rng.choice(agents)
        elif i in pending or (handler != target and rng.random() < pending_other):
            state = "pending"
        else:
            state = "accepted"
            if handler == target and agents and rng.random() < PASSED_SHARE:
                agent = rng.choice(agents)
        raw.append((routed_at, letter_id, handler, "action", state, agent, by, ""))
        for department in copies[i]:
            state = "accepted" if is_open else "closed"
            raw.append((routed_at, letter_id, department, "copy", state, None, by, ""))
    raw.sort(key=lambda r: r[0])
    due = LETTER_COLUMNS.index("due_on")
    due_of = {row[_COL["id"]]: row[due] for row in letter_rows}
    assignment_rows = [
        (n_id, org_id, letter_id, dep, kind, state, agent, by, routed_at, reason, due_of[letter_id])
        for n_id, (routed_at, letter_id, dep, kind, state, agent, by, reason) in enumerate(
            raw, start=1
        )
    ]
    return {
        "contacts": contacts,
        "letters": letter_rows,
        "assignments": assignment_rows,
        "counters": counters,
    }


def _insert(columns: tuple[str, ...], table: str, style: str) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - constant names
        f"VALUES ({', '.join(style for _ in columns)})"
    )


def _deadline_updates(world: dict[str, Any]) -> list[tuple[int, int]]:
    return [(days, world["letter_types"][code]) for code, days in DEADLINES.items()]


def load_sqlite(path: Path, world: dict[str, Any], data: dict[str, Any]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("PRAGMA temp_store=MEMORY")
    org_id = world["organisation_id"]
    for table, columns, rows in (
        ("contacts", registry.CONTACT_COLUMNS, data["contacts"]),
        ("letters", LETTER_COLUMNS, data["letters"]),
        ("assignments", ASSIGNMENT_COLUMNS, data["assignments"]),
    ):
        insert = _insert(columns, table, "?")
        for batch in registry._batches(iter(rows), BATCH):
            conn.execute("BEGIN")
            conn.executemany(insert, [registry._sqlite_row(row) for row in batch])
            conn.execute("COMMIT")
        common.log(f"  sqlite: {len(rows):,} {table}")
    conn.execute("BEGIN")
    conn.executemany(
        _insert(("organisation_id", "register", "year", "last_value"), "registry_counters", "?"),
        [(org_id, reg, year, last) for (reg, year), last in data["counters"].items()],
    )
    conn.executemany(
        "UPDATE letter_types SET deadline_days = ? WHERE id = ?", _deadline_updates(world)
    )
    conn.execute("COMMIT")
    common.log("  sqlite: ANALYZE")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def load_postgresql(dsn: str, world: dict[str, Any], data: dict[str, Any]) -> None:
    import psycopg

    org_id = world["organisation_id"]
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            for table, columns, rows in (
                ("contacts", registry.CONTACT_COLUMNS, data["contacts"]),
                ("letters", LETTER_COLUMNS, data["letters"]),
                ("assignments", ASSIGNMENT_COLUMNS, data["assignments"]),
            ):
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                common.log(f"  postgresql: {len(rows):,} {table}")
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
            cur.executemany(
                _insert(
                    ("organisation_id", "register", "year", "last_value"),
                    "registry_counters",
                    "%s",
                ),
                [(org_id, reg, year, last) for (reg, year), last in data["counters"].items()],
            )
            cur.executemany(
                "UPDATE letter_types SET deadline_days = %s WHERE id = %s",
                _deadline_updates(world),
            )
        conn.commit()
    common.log("  postgresql: VACUUM (ANALYZE)")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("letters", "contacts", "assignments", "letter_types"):
            conn.execute(f"VACUUM (ANALYZE) {table}")


# --- SQLite cache --------------------------------------------------------------------------------


def _migrations_hash() -> str:
    """A migration edited in place keeps its revision: the cache's name holds their contents."""
    digest = hashlib.sha256()
    for path in sorted((common.PROJECT_ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def sqlite_cache_path(args) -> Path:
    name = (
        f"inbox-v{GENERATOR_VERSION}-{_migrations_hash()}-{args.open}-{args.letters}-"
        f"{args.agents}-seed{args.seed}"
    )
    return common.RESULTS_DIR / f"{name}.sqlite3"


def _sqlite_cache_valid(path: Path, letters: int) -> bool:
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            count = conn.execute("SELECT count(*) FROM letters").fetchone()[0]
            analysed = conn.execute(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'assignments'"
            ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return revision == common.head_revision() and count == letters and analysed > 0


def sqlite_database(args) -> tuple[Path, dict[str, Any]]:
    path = sqlite_cache_path(args)
    info: dict[str, Any] = {"database": str(path.relative_to(common.PROJECT_ROOT))}
    if not args.regenerate and _sqlite_cache_valid(path, args.letters):
        info["cached"] = True
        return path, info
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    registry._remove_sqlite(path)
    building = path.with_name(path.name + ".building")
    registry._remove_sqlite(building)
    began = time.perf_counter()
    app = common.make_app(
        common.RESULTS_DIR / "inbox-instance", DATABASE_URL=f"sqlite:///{building}"
    )
    common.migrate(app)
    world = create_world(app, args.agents)
    common.dispose(app)
    data = generate(world, args.letters, args.open, args.seed)
    load_sqlite(building, world, data)
    building.replace(path)
    info.update(cached=False, generation_s=round(time.perf_counter() - began, 1))
    return path, info


# --- measurements --------------------------------------------------------------------------------


def _printable(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {k: str(v) for k, v in parameters.items()}
    return [str(v) for v in parameters]


class Inbox:
    """Runs app.services.inbox as a request would: a fresh session each time, its connection
    checked out (pool pre-ping, BEGIN) before the clock starts."""

    def __init__(self, app: Flask, user_id: int) -> None:
        self.app = app
        self.page_size = app.config["PAGE_SIZE"]
        with app.app_context():
            self.user = db.session.get(User, user_id)
            self.roles = sorted(self.user.roles)  # role_rows loaded (selectin)
            db.session.remove()  # detached, attributes kept (id, department_id, roles)
        self.default_tab = inbox.default_tab(self.user)

    def timed(self, work: Callable[[Session], Any]) -> tuple[float, Any]:
        db.session.connection()
        began = time.perf_counter()
        result = work(db.session)
        elapsed = time.perf_counter() - began
        db.session.remove()
        return elapsed, result

    def counts(self, session: Session) -> dict[str, int]:
        return inbox.counts(session, self.user, TODAY)

    def page(self, tab: str, after: int | None) -> Callable[[Session], inbox.InboxPage]:
        def work(session: Session) -> inbox.InboxPage:
            return inbox.list_page(
                session, self.user, tab, TODAY, after=after, limit=self.page_size
            )

        return work

    def load(self, session: Session) -> tuple[inbox.InboxPage, dict[str, int]]:
        """What the view does: the page of the default tab, then the counts."""
        page = inbox.list_page(session, self.user, self.default_tab, TODAY, limit=self.page_size)
        return page, inbox.counts(session, self.user, TODAY)

    def walk(self, tab: str, pages: int) -> tuple[int, int | None, list[float], bool]:
        """Follow next_cursor towards page ``pages`` (or the tab's last page); check the order."""
        cursor, number, durations, last_id, ordered = None, 1, [], None, True
        while number < pages:
            elapsed, page = self.timed(self.page(tab, cursor))
            durations.append(elapsed)
            for assignment in page.assignments:
                if last_id is not None and assignment.id >= last_id:
                    ordered = False
                last_id = assignment.id
            if page.next_cursor is None:
                break
            cursor, number = page.next_cursor, number + 1
        return number, cursor, durations, ordered

    def plan(self, work: Callable[[Session], Any]) -> list[dict[str, Any]]:
        with common.capture_sql(db.engine, "FROM assignments") as captured:
            self.timed(work)
        plans = []
        for statement, parameters in captured:
            lines = common.explain(db.session.connection(), statement, parameters)
            db.session.remove()
            plans.append({"sql": statement, "parameters": _printable(parameters), "plan": lines})
        return plans


def _output(out: Any) -> Any:
    """What a case returned, to compare with the reference: counts, or page ids."""
    if isinstance(out, inbox.InboxPage):
        return [a.id for a in out.assignments]
    if isinstance(out, tuple):
        return [_output(part) for part in out]
    return out


# --- the reference: plain SQL on the letter's own due date ---------------------------------------


def _reference_where(user: User, tab: str) -> list:
    """The tabs as the inbox defined them before the due date was copied: open states, the
    letter's due_on (joined), and for an agent ``agent_id = me OR kind = copy``."""
    where = [Assignment.department_id == user.department_id, Assignment.state.in_(OPEN_STATES)]
    if not user.has_role(Role.DEPARTMENT_HEAD):
        where.append(or_(Assignment.agent_id == user.id, Assignment.kind == AssignmentKind.COPY))
    action = Assignment.kind == AssignmentKind.ACTION
    soon = TODAY + timedelta(days=inbox.DUE_SOON_DAYS)
    return (
        where
        + {
            "new": [action, Assignment.state == AssignmentState.PENDING],
            "in_progress": [action, Assignment.state == AssignmentState.ACCEPTED],
            "due_soon": [action, Letter.due_on >= TODAY, Letter.due_on <= soon],
            "overdue": [action, Letter.due_on < TODAY],
            "copies": [Assignment.kind == AssignmentKind.COPY],
        }[tab]
    )


def reference_outputs(
    app: Flask, user: User, page_size: int, default_tab: str, cursors: dict[str, int | None]
) -> dict[str, Any]:
    """What every case must return: counts, the first page of each tab and its deep page (after
    the cursor the walk reached), and the load."""

    def base():
        return (
            select(Assignment.id)
            .join(Letter, Letter.id == Assignment.letter_id)
            .order_by(Assignment.id.desc())
        )

    with app.app_context():
        session = db.session
        counts = {
            tab: session.scalar(
                select(func.count())
                .select_from(Assignment)
                .join(Letter, Letter.id == Assignment.letter_id)
                .where(*_reference_where(user, tab))
            )
            for tab in inbox.TABS
        }
        expected: dict[str, Any] = {"counts": counts}
        for tab in inbox.TABS:
            where = _reference_where(user, tab)
            expected[f"{tab}_first"] = list(session.scalars(base().where(*where).limit(page_size)))
            after = cursors[tab]
            deep = base().where(*where)
            if after:
                deep = deep.where(Assignment.id < after)
            expected[f"{tab}_deep"] = list(session.scalars(deep.limit(page_size)))
        expected["load"] = [expected[f"{default_tab}_first"], counts]
        session.remove()
    return expected


# --- measurements --------------------------------------------------------------------------------


def measure_user(app: Flask, user_id: int, args) -> dict[str, Any]:
    runner = Inbox(app, user_id)
    result: dict[str, Any] = {
        "user_id": user_id,
        "roles": runner.roles,
        "default_tab": runner.default_tab,
    }
    cases: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    cursors: dict[str, int | None] = {}
    over: list[str] = []
    with app.app_context():
        _elapsed, result["counts"] = runner.timed(runner.counts)
        work: list[tuple[str, Callable[[Session], Any], dict[str, Any]]] = [
            ("load", runner.load, {"tab": runner.default_tab}),
            ("counts", runner.counts, {}),
        ]
        for tab in inbox.TABS:
            work.append((f"{tab}_first", runner.page(tab, None), {}))
            began = time.perf_counter()
            number, cursor, walk, ordered = runner.walk(tab, args.page)
            walked = {
                "pages": len(walk),
                "s": round(time.perf_counter() - began, 2),
                **common.summary(walk),
                "keyset_order_ok": ordered,
            }
            cursors[tab] = cursor
            extra = {"page": number, "after": cursor, "walk": walked}
            work.append((f"{tab}_deep", runner.page(tab, cursor), extra))
        for name, job, extra in work:
            durations, rows = [], None
            for _ in range(args.reps):
                elapsed, out = runner.timed(job)
                durations.append(elapsed)
                if isinstance(out, inbox.InboxPage):
                    rows = len(out.assignments)
            outputs[name] = _output(out)
            entry = {
                **extra,
                **common.summary(durations),
                "first_ms": round(durations[0] * 1000, 3),
            }
            if rows is not None:
                entry["rows"] = rows
            cases[name] = entry
            late = entry["p95_ms"] > args.target_ms
            if late:
                over.append(name)
            if args.all_plans or late or name == "load":
                plans[name] = runner.plan(job)
            common.log(
                f"    {name}: p50 {entry['p50_ms']} ms, p95 {entry['p95_ms']} ms, "
                f"max {entry['max_ms']} ms"
                + (f" (page {extra['page']}, {rows} rows)" if "page" in extra else "")
            )
    expected = reference_outputs(app, runner.user, runner.page_size, runner.default_tab, cursors)
    differences = sorted(name for name, output in outputs.items() if expected[name] != output)
    unordered = sorted(
        name for name, case in cases.items() if not case.get("walk", {}).get("keyset_order_ok", 1)
    )
    result.update(
        cases=cases,
        over_target=over,
        reference_differences=differences,
        keyset_order_broken=unordered,
        plans=plans,
    )
    if differences or unordered:
        common.log(f"    CHECK FAILED: differences {differences}, order {unordered}")
    return result


def data_summary(app: Flask, world: dict[str, Any]) -> dict[str, Any]:
    """What the database holds, counted with plain SQL (independent of the service)."""
    target = world["departments"][0]
    with app.app_context():
        session = db.session
        letters = dict(
            session.execute(select(Letter.status, func.count()).group_by(Letter.status)).all()
        )
        states = {
            f"{kind}/{state}": count
            for kind, state, count in session.execute(
                select(Assignment.kind, Assignment.state, func.count())
                .where(Assignment.department_id == target)
                .group_by(Assignment.kind, Assignment.state)
            ).all()
        }
        open_action = and_(
            Assignment.department_id == target,
            Assignment.state.in_(OPEN_STATES),
            Assignment.kind == AssignmentKind.ACTION,
        )
        due = session.execute(
            select(
                func.count().filter(Letter.due_on < TODAY),
                func.count().filter(Letter.due_on.between(TODAY, TODAY + timedelta(days=3))),
                func.count().filter(Letter.due_on.is_(None)),
                func.count(),
            )
            .select_from(Assignment)
            .join(Letter, Letter.id == Assignment.letter_id)
            .where(open_action)
        ).one()
        passed = session.execute(
            select(Assignment.agent_id, func.count())
            .where(open_action, Assignment.agent_id.is_not(None))
            .group_by(Assignment.agent_id)
        ).all()
        total_assignments = session.scalar(select(func.count()).select_from(Assignment))
        mismatches = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .join(Letter, Letter.id == Assignment.letter_id)
            .where(Assignment.due_on.is_distinct_from(Letter.due_on))
        )
        open_elsewhere = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.department_id != target, Assignment.state.in_(OPEN_STATES))
        )
        session.remove()
    loads = sorted(count for _agent, count in passed)
    return {
        "letters_by_status": letters,
        "assignments_total": total_assignments,
        "due_on_mismatches": mismatches,  # assignments.due_on != letters.due_on: must be 0
        "open_assignments_other_departments": open_elsewhere,
        "target_assignments_by_kind_state": states,
        "target_open_action": {
            "total": due[3],
            "overdue": due[0],
            "due_within_3_days": due[1],
            "no_due_date": due[2],
            "overdue_pct": round(100 * due[0] / due[3], 1),
            "due_soon_pct": round(100 * due[1] / due[3], 1),
            "passed_to_agents": sum(loads),
            "per_agent_min_median_max": [loads[0], loads[len(loads) // 2], loads[-1]]
            if loads
            else [],
        },
    }


def pick_agent(app: Flask, world: dict[str, Any]) -> int:
    """The agent with the median number of open letters passed to them."""
    target = world["departments"][0]
    with app.app_context():
        rows = db.session.execute(
            select(Assignment.agent_id, func.count())
            .where(
                Assignment.department_id == target,
                Assignment.state.in_(OPEN_STATES),
                Assignment.agent_id.is_not(None),
            )
            .group_by(Assignment.agent_id)
            .order_by(func.count(), Assignment.agent_id)
        ).all()
        db.session.remove()
    return rows[len(rows) // 2][0]


def measure(app: Flask, world: dict[str, Any], args) -> dict[str, Any]:
    result: dict[str, Any] = {"today": str(TODAY), "data": data_summary(app, world), "users": {}}
    for role, user_id in (("head", world["head_id"]), ("agent", pick_agent(app, world))):
        common.log(f"  {role} (user {user_id}):")
        result["users"][role] = measure_user(app, user_id, args)
    return result


def database_size(app: Flask, sqlite_path: Path | None) -> dict[str, Any]:
    if sqlite_path is not None:
        return {"database_mb": round(sqlite_path.stat().st_size / 2**20, 1)}
    with app.app_context():
        row = db.session.execute(
            text(
                "SELECT pg_database_size(current_database()), pg_relation_size('letters'), "
                "pg_relation_size('assignments'), pg_indexes_size('assignments')"
            )
        ).one()
        indexes = db.session.execute(
            text(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = 'assignments'::regclass ORDER BY c.relname"
            )
        ).all()
        db.session.remove()
    return {
        "database_mb": round(row[0] / 2**20, 1),
        "letters_table_mb": round(row[1] / 2**20, 1),
        "assignments_table_mb": round(row[2] / 2**20, 1),
        "assignments_indexes_mb": round(row[3] / 2**20, 1),
        "assignments_index_mb": {name: round(size / 2**20, 1) for name, size in indexes},
    }


# --- the two backends ----------------------------------------------------------------------------


def bench_sqlite(args) -> dict[str, Any]:
    path, info = sqlite_database(args)
    instance = common.RESULTS_DIR / "inbox-instance"
    app = common.make_app(instance, DATABASE_URL=f"sqlite:///{path}")
    try:
        world = world_from_db(app)
        result = {**common.backend_versions(app), **info, **database_size(app, path)}
        result.update(measure(app, world, args))
    finally:
        common.dispose(app)
    return result


def bench_postgresql(args) -> dict[str, Any]:
    with (
        common.postgres_database("inbox", keep=args.keep_pg) as name,
        common.temp_instance("diwan-bench-inbox-") as instance,
    ):
        app = common.make_app(instance, DATABASE_URL=f"{common.pg_base_url()}/{name}")
        try:
            began = time.perf_counter()
            common.migrate(app)
            world = create_world(app, args.agents)
            data = generate(world, args.letters, args.open, args.seed)
            load_postgresql(common.pg_dsn(name), world, data)
            del data
            result = {
                **common.backend_versions(app),
                "database": name if args.keep_pg else f"{name} (dropped)",
                "generation_s": round(time.perf_counter() - began, 1),
                **database_size(app, None),
            }
            result.update(measure(app, world, args))
        finally:
            common.dispose(app)
    return result


def main() -> int:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=100_000, help="open letters in the inbox")
    parser.add_argument("--letters", type=int, help="letters in the registry (3 x --open)")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--target-ms", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--regenerate", action="store_true", help="ignore the SQLite cache")
    parser.add_argument("--keep-pg", action="store_true", help="do not drop the PostgreSQL db")
    parser.add_argument("--all-plans", action="store_true", help="plans of every case")
    parser.add_argument("--show-plans", action="store_true", help="also print plans to stderr")
    args = parser.parse_args()
    args.letters = args.letters or 3 * args.open

    results: dict[str, Any] = {
        "benchmark": "inbox",
        "parameters": {
            "open": args.open,
            "letters": args.letters,
            "agents": args.agents,
            "reps": args.reps,
            "page": args.page,
            "target_ms": args.target_ms,
            "seed": args.seed,
            "today": str(TODAY),
        },
        "environment": common.environment(),
        "backends": {},
    }
    for backend in common.backends(args.backend):
        common.log(f"inbox: {backend}, {args.open:,} open letters of {args.letters:,} ...")
        bench = bench_sqlite if backend == "sqlite" else bench_postgresql
        results["backends"][backend] = bench(args)

    if args.show_plans:
        for backend, result in results["backends"].items():
            for role, user in result["users"].items():
                for name, plans in user["plans"].items():
                    for plan in plans:
                        common.log(f"--- {backend} {role} {name}\n" + "\n".join(plan["plan"]))
    verdicts, checks_ok = [], True
    for backend, result in results["backends"].items():
        loads = ", ".join(
            f"{role} {user['cases']['load']['p95_ms']}" for role, user in result["users"].items()
        )
        over = sorted(
            f"{role}/{name}"
            for role, user in result["users"].items()
            for name in user["over_target"]
        )
        failed = sorted(
            f"{role}/{name}"
            for role, user in result["users"].items()
            for name in user["reference_differences"] + user["keyset_order_broken"]
        )
        mismatches = result["data"]["due_on_mismatches"]
        checks_ok = checks_ok and not failed and mismatches == 0
        verdicts.append(
            f"{backend}: load p95 {loads} ms; over {args.target_ms:g} ms: "
            + (", ".join(over) or "none")
            + f"; checks: {', '.join(failed) or 'all equal the reference'}, "
            f"{mismatches} due_on mismatches"
        )
    common.emit("inbox", results, "inbox:\n  " + "\n  ".join(verdicts))
    target_met = all(
        user["cases"]["load"]["p95_ms"] <= args.target_ms
        for result in results["backends"].values()
        for user in result["users"].values()
    )
    return 0 if target_met and checks_ok else 1


if __name__ == "__main__":
    sys.exit(main())
