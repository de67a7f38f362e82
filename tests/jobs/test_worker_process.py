"""The worker as it runs for real: `diwan worker` processes consuming the job queue (the SQLite
file of the instance folder, or Redis), killed with SIGKILL in the middle of a job.

- jobs queued while no worker runs are done when one starts, each once;
- a worker killed while it sends an e-mail: the next worker sends it, once, after the dead
  worker's claim lapses;
- two workers (two machines: PostgreSQL and Redis) share the work and do each job once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app.extensions import db
from app.jobs import queue_of
from app.models import FactOutbox, OutgoingEmail, Role, SearchOutbox, User, WebhookDelivery
from app.services import organisations as orgs
from app.services import webhooks
from app.services.actor import Actor
from tests.conftest import PASSWORD
from tests.factories import register
from tests.test_email_claim import Inbox, _free_port
from tests.webhooks.conftest import LOOPBACK, Receiver

REDIS_URL = os.environ.get("DIWAN_TEST_REDIS_URL")
DIWAN = Path(sys.executable).with_name("diwan")


def _queue_url(backend: str) -> str:
    if backend == "sqlite":
        return ""  # the default: jobs.sqlite3 in the instance folder
    if not REDIS_URL:
        pytest.skip("the Redis queue needs DIWAN_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")
    return REDIS_URL


class StallingInbox(Inbox):
    """An SMTP server that holds the first message's RCPT command until released, as a server
    that stops answering would: the sender is then mid-send."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.stall_next = 1

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.stall_next:
            self.stall_next -= 1
            self.stalled.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            return "451 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class Workers:
    """`diwan worker` processes on the test's instance (its database, file store, index)."""

    def __init__(self, app, tmp_path: Path, **settings) -> None:
        self.env = {
            **os.environ,
            "DIWAN_INSTANCE_PATH": app.instance_path,
            "DIWAN_DATABASE_URL": app.config["DATABASE_URL"],
            "DIWAN_SECRET_KEY": app.config["SECRET_KEY"],
            "DIWAN_FILE_STORE": app.config["FILE_STORE"],
            "DIWAN_INDEX_DIR": app.config["INDEX_DIR"],
            "DIWAN_JOB_QUEUE_URL": app.config["JOB_QUEUE_URL"],
            "DIWAN_WORKER_TICK_S": "1",
            "DIWAN_JOB_LEASE_S": "2",
            "DIWAN_WORKER_THREADS": "2",
            "DIWAN_WEBHOOK_TIMEOUT_S": "2",
            "DIWAN_WEBHOOK_ALLOWED_NETWORKS": LOOPBACK,
            "DIWAN_PARSE_TIMEOUT_S": "10",
            **{f"DIWAN_{key}": str(value) for key, value in settings.items()},
        }
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = self.tmp_path / f"worker-{len(self.processes)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(DIWAN), "worker"],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        _until(lambda: b"Diwan worker running" in log.read_bytes(), 30, f"start: {log}")
        return process

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL

    def logs(self) -> str:
        return "\n".join(
            (self.tmp_path / f"worker-{n}.log").read_text(errors="replace")
            for n in range(len(self.processes))
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # Huey's graceful stop
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.remove()  # see what the worker processes committed
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds} s for {what}")


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _people(app, code: str):
    organisation = orgs.create_organisation(
        db.session, None, code=code, name_ar="وزارة", name_fr="Ministère"
    )
    orgs.create_letter_type(
        db.session, None, organisation, code="COURRIER", name_ar="مراسلة", name_fr="Courrier"
    )
    admin, officer = (
        orgs.create_user(
            db.session,
            None,
            organisation,
            username=f"{who}.{code}",
            full_name="Utilisateur",
            password=PASSWORD,
            roles=[role],
        )
        for who, role in (("admin", Role.ADMINISTRATOR), ("officer", Role.REGISTRY_OFFICER))
    )
    return admin, officer


def _subscribe(app, admin, receiver: Receiver) -> None:
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK  # the receiver is on 127.0.0.1
    _subscription, receiver.secret = webhooks.create_subscription(
        db.session,
        Actor(admin),
        webhooks.WebhookSettings.from_config(app.config),
        url=receiver.url,
        events=["letter.registered"],
    )


def _use_queue(app, url: str) -> None:
    app.config["JOB_QUEUE_URL"] = url
    queue_of(app).huey.flush()  # Redis database 15 is shared with other tests


def _each_delivered_once(receiver: Receiver, letters: int) -> None:
    delivered = Counter(receiver.deliveries())
    assert len(delivered) == letters and set(delivered.values()) == {1}, delivered
    assert all(received.verified for received in receiver.received)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_jobs_queued_while_no_worker_runs_are_done_once_when_one_starts(
    app, tmp_path, receiver, backend, client_for
):
    _use_queue(app, _queue_url(backend))
    admin, officer = _people(app, "mtn")
    _subscribe(app, admin, receiver)
    with app.test_request_context():
        numbers = [register(officer, subject=f"Demande de bourse {n}").number for n in range(3)]
    names = {type(task).__name__ for task in queue_of(app).huey.pending()}
    assert {"drain.search", "drain.facts", "drain.webhooks"} <= names  # waiting on the queue
    workers = Workers(app, tmp_path)
    try:
        workers.start()
        _until(lambda: len(receiver.received) >= 3, 30, "three webhook deliveries")
        _until(lambda: _count(SearchOutbox) == 0 and _count(FactOutbox) == 0, 30, "the index")
        time.sleep(2)  # two more ticks: nothing is done twice
    finally:
        workers.stop_all()
    _each_delivered_once(receiver, 3)
    page = client_for("admin.mtn").get("/search?q=bourse").get_data(as_text=True)
    assert all(number in page for number in numbers), workers.logs()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_worker_killed_mid_send_leaves_the_email_to_the_next_which_sends_it_once(
    app, tmp_path, backend
):
    _use_queue(app, _queue_url(backend))
    inbox = StallingInbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    workers = Workers(app, tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_TIMEOUT_S=1)
    try:
        email = OutgoingEmail(
            to_address="citoyen@example.org", subject="Votre reçu", body="Bonjour"
        )
        db.session.add(email)
        db.session.commit()
        email_id = email.id
        first = workers.start()
        assert inbox.stalled.wait(30), workers.logs()  # the first worker is mid-send
        workers.kill(first)
        inbox.release.set()
        db.session.remove()
        killed = db.session.get(OutgoingEmail, email_id)
        assert (killed.sent_at, killed.attempts) == (None, 0)  # nothing recorded: it died
        assert inbox.messages == []

        workers.start()
        _until(lambda: len(inbox.messages) == 1, 40, "the e-mail sent by the second worker")
        time.sleep(3)  # more ticks and more claims: it is not sent again
        sent = db.session.get(OutgoingEmail, email_id)
        assert sent.sent_at is not None and sent.attempts == 1
        assert inbox.message_ids() == Counter({f"<outbox-{email_id}@diwan>".encode(): 1})
    finally:
        workers.stop_all()
        inbox.release.set()
        smtp.stop()


@pytest.mark.postgres
def test_two_workers_on_postgresql_and_redis_do_each_job_once(pg_app, tmp_path, receiver):
    _use_queue(pg_app, _queue_url("redis"))
    admin, officer = _people(pg_app, "wilaya")
    _subscribe(pg_app, admin, receiver)
    officer_id = officer.id
    receiver.delay_s = 0.05
    workers = Workers(pg_app, tmp_path, WORKER_THREADS=3)
    try:
        workers.start()
        workers.start()
        with pg_app.test_request_context():
            officer = db.session.get(User, officer_id)
            for n in range(12):
                register(officer, subject=f"Réclamation {n}")
        _until(lambda: len(receiver.received) >= 12, 60, "twelve webhook deliveries")
        _until(lambda: _count(SearchOutbox) == 0 and _count(FactOutbox) == 0, 60, "the index")
        time.sleep(2)
    finally:
        workers.stop_all()
    _each_delivered_once(receiver, 12)
    assert receiver.overlaps == 0
    statuses = db.session.scalars(select(WebhookDelivery.status)).all()
    assert len(statuses) == 12 and set(statuses) == {"delivered"}
