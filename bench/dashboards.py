"""The performance dashboards (issue 7) with 1,000,000 letters: every query's p50/p95.

One administration, five years (2021-11-01 to 2026-10-31, "today" 2026-11-02), 30 departments
(skewed: the first ones are the busiest), 12 letter types (8 with a calendar-day deadline of 10
to 60 days), generated with set-based SQL (a recursive CTE on SQLite, generate_series on
PostgreSQL; deterministic multiplicative hashes of the letter id, no Python loop):

* registers: incoming 65%, outgoing 30% (half of them replies to a recent letter), internal 5%;
  0.8% cancelled;
* incoming: 95% routed to one action department, 3% first to a wrong one that returned it;
  about 10% open (most of the last four months, 4% of the older ones), the others closed after
  0 to 53 days, 60% answered; 6% extended once by 15 days; due dates from the type's deadline,
  so some open letters are overdue and some closed ones late;
* 4% of the closed incoming letters came from the e-counter and were rated 1-5 stars (skewed to
  4 and 5), a tenth of those reopened.

The organisation, its departments, types and users come from the services; the facts from
app.services.dashboard_facts.rebuild (timed). Then each contract query runs --warmup times and
--reps times (a fresh session each, the connection checked out before the clock starts) for the
whole administration, the busiest department and one type, over the last twelve months:

  summary, volumes_month (12 monthly buckets), by_department, by_type, drilldown_late and
  drilldown_overdue (SELECT count(*) over the drill-down's select)

and summary_5y (the whole five years, for information). Figures: p50/p95/max per query, scope
and backend, and the target check (p95 < --target-ms, 300).

    .venv/bin/python bench/dashboards.py [--backend sqlite|postgresql|both] [--letters 1000000]
        [--sqlite-path /work/benchdata/dashboards.sqlite3] [--regenerate]
        [--database-url postgresql://postgres@127.0.0.1:5432/diwan_bench_dash] [--drop-pg]
        [--reps 30] [--warmup 3] [--target-ms 300]

The SQLite file is reused when it holds --letters letters and their facts (--regenerate builds
it again); the PostgreSQL database is dropped and built again unless --reuse-pg. It is left in
place for investigation unless --drop-pg.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
from sqlalchemy import func, select

from app.extensions import db
from app.models import Letter, LetterFact, LetterType, Organisation, Role
from app.services import dashboard_facts, dashboards, portal_types
from app.services import organisations as orgs
from app.services.actor import Actor

SPAN_START, SPAN_DAYS = "2021-11-01", 1826
TODAY = date(2026, 11, 2)
YEAR = (date(2025, 11, 1), date(2026, 10, 31))
FIVE_YEARS = (date(2021, 11, 1), date(2026, 10, 31))
DEPARTMENTS, TYPES = 30, 12
DEADLINES = (10, 15, 20, 30, 30, 45, 60, 60)  # calendar days of types 0..7; 8..11 have none
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/diwan_bench_dash"


def h(k: int, mod: int) -> str:
    """A deterministic pseudo-random 0..mod-1 from the row's i (different per k)."""
    multipliers = (7919, 104729, 224737, 350377, 479909, 611953, 746773, 882377, 15485, 31337)
    return f"(((i * {multipliers[k % 10]} + {k * 7717}) % 1000003) % {mod})"


class Dialect:
    def __init__(self, name: str) -> None:
        self.name = name

    def series(self, n: int) -> str:
        if self.name == "sqlite":
            return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})"  # noqa: S608
        return f"WITH s(i) AS (SELECT generate_series(1, {n})::bigint)"

    def moment(self, day: str, minute: str) -> str:
        if self.name == "sqlite":
            return (
                f"datetime('{SPAN_START}', printf('%+d days', {day}),"
                f" printf('%+d minutes', {minute}))"
            )
        return (
            f"(timestamp '{SPAN_START}' + ({day}) * interval '1 day'"
            f" + ({minute}) * interval '1 minute')"
        )

    def day_of(self, moment: str) -> str:
        return f"date({moment})" if self.name == "sqlite" else f"CAST({moment} AS date)"

    def add_days(self, day: str, days: str) -> str:
        if self.name == "sqlite":
            return f"date({day}, printf('%+d days', {days}))"
        return f"({day} + CAST({days} AS integer))"

    def add_moment_days(self, moment: str, days: str) -> str:
        if self.name == "sqlite":
            return f"datetime({moment}, printf('%+d days', {days}))"
        return f"({moment} + ({days}) * interval '1 day')"

    def year(self, moment: str) -> str:
        if self.name == "sqlite":
            return f"CAST(strftime('%Y', {moment}) AS INTEGER)"
        return f"CAST(EXTRACT(YEAR FROM {moment}) AS integer)"


def letters_sql(d: Dialect, n: int, world: dict) -> str:
    day = f"((i - 1) * {SPAN_DAYS} / {n})"
    share = h(1, 100)
    register = (
        f"CASE WHEN {share} < 65 THEN 'incoming' WHEN {share} < 95 THEN 'outgoing'"
        " ELSE 'internal' END"
    )
    registered_at = d.moment(day, f"480 + {h(2, 540)}")
    type_no = h(3, TYPES)
    deadline = "CASE type_no " + " ".join(f"WHEN {t} THEN {v}" for t, v in enumerate(DEADLINES))
    deadline += " ELSE NULL END"
    late = f"{h(10, 100)} < CASE WHEN day > {SPAN_DAYS - 120} THEN 55 ELSE 4 END"
    closable = f"day + proc < {SPAN_DAYS}"
    return f"""
    {d.series(n)},
    g AS (
      SELECT i, {day} AS day, {register} AS register, {registered_at} AS registered_at,
             {type_no} AS type_no, {h(4, 3)} AS early, {h(5, 25)} + {h(6, 30)} AS proc,
             CASE WHEN {h(7, 100)} < 6 THEN 1 ELSE 0 END AS ext,
             CASE WHEN {h(8, 1000)} < 8 THEN 1 ELSE 0 END AS cancelled,
             CASE WHEN {h(9, 100)} < 60 THEN 'answered' ELSE 'no_reply_needed' END AS outcome
      FROM s
    ),
    f AS (
      SELECT g.*, {d.add_days(d.day_of("registered_at"), "-early")} AS received,
             {deadline} AS deadline,
             CASE WHEN cancelled = 1 THEN 'cancelled'
                  WHEN register = 'incoming' AND NOT ({late}) AND {closable} THEN 'closed'
                  ELSE 'registered' END AS status
      FROM g
    )
    INSERT INTO letters (id, organisation_id, register, year, seq, number, registered_at,
      registered_by_id, subject, sender_reference, letter_date, received_on, channel,
      letter_type_id, priority, confidential, language, physical_attachments, status,
      cancelled_reason, cancelled_at, due_on, extensions, extension_reasons, clock_pauses,
      closed_at, outcome, reply_to_id)
    SELECT i, {world["organisation_id"]}, register, {d.year("registered_at")}, i,
      'B/' || CAST(i AS text), registered_at, {world["officer_id"]}, 'Objet ' || CAST(i AS text),
      '', received, CASE WHEN register = 'incoming' THEN received END, 'post',
      {world["first_type"]} + type_no, 'normal', FALSE, 'ar', 0, status,
      CASE WHEN status = 'cancelled' THEN 'Erreur' ELSE '' END,
      CASE WHEN status = 'cancelled' THEN registered_at END,
      CASE WHEN register = 'incoming' AND deadline IS NOT NULL
           THEN {d.add_days("received", "deadline + 15 * ext")} END,
      CASE WHEN register = 'incoming' THEN ext ELSE 0 END, '[]', '[]',
      CASE WHEN status = 'closed'
           THEN {d.add_moment_days("registered_at", "proc")} END,
      CASE WHEN status = 'closed' THEN outcome ELSE '' END,
      CASE WHEN register = 'outgoing' AND i > 40 AND {h(11, 2)} = 0 THEN i - 1 - {h(12, 30)} END
    FROM f
    """  # noqa: S608 - every piece is a constant of this script


def assignments_sql(d: Dialect, world: dict) -> list[str]:
    routed = f"{h(13, 100)} < 95"
    skew = h(14, DEPARTMENTS)
    department = f"{world['first_department']} + ({skew} * {skew}) / {DEPARTMENTS}"
    wrong = (  # another department than the one that processes it
        f"{world['first_department']}"
        f" + ({h(15, DEPARTMENTS - 1)} + 1 + ({skew} * {skew}) / {DEPARTMENTS}) % {DEPARTMENTS}"
    )
    base = f"""FROM (SELECT CAST(id AS bigint) AS i, registered_at, status, due_on FROM letters
                     WHERE register = 'incoming' AND status <> 'cancelled') l
               WHERE {routed}"""  # noqa: S608
    columns = (
        "INSERT INTO assignments (organisation_id, letter_id, department_id, kind, state,"
        " routed_by_id, routed_at, return_reason, due_on)"
    )
    org, officer = world["organisation_id"], world["officer_id"]
    return [
        f"""{columns} SELECT {org}, i, {wrong}, 'action', 'returned', {officer}, registered_at,
            'Pas pour nous', due_on {base} AND {h(16, 100)} < 3""",
        f"""{columns} SELECT {org}, i, {department}, 'action',
            CASE WHEN status = 'closed' THEN 'closed' ELSE 'accepted' END, {officer},
            registered_at, '', due_on {base}""",
    ]


def portal_sql(d: Dialect, world: dict) -> list[str]:
    org = world["organisation_id"]
    rated = f"""FROM (SELECT CAST(id AS bigint) AS i, registered_at, closed_at FROM letters
                      WHERE register = 'incoming' AND status = 'closed') l
                WHERE {h(17, 100)} < 4"""  # noqa: S608
    tenth = h(18, 10)
    stars = (
        f"CASE WHEN {tenth} < 1 THEN 1 WHEN {tenth} < 2 THEN 2 WHEN {tenth} < 4 THEN 3"
        f" WHEN {tenth} < 7 THEN 4 ELSE 5 END"
    )
    return [
        f"""INSERT INTO portal_submissions (id, public_id, organisation_id, request_type_id,
            status, locale, created_at, remote_addr, name, national_id, email, phone, address,
            subject, message, files, letter_id, complement_request, complement_stopped_clock,
            reopened_letter_id)
            SELECT i, 'b' || CAST(i AS text), {org}, {world["request_type"]}, 'registered', 'ar',
              registered_at, '', 'Citoyen', '', '', '', '', 'Plainte', 'Message', '[]', i, '',
              FALSE, CASE WHEN {h(19, 10)} = 0 THEN i + 1 END {rated}""",
        f"""INSERT INTO portal_ratings (organisation_id, submission_id, letter_id, stars, comment,
            created_at)
            SELECT {org}, i, i, {stars}, '', {d.add_moment_days("closed_at", "2")} {rated}""",
    ]


def create_world(app) -> dict:
    with app.app_context():
        org = orgs.create_organisation(
            db.session, None, code="bench", name_ar="جماعة الاختبار", name_fr="Commune d'essai"
        )
        officer = orgs.create_user(
            db.session, None, org, username="officer", full_name="Officer",
            password=common.BENCH_PASSWORD, roles=[Role.REGISTRY_OFFICER],
        )  # fmt: skip
        admin = orgs.create_user(
            db.session, None, org, username="admin", full_name="Admin",
            password=common.BENCH_PASSWORD, roles=[Role.ADMINISTRATOR],
        )  # fmt: skip
        departments = [
            orgs.create_department(
                db.session, None, org, code=f"D{n:02d}", name_ar=f"م{n}", name_fr=f"D{n}"
            ).id
            for n in range(DEPARTMENTS)
        ]
        types = []
        for n in range(TYPES):
            rule = (
                {"deadline_days": DEADLINES[n], "deadline_unit": "calendar"}
                if n < len(DEADLINES)
                else None
            )
            types.append(
                orgs.create_letter_type(
                    db.session, None, org, code=f"T{n:02d}", name_ar=f"ن{n}", name_fr=f"T{n}",
                    deadline_rule=rule,
                ).id
            )  # fmt: skip
        request_type = portal_types.save_request_type(
            db.session, Actor(admin), None, code="plainte", name_ar="شكاية", name_fr="Plainte",
            name_en="Complaint", letter_type_id=types[0], email_mode="optional", reopen_days=30,
        )  # fmt: skip
        assert departments == list(range(departments[0], departments[0] + DEPARTMENTS))
        assert types == list(range(types[0], types[0] + TYPES))
        world = {
            "organisation_id": org.id,
            "officer_id": officer.id,
            "first_department": departments[0],
            "first_type": types[0],
            "request_type": request_type.id,
        }
        db.session.remove()
    return world


def generate(app, n: int) -> dict:
    """The world, the letters and their routing, ratings, then the facts; timings in s."""
    world = create_world(app)
    timings = {}
    with app.app_context():
        dialect = Dialect(db.engine.dialect.name)
        started = time.perf_counter()
        statements = [letters_sql(dialect, n, world)]
        statements += assignments_sql(dialect, world) + portal_sql(dialect, world)
        with db.engine.begin() as connection:
            for statement in statements:
                if dialect.name == "postgresql":  # psycopg reads % as a placeholder
                    statement = statement.replace("%", "%%")
                connection.exec_driver_sql(statement)
        timings["generate_s"] = round(time.perf_counter() - started, 1)
        db.session.remove()
    analyse(app)  # as autovacuum would have: the facts' statement is planned on statistics
    with app.app_context():
        started = time.perf_counter()
        rows = dashboard_facts.rebuild(db.session, world["organisation_id"])
        timings["facts_rebuild_s"] = round(time.perf_counter() - started, 1)
        timings["facts"] = rows
        db.session.remove()
    analyse(app)
    return timings


def analyse(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        else:
            with db.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql("VACUUM (ANALYZE)")
        db.session.remove()


# --- timing --------------------------------------------------------------------------------------


def _drilldown_count(figure: str):
    def run(session, scope):
        inner = dashboards.drilldown(scope, figure, TODAY).subquery()
        return session.scalar(select(func.count()).select_from(inner))

    return run


QUERIES = {
    "summary": lambda session, scope: dashboards.summary(session, scope, TODAY),
    "volumes_month": lambda session, scope: dashboards.volumes(session, scope, "month"),
    "by_department": lambda session, scope: dashboards.by_department(session, scope, TODAY),
    "by_type": lambda session, scope: dashboards.by_type(session, scope, TODAY),
    "drilldown_late": _drilldown_count("late"),
    "drilldown_overdue": _drilldown_count("overdue"),
}


def scopes(app) -> dict[str, dashboards.Scope]:
    with app.app_context():
        org_id = db.session.scalar(select(Organisation.id).where(Organisation.code == "bench"))
        busiest = db.session.execute(
            select(LetterFact.department_id, func.count())
            .where(LetterFact.department_id.is_not(None))
            .group_by(LetterFact.department_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()[0]
        first_type = db.session.scalar(
            select(func.min(LetterType.id)).where(LetterType.organisation_id == org_id)
        )
        db.session.remove()
    return {
        "administration": dashboards.Scope(org_id, *YEAR),
        "department": dashboards.Scope(org_id, *YEAR, department_id=busiest),
        "type": dashboards.Scope(org_id, *YEAR, letter_type_id=first_type),
    }


def time_query(app, run, scope, reps: int, warmup: int) -> tuple[dict, object]:
    durations, result = [], None
    with app.app_context():
        for rep in range(warmup + reps):
            db.session.remove()
            db.session.connection()  # checked out before the clock starts
            started = time.perf_counter()
            result = run(db.session, scope)
            elapsed = time.perf_counter() - started
            if rep >= warmup:
                durations.append(elapsed)
        db.session.remove()
    return common.summary(durations), result


def measure(app, reps: int, warmup: int, target_ms: float) -> dict:
    figures, over = {}, []
    cases = scopes(app)
    for scope_name, scope in cases.items():
        for name, run in QUERIES.items():
            stats, result = time_query(app, run, scope, reps, warmup)
            figures[f"{name}/{scope_name}"] = stats
            if stats["p95_ms"] >= target_ms:
                over.append(f"{name}/{scope_name}")
            if name == "summary":
                figures[f"{name}/{scope_name}"]["result"] = result
    five_years = dashboards.Scope(cases["administration"].organisation_id, *FIVE_YEARS)
    stats, _ = time_query(app, QUERIES["summary"], five_years, reps, warmup)
    figures["summary_5y/administration"] = stats
    return {"queries": figures, "over_target": over}


def count_letters(app) -> tuple[int, int]:
    with app.app_context():
        try:
            letters = db.session.scalar(select(func.count(Letter.id)))
            facts = db.session.scalar(select(func.count()).select_from(LetterFact))
        except Exception:  # a file from an older schema: build it again
            letters, facts = -1, -1
        db.session.remove()
    return letters, facts


def sqlite_run(args) -> dict:
    path = Path(args.sqlite_path)
    if args.regenerate and path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with common.temp_instance("diwan-bench-dash-") as instance:
        app = common.make_app(instance, DATABASE_URL=f"sqlite:///{path}")
        common.migrate(app)
        timings = {"reused": True}
        if count_letters(app) != (args.letters, args.letters):
            if count_letters(app)[0] != 0:
                common.dispose(app)
                raise SystemExit(f"{path} holds other data: use --regenerate")
            timings = generate(app, args.letters)
        result = {"backend": common.backend_versions(app), "data": timings, "path": str(path)}
        result.update(measure(app, args.reps, args.warmup, args.target_ms))
        common.dispose(app)
    return result


def postgres_run(args) -> dict:
    import psycopg

    url = args.database_url
    name = url.rsplit("/", 1)[1]
    if not name.startswith("diwan_bench_"):
        raise SystemExit("the PostgreSQL database's name must start with diwan_bench_")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    if not args.reuse_pg:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        with common.temp_instance("diwan-bench-dash-pg-") as instance:
            app = common.make_app(instance, DATABASE_URL=sa_url)
            common.migrate(app)
            timings = {"reused": True}
            if not args.reuse_pg:
                timings = generate(app, args.letters)
            result = {"backend": common.backend_versions(app), "data": timings, "database": name}
            result.update(measure(app, args.reps, args.warmup, args.target_ms))
            common.dispose(app)
    finally:
        if args.drop_pg:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return result


def main() -> None:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=1_000_000)
    parser.add_argument("--sqlite-path", default="/work/benchdata/dashboards.sqlite3")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--database-url", default=DEFAULT_PG)
    parser.add_argument("--reuse-pg", action="store_true")
    parser.add_argument("--drop-pg", action="store_true")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--target-ms", type=float, default=300.0)
    args = parser.parse_args()
    runs = {}
    for backend in common.backends(args.backend):
        common.log(f"{backend}: {args.letters:,} letters")
        runs[backend] = sqlite_run(args) if backend == "sqlite" else postgres_run(args)
    over = {backend: run["over_target"] for backend, run in runs.items()}
    result = {"letters": args.letters, "target_p95_ms": args.target_ms, "runs": runs}
    result["environment"] = common.environment()
    worst = {
        backend: max(stats["p95_ms"] for stats in run["queries"].values())
        for backend, run in runs.items()
    }
    common.emit("dashboards", result, f"dashboards: worst p95 {worst} ms; over target: {over}")


if __name__ == "__main__":
    main()
