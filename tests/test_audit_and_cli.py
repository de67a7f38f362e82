"""The audit hash chain and the command line that verifies it and the file store."""

from __future__ import annotations

import os

from sqlalchemy import delete, select, update

from app.extensions import db
from app.models import AuditEvent, Organisation, User
from app.services import audit
from app.uploads import file_store
from tests.factories import register


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _letters(app, world, n=3):
    with app.test_request_context():
        return [register(world.officer, subject=f"Lettre {i}") for i in range(n)]


def test_every_change_is_chained_and_verifies(app, world):
    _letters(app, world)
    report = audit.verify_chain(db.session, world.org.id)
    assert report.ok and report.events > 3
    result = _cli(app, "verify-audit", "--org", "mtn")
    assert result.exit_code == 0 and "ok" in result.output


def test_edited_event_is_detected(app, world):
    _letters(app, world)
    db.session.execute(
        update(AuditEvent)
        .where(AuditEvent.organisation_id == world.org.id, AuditEvent.action == "letter.registered")
        .values(data={"subject": "falsified"})
    )
    db.session.commit()
    report = audit.verify_chain(db.session, world.org.id)
    assert not report.ok and any("does not match its hash" in p for p in report.problems)
    result = _cli(app, "verify-audit")
    assert result.exit_code == 1 and "BROKEN" in result.output


def test_removed_event_in_the_middle_is_detected(app, world):
    _letters(app, world)
    middle = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.organisation_id == world.org.id)
        .order_by(AuditEvent.seq)
        .offset(3)
    )
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == middle.id))
    db.session.commit()
    report = audit.verify_chain(db.session, world.org.id)
    assert any("missing" in p for p in report.problems)


def test_removed_last_event_is_detected(app, world):
    _letters(app, world)
    last = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.organisation_id == world.org.id)
        .order_by(AuditEvent.seq.desc())
    )
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == last.id))
    db.session.commit()
    assert not audit.verify_chain(db.session, world.org.id).ok


def test_chains_are_separate_per_organisation(app, world):
    _letters(app, world, 1)
    with app.test_request_context():
        register(world.other_officer)
    seqs = db.session.scalars(
        select(AuditEvent.seq)
        .where(AuditEvent.organisation_id == world.other_org.id)
        .order_by(AuditEvent.seq)
    ).all()
    assert seqs == list(range(1, len(seqs) + 1))
    assert audit.verify_chain(db.session, world.other_org.id).ok


def test_verify_files_reports_a_corrupted_document(app, world):
    [letter] = _letters(app, world, 1)
    assert _cli(app, "verify-files").exit_code == 0
    path = file_store().path(letter.documents[0].current.original_sha256)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes() + b"tampered")
    result = _cli(app, "verify-files")
    assert result.exit_code == 1 and letter.documents[0].current.original_sha256 in result.output
    # and the corrupted file is never served
    from tests.conftest import login

    client = app.test_client()
    login(client, "officer")
    url = f"/letters/{letter.id}/documents/{letter.documents[0].id}/v1/original"
    assert client.get(url).status_code == 500


def test_create_org_and_user_from_the_command_line(app):
    result = _cli(
        app,
        "create-org",
        "wilaya",
        "--name-ar",
        "ولاية الجزائر",
        "--name-fr",
        "Wilaya d'Alger",
        "--timezone",
        "Africa/Algiers",
    )
    assert result.exit_code == 0, result.output
    result = _cli(
        app,
        "create-user",
        "--org",
        "wilaya",
        "--username",
        "boss",
        "--full-name",
        "Le Wali",
        "--role",
        "administrator",
    )
    assert result.exit_code == 0, result.output
    password = result.output.strip().rsplit(" ", 1)[1]
    user = db.session.scalar(select(User).where(User.username == "boss"))
    assert user.check_password(password) and user.has_role("administrator")
    org = db.session.scalar(select(Organisation).where(Organisation.code == "wilaya"))
    assert audit.verify_chain(db.session, org.id).ok
    # bad input: duplicate code, bad number format, unknown organisation
    assert _cli(app, "create-org", "wilaya", "--name-ar", "x", "--name-fr", "x").exit_code != 0
    bad = _cli(
        app, "create-org", "w2", "--name-ar", "x", "--name-fr", "x", "--number-format", "{seq}"
    )
    assert bad.exit_code != 0 and "{register}" in bad.output
    assert (
        _cli(
            app,
            "create-user",
            "--org",
            "nope",
            "--username",
            "u",
            "--full-name",
            "U",
            "--role",
            "agent",
        ).exit_code
        != 0
    )


def test_demo_loads_once_and_prints_logins(app):
    first = _cli(app, "demo")
    assert first.exit_code == 0 and "bo.agent" in first.output
    again = _cli(app, "demo")
    assert again.output == first.output  # the same logins, no second administration
    assert db.session.scalar(select(Organisation.code)) == "demo"
    client = app.test_client()
    from tests.conftest import login

    password = next(line.split()[1] for line in first.output.splitlines() if "bo.agent" in line)
    assert login(client, "bo.agent", password).status_code == 302
