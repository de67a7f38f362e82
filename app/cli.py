"""Command line: `diwan COMMAND` (or `flask --app app COMMAND`)."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup
from sqlalchemy import func, select

from app.extensions import db
from app.files.store import FileStore
from app.models import Department, Organisation, Role, SearchOutbox
from app.services import audit_timestamps, organisations
from app.services.errors import ServiceError


def main() -> None:
    from app import create_app

    FlaskGroup(create_app=lambda: create_app(), help="Diwan: digital mail room.")(prog_name="diwan")


def register(app: Flask) -> None:
    for command in (create_org, create_user, demo, verify_audit, verify_files, worker, search):
        app.cli.add_command(command)
    app.cli.add_command(dashboards)
    app.cli.add_command(users)
    app.cli.add_command(files)
    from app.backup.cli import backup  # backup create|restore|verify

    app.cli.add_command(backup)


def _organisation(code: str) -> Organisation:
    organisation = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if organisation is None:
        raise click.ClickException(f"no organisation with the code {code!r}")
    return organisation


@click.command("create-org")
@click.argument("code")
@click.option("--name-ar", required=True, help="Arabic name")
@click.option("--name-fr", required=True, help="French name")
@click.option("--name-en", default="", help="English name")
@click.option("--timezone", default="Africa/Casablanca", show_default=True)
@click.option("--number-format", default="", help="e.g. '{year}/{register}/{seq:06d}'")
def create_org(code, name_ar, name_fr, name_en, timezone, number_format):
    """Create an organisation."""
    try:
        organisation = organisations.create_organisation(
            db.session,
            None,
            code=code,
            name_ar=name_ar,
            name_fr=name_fr,
            name_en=name_en,
            timezone=timezone,
            number_format=number_format,
        )
    except ServiceError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(f"created organisation {organisation.code} (id {organisation.id})")


@click.command("create-user")
@click.option("--org", "org_code", required=True, help="organisation code")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="repeat for several roles",
)
@click.option("--department", "department_code", default=None, help="department code")
@click.option("--password", default=None, help="default: a random one, printed once")
def create_user(org_code, username, full_name, roles, department_code, password):
    """Create a user (for example the first administrator)."""
    organisation = _organisation(org_code)
    department = None
    if department_code:
        department = db.session.scalar(
            select(Department).where(
                Department.organisation_id == organisation.id, Department.code == department_code
            )
        )
        if department is None:
            raise click.ClickException(f"no department {department_code!r} in {org_code}")
    password = password or secrets.token_urlsafe(12)
    try:
        organisations.create_user(
            db.session,
            None,
            organisation,
            username=username,
            full_name=full_name,
            password=password,
            roles=[Role(r) for r in roles],
            department=department,
        )
    except ServiceError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(f"created user {username} with password: {password}")


@click.command("demo")
def demo():
    """Load the demo administration once and print its logins."""
    from app.demo import demo_exists, load_demo

    logins_file = Path(current_app.instance_path) / "demo-logins.json"
    if demo_exists(db.session):
        if not logins_file.exists():
            click.echo("The demo administration exists; its logins were not kept.")
            return
        logins = json.loads(logins_file.read_text())
    else:
        from app.services.pki import PkiSettings

        settings = PkiSettings.from_config(current_app.config)
        logins = [login.__dict__ for login in load_demo(db.session, settings)]
        logins_file.touch(mode=0o600)
        logins_file.write_text(json.dumps(logins, ensure_ascii=False, indent=1))
    click.echo("Demo administration logins (kept in instance/demo-logins.json):")
    for login in logins:
        roles = ", ".join(login["roles"])
        click.echo(
            f"  {login['username']:<10} {login['password']:<18} {roles:<34} {login['full_name']}"
        )
        if login.get("signing_secret"):
            click.echo(f"  {'':<10} signing secret: {login['signing_secret']}")


@click.command("verify-audit")
@click.option("--org", "org_code", default=None, help="one organisation (default: all)")
def verify_audit(org_code):
    """Check every organisation's audit hash chain and the time-stamps anchoring it; exit 1 on
    any broken link or failing time-stamp."""
    try:
        trust = audit_timestamps.StampTrust.from_config(current_app.config)
    except (OSError, ValueError) as error:
        raise click.ClickException(f"TSA_TRUST_ROOTS: {error}") from error
    codes = [org_code] if org_code else list(db.session.scalars(select(Organisation.code)))
    broken = False
    for code in codes:
        report = audit_timestamps.verify_timestamps(db.session, _organisation(code).id, trust)
        status = "ok" if report.ok else "BROKEN"
        click.echo(f"{code}: {report.chain.events} events, {status}{_anchoring(report)}")
        for problem in report.chain.problems + report.problems:
            click.echo(f"  - {problem}")
        broken |= not report.ok
    sys.exit(1 if broken else 0)


def _anchoring(report) -> str:
    failing = len(report.problems)
    if failing:
        return f", {failing} of {len(report.stamps)} time-stamps failing"
    newest = report.newest
    if newest is None:
        return ", not time-stamped"
    count = len(report.stamps)
    return (
        f", anchored by {count} time-stamp{'s' if count > 1 else ''} "
        f"(newest {newest.stamped_at:%Y-%m-%d %H:%M} UTC, seq {newest.seq})"
    )


@click.command("verify-files")
def verify_files():
    """Check stored files against their SHA-256 and that referenced files exist; exit 1 if not."""
    from app.services.file_check import check_files

    report = check_files(db.session, Path(current_app.config["FILE_STORE"]))
    click.echo(f"{report.checked} files checked, {len(report.problems)} problems")
    for sha, problem in report.problems:
        click.echo(f"  - {sha}: {problem}")
    sys.exit(1 if report.problems else 0)


@click.group("files")
def files():
    """The file store's upkeep."""


@files.command("sweep-orphans")
@click.option("--dry-run", is_flag=True, help="list what would be done; change nothing")
def files_sweep_orphans(dry_run):
    """Quarantine stored files no row names, restore or delete quarantined ones (the worker's
    sweep, now); exit 1 if a file could not be moved."""
    from app.services.orphan_files import sweep_orphans

    config = current_app.config
    try:
        report = sweep_orphans(
            db.session,
            FileStore(Path(config["FILE_STORE"])),
            min_age_s=config["ORPHAN_MIN_AGE_HOURS"] * 3600,
            retention_s=config["ORPHAN_RETENTION_DAYS"] * 86400,
            dry_run=dry_run,
        )
    except ValueError as error:
        message = f"{error} (ORPHAN_MIN_AGE_HOURS, ORPHAN_RETENTION_DAYS)"
        raise click.ClickException(message) from error
    would = "would be " if dry_run else ""
    sections = (
        ("moved into quarantine (no row names them)", report.quarantined),
        ("moved back (a row names them again)", [(sha, None) for sha in report.restored]),
        ("deleted (in quarantine past the retention)", report.deleted),
    )
    for title, items in sections:
        click.echo(f"{len(items)} file(s) {would}{title}")
        for sha, size in items:
            click.echo(f"  - {sha}" + (f" ({size} bytes)" if size is not None else ""))
    click.echo(
        f"{report.in_quarantine} file(s) ({report.in_quarantine_bytes} bytes) {would}in quarantine"
    )
    for sha, problem in report.problems:
        click.echo(f"  ! {sha}: {problem}", err=True)
    if dry_run:
        click.echo("Dry run: nothing was changed.")
    sys.exit(1 if report.problems else 0)


@click.command("worker")
@click.option("--once", is_flag=True, help="every job once, now, in this process; then exit")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="for --once")
def worker(once, today):
    """Run the background worker: the job queue's consumer (see docs/operations.md)."""
    from app import worker as background  # logs: configured by the app (LOG_FORMAT)
    from app.jobs import queue_of

    app = current_app._get_current_object()
    if once:
        report = background.run_once(app, today.date() if today else None)
        click.echo(json.dumps(report))
    else:
        queue = queue_of(app)
        click.echo(
            f"Diwan worker running {app.config['WORKER_THREADS']} jobs at a time from "
            f"{_safe_url(queue.url)} (search index, e-mail, webhooks, receipts, dashboard "
            "figures; deadline reminders, CRLs and archive time-stamps, audit time-stamps, "
            "file sweeps). Ctrl-C to stop."
        )
        background.run(app)


def _safe_url(url: str) -> str:
    """The queue's address without a password."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


@click.group("search")
def search():
    """The search index: rebuild it, see how far behind it is."""


@search.command("rebuild")
@click.option("--after-id", default=0, type=int, help="resume after this letter id (printed)")
def search_rebuild(after_id):
    """Index every letter again from the database (the worker must not run meanwhile)."""
    from app.services import search_index

    settings = search_index.SearchSettings.from_config(current_app.config)
    store = FileStore(Path(current_app.config["FILE_STORE"]))
    backend = search_index.open_index(settings)
    with click.progressbar(length=1, label="Indexing letters") as bar:

        def progress(done: int, total: int, last_id: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)
            bar.label = f"Indexing letters (resume with --after-id {last_id})"

        try:
            count = search_index.rebuild(
                db.session, backend, store, settings, after_id=after_id, progress=progress
            )
        finally:
            backend.close()
    click.echo(f"{count} letters indexed.")


@search.command("status")
def search_status():
    """Changes waiting for the index, and whether the index needs a rebuild."""
    from app.services import search_index

    settings = search_index.SearchSettings.from_config(current_app.config)
    backend = search_index.open_index(settings)
    try:
        waiting = db.session.scalar(select(func.count(SearchOutbox.id)))
        click.echo(
            json.dumps(
                {
                    "backend": settings.backend,
                    "waiting": waiting,
                    "lag_seconds": round(search_index.lag_seconds(db.session), 1),
                    "needs_rebuild": search_index.needs_rebuild(backend),
                }
            )
        )
    finally:
        backend.close()


@click.group("dashboards")
def dashboards():
    """The dashboard facts (one row per letter, kept by the worker)."""


@dashboards.command("rebuild")
@click.option("--org", "org_code", default=None, help="only this organisation (its code)")
def dashboards_rebuild(org_code):
    """Recompute the dashboard facts of every letter from the registry."""
    from app.services import dashboard_facts

    organisation_id = _organisation(org_code).id if org_code else None
    count = dashboard_facts.rebuild(db.session, organisation_id)
    click.echo(f"{count} letters' facts rebuilt.")


@click.group("users")
def users():
    """Sign-in troubles: lift a lock-out, reset a lost second factor."""


def _user(username: str):
    from app.models import User

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


@users.command("unlock")
@click.argument("username")
def users_unlock(username):
    """Let a locked account sign in again at once (an audit event records it)."""
    from app.services import sign_in

    try:
        sign_in.unlock(db.session, None, _user(username))
    except ServiceError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(f"{username} is unlocked.")


@users.command("reset-two-step")
@click.argument("username")
def users_reset_two_step(username):
    """Turn a user's two-step sign-in off (lost phone and recovery codes); they enrol again."""
    from app.services import totp

    try:
        totp.reset(db.session, None, _user(username))
    except ServiceError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(f"{username}'s two-step sign-in is off.")
