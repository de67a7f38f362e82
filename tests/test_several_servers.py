"""Two app servers and a worker on three "machines" (three instance folders, nothing shared
between them but what docs/operations.md says to share: one PostgreSQL, one file store, one
Redis, one SECRET_KEY). A letter registered on one server is opened, downloaded and found by
search on the other, with the session cookie the first one set: the app keeps no state of its own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from app.extensions import db
from app.jobs import queue_of
from app.models import Role
from app.services import organisations as orgs
from tests.conftest import PASSWORD
from tests.helpers import blank_pdf, letter_form
from tests.test_gunicorn import _free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Machines:
    def __init__(self, tmp_path: Path, shared: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.shared = shared
        self.processes: list[subprocess.Popen] = []

    def _env(self, machine: str, **extra) -> dict[str, str]:
        return {
            **os.environ,
            "DIWAN_INSTANCE_PATH": str(self.tmp_path / machine),  # nothing shared through it
            **{f"DIWAN_{name}": value for name, value in self.shared.items()},
            **extra,
        }

    def _start(self, argv: list[str], env: dict[str, str], name: str) -> Path:
        log = self.tmp_path / f"{name}.log"
        with log.open("wb") as out:
            self.processes.append(
                subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
        return log

    def app_server(self, machine: str) -> str:
        port = _free_port()
        env = self._env(
            machine,
            GUNICORN_BIND=f"127.0.0.1:{port}",
            GUNICORN_WORKERS="1",
            PROMETHEUS_MULTIPROC_DIR=str(self.tmp_path / f"metrics-{machine}"),
        )
        argv = [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "app.wsgi:app"]
        log = self._start(argv, env, machine)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.processes[-1].poll() is None, log.read_text()
            try:
                requests.get(base + "/healthz", timeout=10)
                return base
            except requests.RequestException:  # not listening yet, or still loading the app
                time.sleep(0.2)
        raise AssertionError(f"{machine} did not answer:\n{log.read_text()}")

    def worker(self, machine: str) -> None:
        self._start([str(BIN / "diwan"), "worker"], self._env(machine), machine)

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(30)


def _csrf(session: requests.Session, url: str) -> str:
    return _CSRF.search(session.get(url, timeout=20).text).group(1)


@pytest.mark.postgres
def test_two_app_servers_and_a_worker_share_postgresql_a_file_store_and_redis(pg_app, tmp_path):
    redis_url = os.environ.get("DIWAN_TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("set DIWAN_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15) to test Redis")
    organisation = orgs.create_organisation(
        db.session, None, code="mtn", name_ar="وزارة", name_fr="Ministère"
    )
    orgs.create_user(
        db.session,
        None,
        organisation,
        username="officer",
        full_name="Officer",
        password=PASSWORD,
        roles=[Role.REGISTRY_OFFICER],
    )
    pg_app.config["JOB_QUEUE_URL"] = redis_url
    queue_of(pg_app).huey.flush()
    machines = Machines(
        tmp_path,
        {
            "DATABASE_URL": pg_app.config["DATABASE_URL"],
            "FILE_STORE": str(tmp_path / "shared-file-store"),
            "SECRET_KEY": "one-secret-for-every-machine",
            "JOB_QUEUE_URL": redis_url,
            "RATELIMIT_STORAGE_URI": redis_url,
            "SEARCH_BACKEND": "postgres",
            "DEFAULT_LOCALE": "en",
            "WORKER_TICK_S": "1",
        },
    )
    try:
        server_a, server_b = machines.app_server("machine-a"), machines.app_server("machine-b")
        machines.worker("machine-c")
        browser = requests.Session()
        signed_in = browser.post(
            server_a + "/login",
            data={
                "username": "officer",
                "password": PASSWORD,
                "csrf_token": _csrf(browser, server_a + "/login"),
            },
            allow_redirects=False,
            timeout=20,
        )
        assert signed_in.status_code == 302
        scan = blank_pdf(2)
        form = letter_form(subject="Demande de raccordement hydraulique")
        form["csrf_token"] = _csrf(browser, server_a + "/registry/incoming/new")
        registered = browser.post(
            server_a + "/registry/incoming/new",
            data=form,
            files={"documents": ("scan.pdf", scan, "application/pdf")},
            allow_redirects=False,
            timeout=30,
        )
        assert registered.status_code == 302, registered.text[:2000]
        letter_path = registered.headers["Location"].removeprefix(server_a)

        # Machine B: the same cookie signs in, the letter and its file are there.
        page = browser.get(server_b + letter_path, timeout=20)
        assert page.status_code == 200 and "raccordement hydraulique" in page.text
        link = re.search(r'href="(/letters/\d+/documents/\d+/v1/original)"', page.text).group(1)
        downloaded = browser.get(server_b + link, timeout=20)
        assert downloaded.status_code == 200 and downloaded.content == scan

        # The worker on machine C indexed it (the commit on A queued the job on Redis).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = browser.get(server_b + "/search?q=raccordement", timeout=20)
            if letter_path in found.text:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("machine B's search never found the letter")
        assert not (tmp_path / "machine-b" / "files").exists()  # B kept nothing of its own
    finally:
        machines.stop()
