"""The job queue, measured with a real `diwan worker` process.

- enqueue: what a commit that wrote outbox rows pays to queue their drains (two messages);
- registration to indexed: a letter registered through the registration service (a one-page
  PDF), until a worker process has indexed it (its search outbox row is gone), one at a time;
- recovery: a worker killed with SIGKILL while it holds a job; how long until a second worker
  has done the job (the lease, JOB_LEASE_S, and the tick, WORKER_TICK_S, decide).

    .venv/bin/python bench/jobs.py [--queue sqlite|redis|both] [--probes 30]
        [--redis redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common

DIWAN = Path(sys.executable).with_name("diwan")


def _worker(app, env_extra: dict[str, str], log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DIWAN_INSTANCE_PATH": app.instance_path,
        "DIWAN_SECRET_KEY": app.config["SECRET_KEY"],
        "DIWAN_JOB_QUEUE_URL": app.config["JOB_QUEUE_URL"],
        **env_extra,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [str(DIWAN), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while b"Diwan worker running" not in log.read_bytes():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"the worker did not start:\n{log.read_text()}")
        time.sleep(0.05)
    time.sleep(1)  # its first tick and periodic jobs
    return process


def _waiting(model) -> int:
    from sqlalchemy import func, select

    from app.extensions import db

    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(model))


def enqueue_cost(app, rounds: int = 500) -> dict:
    from app.jobs import queue_of

    queue = queue_of(app)
    queue.trigger({"search", "facts"})
    started = time.perf_counter()
    for _ in range(rounds):
        queue.trigger({"search", "facts"})
    per_commit_ms = (time.perf_counter() - started) / rounds * 1000
    queue.huey.flush()
    return {"per_commit_ms": round(per_commit_ms, 3)}


def registration_to_indexed(app, officer_id: int, probes: int) -> dict:
    from app.extensions import db
    from app.files.intake import ingest_upload
    from app.models import SearchOutbox, User
    from app.services import registration
    from app.services.actor import Actor
    from app.uploads import file_store
    from tests.helpers import blank_pdf

    durations = []
    for n in range(probes):
        with app.test_request_context():
            officer = db.session.get(User, officer_id)
            scan = ingest_upload(file_store(), io.BytesIO(blank_pdf()), "scan.pdf", max_bytes=10**7)
            data = registration.LetterInput(
                register="incoming",
                subject=f"Demande de raccordement {n}",
                channel="post",
                new_correspondent=registration.NewContact(name="Amina Berrada"),
                files=[scan],
            )
            settings = registration.NumberingSettings.from_config(app.config)
            registration.register_letter(db.session, Actor(officer), data, settings)
            committed = time.perf_counter()
            while _waiting(SearchOutbox):
                if time.perf_counter() - committed > 30:
                    raise SystemExit("a letter was not indexed within 30 s")
                time.sleep(0.01)
            durations.append(time.perf_counter() - committed)
        time.sleep(0.3)  # the worker idles between letters, as in real use
    return common.summary(durations)


def recovery(app, tmp: Path, env: dict[str, str]) -> dict:
    """A job held by a killed worker: the time until another worker has done it."""
    from app.extensions import db
    from app.models import OutgoingEmail

    # SMTP_HOST is a listening socket that never answers: the first worker is mid-send (it
    # holds the e-mail's claim and the e-mail drain's) when it is killed.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    smtp = {
        "DIWAN_SMTP_HOST": "127.0.0.1",
        "DIWAN_SMTP_PORT": str(silent.getsockname()[1]),
        "DIWAN_SMTP_TIMEOUT_S": "3",
    }
    first = _worker(app, {**env, **smtp}, tmp / "killed.log")
    with app.app_context():
        db.session.add(
            OutgoingEmail(to_address="citoyen@example.org", subject="Reçu", body="Bonjour")
        )
        db.session.commit()
    time.sleep(1.5)  # the first worker is now waiting on the silent server
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = time.perf_counter()
    silent.close()
    # The second worker sends to a port where nothing listens: refused at once, which records
    # the attempt. The figure is the time until the job was taken over and done.
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()
    second = _worker(app, {**env, **smtp, "DIWAN_SMTP_PORT": str(port)}, tmp / "second.log")
    try:
        with app.app_context():
            while True:
                db.session.remove()
                email = db.session.query(OutgoingEmail).one()
                if email.attempts >= 1:
                    break
                if time.perf_counter() - killed > 120:
                    raise SystemExit("the job was not taken over within 120 s")
                time.sleep(0.05)
        return {
            "taken_over_after_s": round(time.perf_counter() - killed, 2),
            "email_lease_s": 3 * 4 + int(env["DIWAN_JOB_LEASE_S"]),
        }
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(30)


def run(queue: str, args) -> dict:
    from app.extensions import db
    from app.jobs import queue_of

    with common.temp_instance("diwan-bench-jobs-") as instance:
        url = args.redis if queue == "redis" else ""
        app = common.make_app(instance, JOB_QUEUE_URL=url)
        common.migrate(app)
        if url:
            queue_of(app).huey.flush()
        with app.app_context():
            world = common.create_world(db.session)
            db.session.remove()
        result = {"enqueue": enqueue_cost(app)}
        env = {"DIWAN_WORKER_TICK_S": "1", "DIWAN_JOB_LEASE_S": "5"}
        worker = _worker(app, env, instance.parent / "worker.log")
        try:
            with app.app_context():
                result["registration_to_indexed"] = registration_to_indexed(
                    app, world["officer_ids"][0], args.probes
                )
        finally:
            worker.send_signal(signal.SIGINT)
            worker.wait(30)
        with app.app_context():
            result["recovery"] = recovery(app, instance.parent, env)
        common.dispose(app)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", choices=("sqlite", "redis", "both"), default="both")
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    queues = ["sqlite", "redis"] if args.queue == "both" else [args.queue]
    results = {queue: run(queue, args) for queue in queues}
    human = "; ".join(
        f"{queue}: enqueue {r['enqueue']['per_commit_ms']} ms/commit, registration to indexed "
        f"p50 {r['registration_to_indexed']['p50_ms']:.0f} ms p95 "
        f"{r['registration_to_indexed']['p95_ms']:.0f} ms, killed job done again after "
        f"{r['recovery']['taken_over_after_s']} s"
        for queue, r in results.items()
    )
    common.emit("jobs", {"environment": common.environment(), **results}, human)


if __name__ == "__main__":
    main()
