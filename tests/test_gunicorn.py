"""gunicorn with two workers on one instance: health, sign-in, request ids, and the login rate
limit shared through Redis (what lets several app servers share one Diwan)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from app.extensions import db
from app.services import health
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping client that opens a new connection per request (so gunicorn's workers
    take turns) and sends its own request id."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(self, path: str, form: dict | None = None) -> tuple[int, dict, str, str]:
        request_id = f"test-{uuid.uuid4().hex}"
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(  # noqa: S310 - the test's own http://127.0.0.1 server
            self.base + path, data=data, headers={"X-Request-ID": request_id}
        )
        try:
            with self.opener.open(request, timeout=20) as response:
                status, headers, body = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, dict(error.headers), error.read()
        return status, headers, body.decode(errors="replace"), request_id

    def sign_in(self, username: str, password: str) -> int:
        token = _CSRF.search(self.request("/login")[2]).group(1)
        form = {"username": username, "password": password, "csrf_token": token}
        return self.request("/login", form)[0]


@pytest.fixture
def served(app, world, tmp_path):
    """gunicorn (config/gunicorn.conf.py, 2 workers) on the test instance's database."""

    def start(**settings) -> tuple[str, Path]:
        health.beat(db.session, "test-worker:1")  # a worker "is running": /readyz can be 200
        db.session.commit()
        port = _free_port()
        log = tmp_path / f"gunicorn-{port}.log"
        env = {
            **os.environ,
            "DIWAN_INSTANCE_PATH": app.instance_path,
            "DIWAN_DATABASE_URL": app.config["DATABASE_URL"],  # SQLite or PostgreSQL
            "DIWAN_SECRET_KEY": "test-secret-key",
            "DIWAN_DEFAULT_LOCALE": "en",
            "DIWAN_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{port}"),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "2",
            **{f"DIWAN_{name}": value for name, value in settings.items()},
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(GUNICORN), "-c", str(ROOT / "config" / "gunicorn.conf.py"), "app.wsgi:app"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):  # noqa: S310
                    return base, log
            except OSError:
                time.sleep(0.2)
        raise AssertionError("gunicorn did not answer:\n" + log.read_text())

    processes: list[subprocess.Popen] = []
    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _lines(log: Path) -> list[dict]:
    lines = []
    for raw in log.read_text().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def _pids_by_request(log: Path) -> dict[str, int]:
    return {
        line["request_id"]: line["pid"]
        for line in _lines(log)
        if line.get("logger") == "diwan.access"
    }


def test_two_workers_serve_one_instance(served):
    base, log = served()
    browser = Browser(base)
    status, headers, body, request_id = browser.request("/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["X-Request-ID"] == request_id
    status, _, body, _ = browser.request("/readyz")
    assert status == 200, body
    assert browser.sign_in("officer", PASSWORD) == 302
    served_by, seen = set(), []
    for _ in range(40):  # new connections until both workers have served the signed-in page
        status, headers, body, request_id = browser.request("/registry/incoming")
        assert status == 200 and "Officer" in body
        assert headers["X-Request-ID"] == request_id
        seen.append(request_id)
        served_by = {_pids_by_request(log).get(rid) for rid in seen}
        if len(served_by - {None}) == 2:
            break
    assert len(served_by - {None}) == 2, "one worker served every request"
    lines = _lines(log)
    assert any(line.get("logger", "").startswith("gunicorn") for line in lines)  # JSON too
    status, _, metrics, _ = browser.request("/metrics")  # from 127.0.0.1: allowed
    assert status == 200
    counted = re.search(
        r'diwan_http_requests_total\{endpoint="registry.register_list",method="GET",'
        r'status="200"\} (\d+)',
        metrics,
    )
    assert counted and int(counted.group(1)) == len(seen)  # both workers' requests added up


def test_the_login_rate_limit_is_shared_through_redis(served):
    url = os.environ.get("DIWAN_TEST_REDIS_URL")
    if not url:
        pytest.skip("set DIWAN_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15) to test Redis")
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter("*LIMITER/*/auth.login/*"):  # a previous run's counts
        client.delete(key)
    limit = 20
    base, log = served(RATELIMIT_STORAGE_URI=url, LOGIN_RATE_LIMIT=f"{limit} per 5 minutes")
    browser = Browser(base)
    statuses, ids = [], []
    for _ in range(limit + 2):
        token = _CSRF.search(browser.request("/login")[2]).group(1)
        form = {"username": "nobody", "password": "wrong", "csrf_token": token}
        status, _, _, request_id = browser.request("/login", form)
        statuses.append(status)
        ids.append(request_id)
    # Both workers counted failures, yet the limit fell after `limit` failures in all: each
    # worker's own count (memory://) would have let more through.
    pids = _pids_by_request(log)
    assert len({pids[rid] for rid in ids[:limit]}) == 2, "one worker answered every attempt"
    assert statuses == [401] * limit + [429] * 2, statuses
    [key] = client.scan_iter("*LIMITER/*/auth.login/*")
    assert int(client.get(key)) >= limit  # the count lives in Redis, not in a worker
