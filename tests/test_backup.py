"""`diwan backup`: a consistent archive made while letters are being registered, restored onto
an empty instance that then checks out (files, audit chain, keys, search, numbering); wrong
passphrases, altered archives and non-empty targets are refused and change nothing."""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
import uuid

import pytest
from flask import current_app, g
from sqlalchemy import func, select

from app import create_app
from app.backup import sealed
from app.backup.facts import referenced_files
from app.backup.reading import read_archive
from app.blueprints import search as search_blueprint
from app.extensions import db
from app.files.intake import ingest_upload
from app.files.store import FileStore
from app.models import DocumentVersion, Letter, Organisation, Role, User
from app.models.signing import CertificatePurpose, SigningCertificate
from app.services import audit_timestamps, pki, registration, signatures
from app.services import organisations as orgs
from app.services.actor import Actor
from app.uploads import file_store
from signing.validation import validate
from tests.conftest import ON_POSTGRESQL, login
from tests.factories import register
from tests.helpers import blank_pdf

PASSPHRASE = "sept mots pour un registre sûr"


@pytest.fixture(autouse=True)
def _fresh_key_cache(monkeypatch):
    monkeypatch.setattr(pki, "_opened", {})


@pytest.fixture
def restore_env(request):
    """restore_env() -> the environment of a restore onto the suite's engine: none on SQLite (the
    instance's own file), a new empty database's DIWAN_DATABASE_URL on PostgreSQL."""

    def make() -> dict:
        if not ON_POSTGRESQL:
            return {}
        empty = request.getfixturevalue("new_postgres_database")(template="template0")
        return {"DIWAN_DATABASE_URL": empty}

    return make


def _cli(app, *args, passphrase=PASSPHRASE, **env):
    env = {"DIWAN_BACKUP_PASSPHRASE": passphrase, **env}
    return app.test_cli_runner().invoke(args=[str(a) for a in args], env=env)


def _register_pdf(user: User, subject: str, pdf: bytes) -> Letter:
    scan = ingest_upload(file_store(), io.BytesIO(pdf), "signed.pdf", max_bytes=10**7)
    data = registration.LetterInput(
        register="incoming",
        subject=subject,
        channel="post",
        new_correspondent=registration.NewContact(name="Agence urbaine"),
        files=[scan],
    )
    settings = registration.NumberingSettings.from_config(current_app.config)
    return registration.register_letter(db.session, Actor(user), data, settings)


def _ca(organisation_id: int):
    from cryptography import x509

    row = db.session.scalar(
        select(SigningCertificate).where(
            SigningCertificate.organisation_id == organisation_id,
            SigningCertificate.purpose == CertificatePurpose.AUTHORITY,
        )
    )
    return x509.load_der_x509_certificate(row.certificate_der)


class Writer(threading.Thread):
    """Registers letters one after another until told to stop, as a busy registry desk."""

    def __init__(self, app, user_id: int) -> None:
        super().__init__(daemon=True)
        self.app, self.user_id = app, user_id
        self.count, self.error = 0, None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with self.app.app_context(), self.app.test_request_context():
                user = db.session.get(User, self.user_id)
                while not self.stop.is_set():  # each with a file of its own
                    pdf = blank_pdf(title=f"Courrier continu {self.count}")
                    _register_pdf(user, f"Courrier continu {self.count}", pdf)
                    self.count += 1
                db.session.remove()
        except Exception as error:  # reported by the test
            self.error = error

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.count >= count, self.error


def _close_search():
    """Close the search page's backends (one was opened on the restored index)."""
    for backend in search_blueprint._backends.values():
        backend.close()
    search_blueprint._backends.clear()


def _restored_app(instance, database_url=""):
    restored = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": database_url,
            "TESTING": True,
            "DEFAULT_LOCALE": "en",
        }
    )

    @restored.teardown_request
    def _fresh_g(_exc):
        g.__dict__.clear()

    return restored


def test_backup_while_registering_then_restore_onto_an_empty_instance(
    app, world, tmp_path, restore_env
):
    with app.test_request_context():
        for subject in ("Demande de permis de construire", "Réclamation eau potable"):
            register(world.officer, subject=subject)
        sealed_pdf = signatures.seal(
            db.session,
            world.org,
            blank_pdf(),
            signatures.SignatureSettings.from_config(app.config),
        )
        signed = _register_pdf(world.officer, "Convention signée partenariat", sealed_pdf)
    stamped = audit_timestamps.stamp_audit_heads(
        db.session, signatures.SignatureSettings.from_config(app.config)
    )
    assert stamped >= 1
    before = db.session.scalar(select(func.count(Letter.id)))

    writer = Writer(app, world.officer.id)
    writer.start()
    try:
        writer.wait_for(2)
        archive = tmp_path / "diwan.backup"
        result = _cli(app, "backup", "create", archive)
        writer.wait_for(writer.count + 2)
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None
    assert result.exit_code == 0, result.output
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left

    manifest = read_archive(archive, PASSPHRASE)
    snapshot = manifest["database"]
    db.session.commit()
    live = db.session.scalar(select(func.count(Letter.id)))
    # The snapshot caught the writer in the middle: letters before it, letters after it.
    assert before < snapshot["counts"]["letters"] < live
    # Consistent: every counter equals the highest number its letters carry.
    assert snapshot["numbers"] and all(n["counter"] == n["max_seq"] for n in snapshot["numbers"])
    assert manifest["files"]["referenced"] <= manifest["files"]["count"]
    assert _cli(app, "backup", "verify", archive).exit_code == 0

    # An empty machine: `diwan` already ran there once and generated its own secret_key.
    target = tmp_path / "new-machine" / "instance"
    target.mkdir(parents=True)
    (target / "secret_key").write_text("generated-by-a-first-run\n")
    env = restore_env()
    result = _cli(app, "backup", "restore", archive, "--instance", target, **env)
    assert result.exit_code == 0, result.output
    assert "every file matches its hash" in result.output
    assert "Audit chains:" in result.output and "checks out" in result.output
    assert f"and {stamped} time-stamps verified" in result.output  # the anchoring came along
    assert "finds" in result.output  # the search probe

    database_file = [] if ON_POSTGRESQL else ["diwan.sqlite3"]
    assert sorted(p.name for p in target.iterdir()) == [
        *database_file,
        "files",
        "index",
        "secret_key",
    ]
    # Read before the restored app's context: there, the live session would borrow (and keep)
    # a connection of the restored app's engine.
    signed_id = signed.id
    restored = _restored_app(target, env.get("DIWAN_DATABASE_URL", ""))
    assert restored.config["SECRET_KEY"] == app.config["SECRET_KEY"]  # the key came across
    with restored.app_context():
        _check_restored(restored, manifest, signed_id)


def _check_restored(restored, manifest, signed_id: int):
    letters = db.session.scalar(select(func.count(Letter.id)))
    assert letters == manifest["database"]["counts"]["letters"]
    # No dangling reference: every file the snapshot's rows name was in the archive.
    archived = {sha for sha, _size in manifest["files"]["objects"]}
    assert referenced_files(db.session) <= archived
    store = FileStore(restored.config["FILE_STORE"])
    for version in db.session.scalars(select(DocumentVersion)):
        store.ensure_verified(version.original_sha256)  # raises if missing or altered
    runner = restored.test_cli_runner()
    assert runner.invoke(args=["verify-audit"]).exit_code == 0
    assert runner.invoke(args=["verify-files"]).exit_code == 0

    # The rebuilt index finds a letter by a word of its subject, for a restored user.
    client = restored.test_client()
    assert login(client, "officer").status_code == 302
    page = client.get("/search?q=potable").get_data(as_text=True)
    potable = db.session.scalar(select(Letter).where(Letter.subject.like("%potable%")))
    assert f'data-letter="{potable.id}"' in page

    # The sealed document, read back from the restored store, still validates.
    org_id = db.session.scalar(select(Organisation.id).where(Organisation.code == "mtn"))
    ca = _ca(org_id)
    signed_copy = db.session.get(Letter, signed_id)
    pdf = store.open_verified(signed_copy.documents[0].current.original_sha256)
    assert validate(pdf, trust_roots=[ca])["verdict"] == "VALID"

    # Numbering continues with no gap, and the organisation's seal signs with restored keys.
    pki._opened.clear()
    with restored.test_request_context():
        officer = db.session.scalar(select(User).where(User.username == "officer"))
        top = db.session.scalar(
            select(func.max(Letter.seq)).where(
                Letter.organisation_id == org_id, Letter.register == "incoming"
            )
        )
        assert register(officer, subject="Après la restauration").seq == top + 1
        organisation = db.session.get(Organisation, org_id)
        sealed = signatures.seal(
            db.session,
            organisation,
            blank_pdf(),
            signatures.SignatureSettings.from_config(restored.config),
        )
    assert validate(sealed, trust_roots=[ca])["verdict"] == "VALID"
    _close_search()
    db.session.remove()
    db.engine.dispose()


def _flipped(archive, position: int, into):
    data = bytearray(archive.read_bytes())
    data[position] ^= 0x01
    into.write_bytes(bytes(data))
    return into


def test_wrong_passphrase_altered_archive_and_busy_target_are_refused(
    app, world, tmp_path, monkeypatch, restore_env
):
    monkeypatch.setattr(sealed, "CHUNK", 4 * 1024)  # many records: damage lands mid-restore
    with app.test_request_context():
        register(world.officer, subject="Demande de stage")
    archive = tmp_path / "a.backup"
    assert _cli(app, "backup", "create", archive, passphrase="short").exit_code != 0
    assert not archive.exists()
    assert _cli(app, "backup", "create", archive).exit_code == 0
    again = _cli(app, "backup", "create", archive)
    assert again.exit_code != 0 and "never overwritten" in again.output
    target = tmp_path / "target"

    wrong = _cli(app, "backup", "restore", archive, "--instance", target, passphrase="x" * 20)
    assert wrong.exit_code != 0 and "wrong passphrase" in wrong.output
    assert "Nothing was restored" in wrong.output
    assert _cli(app, "backup", "verify", archive, passphrase="x" * 20).exit_code != 0

    size = archive.stat().st_size
    assert size > 20 * sealed.CHUNK
    for position, message in ((size // 2, "altered"), (20, "wrong passphrase")):
        altered = _flipped(archive, position, tmp_path / "altered.backup")
        result = _cli(app, "backup", "restore", altered, "--instance", target)
        assert result.exit_code != 0 and message in result.output, result.output
        assert _cli(app, "backup", "verify", altered).exit_code != 0
    (tmp_path / "cut.backup").write_bytes(archive.read_bytes()[: size - 100])
    cut = _cli(app, "backup", "verify", tmp_path / "cut.backup")
    assert cut.exit_code != 0 and "cut short" in cut.output
    # Nothing was written: no target, no staging directory left beside it.
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    target.mkdir()
    (target / "notes.txt").write_text("kept")
    busy = _cli(app, "backup", "restore", archive, "--instance", target)
    assert busy.exit_code != 0 and "not empty" in busy.output
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    forced = _cli(
        app, "backup", "restore", archive, "--instance", target, "--force", **restore_env()
    )
    assert forced.exit_code == 0, forced.output
    assert (target / "notes.txt").read_text() == "kept"
    assert ON_POSTGRESQL or (target / "diwan.sqlite3").exists()
    _close_search()

    # A secret key set in the environment must be the archive's.
    other = tmp_path / "other"
    result = _cli(
        app,
        "backup",
        "restore",
        archive,
        "--instance",
        other,
        DIWAN_SECRET_KEY="not-the-same",
        **restore_env(),
    )
    assert result.exit_code != 0 and "DIWAN_SECRET_KEY differs" in result.output
    assert not other.exists()


@pytest.mark.postgres
def test_postgresql_round_trip(pg_app, tmp_path):
    import psycopg

    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump and pg_restore (postgresql-client) are needed")
    organisation = orgs.create_organisation(
        db.session, None, code="pg", name_ar="وزارة", name_fr="Ministère"
    )
    officer = orgs.create_user(
        db.session,
        None,
        organisation,
        username="officer",
        full_name="Officer",
        password="correct horse battery staple",
        roles=[Role.REGISTRY_OFFICER],
    )
    with pg_app.test_request_context():
        for subject in ("Demande de raccordement", "Plainte voirie"):
            register(officer, subject=subject)
    archive = tmp_path / "pg.backup"
    result = _cli(pg_app, "backup", "create", archive)
    assert result.exit_code == 0, result.output
    manifest = read_archive(archive, PASSPHRASE)
    assert manifest["database"]["engine"] == "postgresql"

    admin_url = os.environ["DIWAN_TEST_DATABASE_URL"].replace(
        "postgresql+psycopg://", "postgresql://"
    )
    name = f"diwan_restore_{uuid.uuid4().hex[:12]}"
    url = (
        admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        + "/"
        + name
    )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        busy = _cli(
            pg_app,
            "backup",
            "restore",
            archive,
            "--instance",
            tmp_path / "busy",
            DIWAN_DATABASE_URL=pg_app.config["DATABASE_URL"],
        )
        assert busy.exit_code != 0 and "not empty" in busy.output
        target = tmp_path / "restored"
        result = _cli(
            pg_app, "backup", "restore", archive, "--instance", target, DIWAN_DATABASE_URL=url
        )
        assert result.exit_code == 0, result.output
        assert "finds" in result.output and "Audit chains:" in result.output
        restored = create_app({"INSTANCE_PATH": str(target), "DATABASE_URL": url, "TESTING": True})
        with restored.app_context():
            assert db.session.scalar(select(func.count(Letter.id))) == 2
            assert restored.test_cli_runner().invoke(args=["verify-audit"]).exit_code == 0
            db.session.remove()
            db.engine.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
