"""`diwan backup create|restore|verify`. The passphrase comes from DIWAN_BACKUP_PASSPHRASE or
is asked for, never from the command line (it would show in the process list and history)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app

from app.backup.checks import check_restored
from app.backup.create import BackupError, create_backup
from app.backup.reading import read_archive
from app.backup.restore import restore_archive

PASSPHRASE_ENV = "DIWAN_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret


def _passphrase(*, confirm: bool) -> str:
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase:
        return passphrase
    return click.prompt(
        "Archive passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    )


@click.group("backup")
def backup():
    """Back up and restore Diwan: database, files and keys in one encrypted archive."""


@backup.command("create")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
def backup_create(archive: Path):
    """Write a consistent backup to ARCHIVE (Diwan and its worker may keep running)."""
    passphrase = _passphrase(confirm=True)
    try:
        create_backup(current_app.config, archive, passphrase, log=click.echo)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"Backup written to {archive}. Keep the passphrase apart from the archive: "
        "without it nothing can be restored."
    )


@backup.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--instance",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="the instance directory to restore into (empty)",
)
@click.option(
    "--force",
    is_flag=True,
    help="restore into a non-empty instance; what is replaced is renamed *.before-restore-*",
)
def backup_restore(archive: Path, instance: Path, force: bool):
    """Restore ARCHIVE into an empty instance, then check it: files, audit chains, keys, search."""
    passphrase = _passphrase(confirm=False)
    try:
        manifest = restore_archive(archive, passphrase, instance, force=force, log=click.echo)
    except BackupError as error:
        raise click.ClickException(f"{error}. Nothing was restored.") from error
    problems = check_restored(instance.absolute(), manifest, click.echo)
    for problem in problems:
        click.echo(f"  - {problem}", err=True)
    if problems:
        raise click.ClickException(f"the restored instance fails {len(problems)} checks")
    click.echo(
        f"The restored instance checks out. Start it with DIWAN_INSTANCE_PATH={instance.absolute()}"
        " (the worker included)."
    )


@backup.command("verify")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
def backup_verify(archive: Path):
    """Decrypt ARCHIVE and check its manifest and every file's hash, restoring nothing."""
    passphrase = _passphrase(confirm=False)
    try:
        manifest = read_archive(archive, passphrase)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    base, files = manifest["database"], manifest["files"]
    click.echo(
        f"{archive}: made {manifest['created_at']} by Diwan {manifest['diwan_version']}, "
        f"{base['engine']} database at revision {base['revision']} "
        f"({base['counts']['letters']} letters, {base['counts']['audit_events']} audit events), "
        f"{files['count']} files ({files['bytes'] / 1e6:.1f} MB): every entry matches its hash."
    )
