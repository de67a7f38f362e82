"""A real HTTP receiver on 127.0.0.1 that checks the signature and the time the way a customer's
system would (written here from the documentation, not with Diwan's own code), and can be told
to fail, to hang or to be away; and a subscription maker."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.extensions import db
from app.services import webhooks
from app.services.actor import Actor

TOLERANCE_S = 300
LOOPBACK = "127.0.0.0/8"


def verify(secret: str, header: str, body: bytes, now: float) -> bool:
    """What a receiver does with Diwan-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


@dataclass
class Received:
    headers: dict
    body: bytes
    verified: bool

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    fail_next: int = 0  # answer 500 to this many requests
    hang_s: float = 0.0  # wait this long before answering
    delay_s: float = 0.0  # a slow but successful answer
    redirect_to: str = ""  # answer 302 with this Location
    received: list[Received] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    overlaps: int = 0  # the same delivery being received twice at once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        ok = verify(self.secret, handler.headers.get("Diwan-Signature", ""), body, time.time())
        delivery = handler.headers.get("Diwan-Delivery", "")
        with self.lock:
            self.received.append(Received(dict(handler.headers), body, ok))
            self.in_flight[delivery] = self.in_flight.get(delivery, 0) + 1
            if self.in_flight[delivery] > 1:
                self.overlaps += 1
            failing = self.fail_next > 0
            self.fail_next -= 1 if failing else 0
        try:
            time.sleep(self.hang_s or self.delay_s)
            status = 500 if failing else (204 if ok else 401)
            handler.send_response(302 if self.redirect_to else status)
            if self.redirect_to:
                handler.send_header("Location", self.redirect_to)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            pass  # the sender gave up waiting
        finally:
            with self.lock:
                self.in_flight[delivery] -= 1

    def deliveries(self) -> list[str]:
        return [r.headers["Diwan-Delivery"] for r in self.received]


def _serve(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            receiver.handle(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/diwan"
    return server, thread


@pytest.fixture
def receiver():
    found = Receiver()
    server, thread = _serve(found)
    yield found
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens: the connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


@pytest.fixture(autouse=True)
def _receivers_on_loopback(request):
    """The test receivers listen on 127.0.0.1, a network the installation must allow, as it
    would its own intranet's (test_webhook_addresses.py checks what is refused without it)."""
    for name in ("app", "pg_app"):
        if name in request.fixturenames:
            request.getfixturevalue(name).config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK


@pytest.fixture
def subscribe(app, world, receiver):
    """subscribe(events, admin=..., url=...) -> the subscription; the receiver learns its secret."""

    def make(events=webhooks.EVENTS, admin=None, url=None):
        settings = webhooks.WebhookSettings.from_config(app.config)
        subscription, secret = webhooks.create_subscription(
            db.session,
            Actor(admin or world.admin),
            settings,
            url=url or receiver.url,
            events=list(events),
            description="Portail régional",
        )
        if url is None:
            receiver.secret = secret
        return subscription

    return make
