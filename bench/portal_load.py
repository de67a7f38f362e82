"""Load test of the citizens' e-counter: complaints submitted over HTTP to a real server.

A throwaway instance (temporary folder; SQLite, or a fresh PostgreSQL database given with
``--database-url``) is built the way ``make run`` builds one: ``diwan db upgrade``, ``diwan demo``,
then ``diwan run --host 127.0.0.1 --port <free> --no-reload --no-debugger --with-threads`` as a
subprocess (Werkzeug's threaded server, one process). The rate limits of the portal are relaxed
through the environment (every client comes from 127.0.0.1). The background worker is NOT run:
the receipt is made and sealed inside the request, and nothing else the worker does (search
index, e-mails) is measured.

N virtual citizens (``--clients``, default 4), each a thread with its own keep-alive connection
and cookie jar, loop: GET ``/portal/demo/plainte`` (the CSRF token and the session cookie), then
POST a complaint without e-mail (so it is registered at once) with a one-page PDF attachment,
and follow nothing. The PDF is generated once with pypdf (2.9 KB, a text page); a fixed-width
reference inside it is rewritten per submission so every attachment is a new file, as citizens'
files are (``--attachment PATH`` sends a real PDF instead, byte for byte, so the store
deduplicates it). Figures count the POSTs that started after the warm-up (``--warmup``) and
ended within the measured ``--seconds``.

Afterwards, with the server stopped, the database and the file store are checked directly:
every 302 is exactly one letter with channel "portal" (counts equal, each redirect's request
registered with its letter, no registered request that the clients did not see as a 302),
registry numbers unique and ``seq`` contiguous 1..N with the counter at N, every registered
submission has its letter, its documents and a receipt_sha256, every receipt and document file
exists in the store with the right SHA-256 (a receipt also carries a signature), and the audit
chain verifies. The exit status is 1 if a check fails.

Then (``--profile N``, default 20; 0 skips it) N more submissions go through the same app in
this process (Flask's test client, one at a time) with timers on the phases (intake sandbox,
message PDF, registration, routing, receipt render, seal and time-stamp), then ``--cprofile``
(default 5) more under cProfile.

A seal that takes over a second is counted (``seals_over_1s``): before ``signing.asn1_lengths``
(asn1crypto 1.5.1 took a definite length ending in 0x80 for an indefinite one, and pyHanko then
re-encoded the time-stamp token exponentially) some instances sealed a third of their receipts
in 10-35 s each; the JSON also says whether that fix is active (``asn1crypto_lengths_fixed``).

    .venv/bin/python bench/portal_load.py [--clients 4] [--seconds 60] [--warmup 5]
        [--database-url postgresql://postgres@127.0.0.1:5432/diwan_bench_portal]
        [--attachment PATH] [--locale ar|fr|en] [--profile 20] [--cprofile 5] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import http.client
import inspect
import io
import os
import pstats
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common

ORG_CODE = "demo"
TYPE_CODE = "plainte"  # national_id required, e-mail optional: registered at once without one
FORM_PATH = f"/portal/{ORG_CODE}/{TYPE_CODE}"
PG_DATABASE = "diwan_bench_portal"
SECRET_KEY = "bench-portal-load-secret"  # noqa: S105 - a throwaway instance
REF_PLACEHOLDER = b"BENCH-000000000000"  # rewritten per submission, same length
CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
TICKS = os.sysconf("SC_CLK_TCK")


# --- the instance and its server ------------------------------------------------------------------


def sqlalchemy_url(url: str) -> str:
    """The app's SQLAlchemy URL for a libpq-style one (psycopg 3 is the installed driver)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@contextlib.contextmanager
def fresh_postgres(url: str, keep: bool) -> Iterator[None]:
    """DROP and CREATE the database named in ``url`` (must be diwan_bench_portal)."""
    import psycopg

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    name = parts.path.lstrip("/")
    if name != PG_DATABASE:
        raise SystemExit(f"--database-url must name the database {PG_DATABASE}, not {name!r}")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        if keep:
            common.log(f"kept PostgreSQL database {name}")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def instance_environment(instance: Path, database_url: str, base_url: str) -> dict[str, str]:
    """The DIWAN_* variables of the throwaway instance (app.settings reads them)."""
    return {
        "DIWAN_INSTANCE_PATH": str(instance),
        "DIWAN_DATABASE_URL": sqlalchemy_url(database_url),  # empty: SQLite in the instance
        "DIWAN_SECRET_KEY": SECRET_KEY,
        "DIWAN_BASE_URL": base_url,
        "DIWAN_PORTAL_SUBMIT_RATE_LIMIT": "1000000 per hour",
        "DIWAN_PORTAL_SUBMISSIONS_PER_EMAIL_PER_DAY": "1000000",
        "DIWAN_PORTAL_TRACK_RATE_LIMIT": "1000000 per hour",
        "DIWAN_PORTAL_CONFIRM_RATE_LIMIT": "1000000 per hour",
    }


def diwan_command() -> str:
    return str(Path(sys.executable).with_name("diwan"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(args: list[str], env: dict[str, str], log_file) -> None:
    log_file.write(f"$ diwan {' '.join(args)}\n".encode())
    log_file.flush()
    done = subprocess.run(  # noqa: S603 - our own command
        [diwan_command(), *args], env=env, stdout=log_file, stderr=subprocess.STDOUT, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"diwan {' '.join(args)} failed (exit {done.returncode}); see the log")


class Server:
    """``diwan run`` as a child process; stopped by its own pid only."""

    def __init__(self, port: int, env: dict[str, str], log_file) -> None:
        self.port = port
        run = ["run", "--host", "127.0.0.1", "--port", str(port), "--no-reload", "--no-debugger"]
        self.proc = subprocess.Popen(  # noqa: S603 - our own command
            [diwan_command(), *run, "--with-threads"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}; see the log")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", FORM_PATH)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            time.sleep(0.2)
        raise SystemExit("the server did not answer within 60 s")

    def cpu_seconds(self) -> tuple[float, float]:
        """(the server process, its reaped children: the sandboxed intake) in CPU seconds."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
        return (utime + stime) / TICKS, (cutime + cstime) / TICKS

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over every core, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


# --- what a citizen sends -------------------------------------------------------------------------


def generated_pdf() -> bytes:
    """A one-page text PDF (2.9 KB) with a fixed-width reference to make each copy unique."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    lines = [f"Ref. {REF_PLACEHOLDER.decode()}", "", "Objet : reclamation - nuisances sonores"]
    lines += [
        f"Ligne {n:02d} : le chantier voisin travaille la nuit, de 22 h a 5 h, depuis trois "
        "semaines."
        for n in range(1, 25)
    ]
    text = " ".join(f"({line}) '" for line in lines)
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 10 Tf 13 TL 60 790 Td {text} ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    assert data.count(REF_PLACEHOLDER) == 1
    return data


class Attachment:
    def __init__(self, path: str | None) -> None:
        if path:
            self.template = Path(path).read_bytes()
            self.unique = False
            self.source = str(Path(path).resolve())
        else:
            self.template = generated_pdf()
            self.unique = True
            self.source = "generated with pypdf, unique reference per submission"

    def copy(self, serial: int) -> bytes:
        if not self.unique:
            return self.template
        return self.template.replace(REF_PLACEHOLDER, f"BENCH-{serial:012d}".encode())


def complaint(client: int, n: int, locale: str) -> dict[str, str]:
    tag = f"{client}-{n}-{uuid.uuid4().hex[:6]}"
    if locale == "ar":
        return {
            "name": f"مواطن تجريبي {client}",
            "national_id": f"BE{client:02d}{n:05d}",
            "address": "12 زنقة الأطلس، الرباط",
            "phone": "0600000000",
            "subject": f"شكاية بخصوص الضجيج الليلي ({tag})",
            "message": (
                "السيد المحترم، أتشرف بأن أرفع إليكم هذه الشكاية بخصوص الضجيج الصادر عن ورش "
                "البناء المجاور لمسكني، والذي يشتغل ليلا من العاشرة مساء إلى الخامسة صباحا "
                "منذ ثلاثة أسابيع. "
                "وقد راسلت صاحب الورش دون جدوى. لذا ألتمس منكم التدخل لوضع حد لهذا الإزعاج. "
                f"مرجع: {tag}. وتقبلوا فائق التقدير والاحترام."
            ),
        }
    return {
        "name": f"Citoyen d'essai {client}",
        "national_id": f"BE{client:02d}{n:05d}",
        "address": "12 rue de l'Atlas, Rabat",
        "phone": "0600000000",
        "subject": f"Réclamation : nuisances sonores nocturnes ({tag})",
        "message": (
            "Madame, Monsieur, je me permets de vous adresser cette réclamation au sujet du bruit "
            "du chantier voisin de mon domicile, qui travaille la nuit de 22 h à 5 h depuis trois "
            "semaines. J'ai écrit à l'entreprise, sans réponse. Je vous prie d'intervenir. "
            f"Référence : {tag}. Veuillez agréer mes salutations distinguées."
        ),
    }


def multipart(fields: dict[str, str], filename: str, pdf: bytes) -> tuple[str, bytes]:
    boundary = "----diwanbench" + uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode("utf-8") + b"\r\n")
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
        f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
    )
    out.write(pdf + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", out.getvalue()


# --- the virtual citizens -------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # "get" or "post"
    began: float
    ended: float
    status: str  # HTTP status, or "exception:<Type>", or "302:unexpected"
    public_id: str = ""


@dataclass
class Citizen:
    """One browser: a keep-alive connection and a cookie jar."""

    port: int
    locale: str
    cookies: dict[str, str] = field(default_factory=dict)
    conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str = ""):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        headers = {"Accept-Language": self.locale, "User-Agent": "diwan-bench-portal-load"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = ctype
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except Exception:
            self.close()
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        if (response.getheader("Connection") or "").lower() == "close":
            self.close()
        return response.status, response.getheader("Location") or "", data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_clients(port: int, args, attachment: Attachment, server: Server) -> dict[str, Any]:
    outcomes: list[Outcome] = []
    samples: dict[str, str] = {}
    lock = threading.Lock()
    serial = iter(range(1, 10**12))
    barrier = threading.Barrier(args.clients + 1)
    clock: dict[str, float] = {}

    def citizen(no: int) -> None:
        browser = Citizen(port, args.locale)
        barrier.wait()
        n = 0
        while time.perf_counter() < clock["end"]:
            n += 1
            began = time.perf_counter()
            try:
                status, _location, page = browser.request("GET", FORM_PATH)
                match = CSRF_PATTERN.search(page.decode("utf-8", "replace"))
                got = str(status) if match else f"{status}:no-csrf-token"
            except Exception as error:  # counted, never hidden
                got, match = f"exception:{type(error).__name__}", None
            with lock:
                outcomes.append(Outcome("get", began, time.perf_counter(), got))
            if got != "200":
                time.sleep(0.1)
                continue
            fields = {
                "csrf_token": match.group(1),
                **complaint(no, n, args.locale),
                "email": "",
                "kept_files": "",
                "website": "",  # the honeypot stays empty
            }
            with lock:
                number = next(serial)
            ctype, body = multipart(fields, f"piece-{no}-{n}.pdf", attachment.copy(number))
            began = time.perf_counter()
            public_id = ""
            try:
                status, location, page = browser.request("POST", FORM_PATH, body, ctype)
                got = str(status)
                if status == 302:
                    path = urlsplit(location).path
                    if path.startswith("/portal/requests/"):
                        public_id = path.rsplit("/", 1)[1]
                    else:
                        got = "302:unexpected"
                if got != "302":
                    with lock:
                        samples.setdefault(got, page.decode("utf-8", "replace")[:4000])
            except Exception as error:
                got = f"exception:{type(error).__name__}"
                with lock:
                    samples.setdefault(got, repr(error))
            with lock:
                outcomes.append(Outcome("post", began, time.perf_counter(), got, public_id))
        browser.close()

    threads = [
        threading.Thread(target=citizen, args=(k + 1,), daemon=True) for k in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    clock["start"] = now + args.warmup
    clock["end"] = clock["start"] + args.seconds
    load_before = os.getloadavg()
    barrier.wait()
    time.sleep(max(0.0, clock["start"] - time.perf_counter()))
    cpu0, machine0, self0 = server.cpu_seconds(), machine_cpu(), os.times()
    time.sleep(max(0.0, clock["end"] - time.perf_counter()))
    cpu1, machine1, self1 = server.cpu_seconds(), machine_cpu(), os.times()
    load_after = os.getloadavg()
    for thread in threads:
        thread.join()
    tail_s = time.perf_counter() - clock["end"]

    measured = [o for o in outcomes if clock["start"] <= o.began and o.ended <= clock["end"]]
    posts = [o for o in measured if o.kind == "post"]
    gets = [o for o in measured if o.kind == "get"]
    ok = [o for o in posts if o.status == "302"]
    errors = Counter(o.status for o in posts if o.status != "302")
    get_errors = Counter(o.status for o in gets if o.status != "200")
    all_ok_ids = [o.public_id for o in outcomes if o.kind == "post" and o.status == "302"]
    server_cpu = cpu1[0] - cpu0[0]
    children_cpu = cpu1[1] - cpu0[1]
    busy = machine1[0] - machine0[0]
    total = machine1[1] - machine0[1]
    post_latency = latency_summary([o.ended - o.began for o in ok])
    return {
        "figures": {
            "clients": args.clients,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "submissions_ok": len(ok),
            "submissions_attempted": len(posts),
            "errors_by_status": dict(errors),
            "form_get_errors_by_status": dict(get_errors),
            "submissions_per_s": round(len(ok) / args.seconds, 3),
            "post_latency_ms": post_latency,
            "posts_over_5s": sum(1 for o in ok if o.ended - o.began > 5),
            "get_latency_ms": latency_summary([o.ended - o.began for o in gets]),
        },
        "cpu_during_measurement": {
            "server_process_cpu_s": round(server_cpu, 2),
            "server_process_cores_busy": round(server_cpu / args.seconds, 2),
            "sandbox_children_cpu_s": round(children_cpu, 2),
            "server_cpu_ms_per_submission": round(1000 * server_cpu / len(ok), 1) if ok else None,
            "sandbox_cpu_ms_per_submission": round(1000 * children_cpu / len(ok), 1)
            if ok
            else None,
            "bench_process_cpu_s": round(
                (self1.user + self1.system) - (self0.user + self0.system), 2
            ),
            "machine_busy_share": round(busy / total, 3) if total else None,
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in load_after],
        },
        "requests_after_the_window_s": round(tail_s, 2),
        "all_302_public_ids": all_ok_ids,
        "all_posts": sum(1 for o in outcomes if o.kind == "post"),
        "samples_of_errors": samples,
    }


def latency_summary(durations_s: list[float]) -> dict[str, float | int]:
    values = sorted(d * 1000 for d in durations_s)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(common.percentile(values, 0.50), 1),
        "p95": round(common.percentile(values, 0.95), 1),
        "p99": round(common.percentile(values, 0.99), 1),
        "max": round(values[-1], 1),
        "mean": round(sum(values) / len(values), 1),
    }


# --- the check afterwards -------------------------------------------------------------------------


def integrity(app, public_ids: list[str]) -> dict[str, Any]:
    """Zero lost or duplicated registrations, read from the database and the file store."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import (
        Document,
        Letter,
        Organisation,
        PortalSubmission,
        RegistryCounter,
        SubmissionStatus,
    )
    from app.services import audit
    from app.uploads import file_store

    with app.app_context():
        session = db.session
        store = file_store()
        org = session.scalar(select(Organisation).where(Organisation.code == ORG_CODE))
        letters = session.execute(
            select(
                Letter.id, Letter.register, Letter.year, Letter.seq, Letter.number, Letter.channel
            ).where(Letter.organisation_id == org.id)
        ).all()
        portal_letter_ids = {row.id for row in letters if row.channel == "portal"}
        submissions = session.scalars(
            select(PortalSubmission).where(PortalSubmission.organisation_id == org.id)
        ).all()
        by_public_id = {s.public_id: s for s in submissions}
        registered = [s for s in submissions if s.status == SubmissionStatus.REGISTERED]
        counters = {
            (row.register, row.year): row.last_value
            for row in session.execute(
                select(RegistryCounter).where(RegistryCounter.organisation_id == org.id)
            ).scalars()
        }
        documents = defaultdict(list)
        for document in session.scalars(
            select(Document).where(Document.letter_id.in_(portal_letter_ids or {-1}))
        ):
            documents[document.letter_id].append(document)

        seqs: dict[tuple[str, int], list[int]] = defaultdict(list)
        for row in letters:
            seqs[(row.register, row.year)].append(row.seq)
        gaps = {}
        for key, values in seqs.items():
            values.sort()
            if values != list(range(1, len(values) + 1)) or counters.get(key) != len(values):
                missing = sorted(set(range(1, max(values) + 1)) - set(values))
                gaps[f"{key[0]}/{key[1]}"] = {
                    "n": len(values),
                    "counter": counters.get(key),
                    "missing": missing[:20],
                    "duplicates": [v for v, c in Counter(values).items() if c > 1][:20],
                }

        redirect_ids = Counter(public_ids)
        unknown_redirects = [p for p in redirect_ids if p not in by_public_id]
        redirect_not_registered = [
            p
            for p in redirect_ids
            if p in by_public_id
            and (
                by_public_id[p].status != SubmissionStatus.REGISTERED
                or by_public_id[p].letter_id not in portal_letter_ids
            )
        ]
        registered_unseen = [s.public_id for s in registered if s.public_id not in redirect_ids]
        letter_refs = Counter(s.letter_id for s in registered if s.letter_id is not None)
        letters_without_submission = [i for i in portal_letter_ids if letter_refs[i] == 0]

        receipt_problems: Counter[str] = Counter()
        for s in registered:
            if s.letter_id is None:
                receipt_problems["no_letter"] += 1
            if s.receipt_sha256 is None:
                receipt_problems["no_receipt_sha256"] += 1
                continue
            if s.pending_code is not None:
                receipt_problems["plain_code_still_kept"] += 1
            path = store.path(s.receipt_sha256)
            if not path.is_file():
                receipt_problems["receipt_file_missing"] += 1
                continue
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != s.receipt_sha256:
                receipt_problems["receipt_file_wrong_sha256"] += 1
            if not data.startswith(b"%PDF") or b"/ByteRange" not in data:
                receipt_problems["receipt_not_a_signed_pdf"] += 1

        document_problems: Counter[str] = Counter()
        checked_files = set()
        for s in registered:
            docs = documents.get(s.letter_id, [])
            if len(docs) != len(s.files):
                document_problems["document_count_differs_from_submission_files"] += 1
            for document in docs:
                version = document.current
                for sha in {version.original_sha256, version.pdf_sha256} - {None}:
                    if sha in checked_files:
                        continue
                    checked_files.add(sha)
                    if not store.verify(sha):
                        document_problems["document_file_missing_or_wrong_sha256"] += 1

        numbers = [row.number for row in letters]
        chain = audit.verify_chain(session, org.id)
        not_registered = Counter(str(s.status) for s in submissions if s not in registered)
        with_email = session.scalar(
            select(func.count()).select_from(PortalSubmission).where(PortalSubmission.email != "")
        )
        session.remove()

    checks = {
        "responses_302": len(public_ids),
        "portal_letters": len(portal_letter_ids),
        "letters_all_channels": len(letters),
        "registered_submissions": len(registered),
        "portal_letters_equal_302s": len(portal_letter_ids) == len(public_ids),
        "redirect_ids_unique": all(c == 1 for c in redirect_ids.values()),
        "redirects_without_submission": unknown_redirects[:10],
        "redirects_not_registered": redirect_not_registered[:10],
        "registered_but_no_302": registered_unseen[:10],
        "registered_but_no_302_count": len(registered_unseen),
        "portal_letters_without_submission": letters_without_submission[:10],
        "submissions_not_registered": dict(not_registered),
        "submissions_with_email": with_email,
        "numbers_unique": len(set(numbers)) == len(numbers),
        "seq_contiguous_and_counter_at_n": not gaps,
        "seq_problems": gaps,
        "receipt_problems": dict(receipt_problems),
        "document_problems": dict(document_problems),
        "files_verified": len(checked_files),
        "audit_chain_ok": chain.ok,
        "audit_chain_events": chain.events,
    }
    checks["all_ok"] = bool(
        checks["portal_letters_equal_302s"]
        and checks["redirect_ids_unique"]
        and not unknown_redirects
        and not redirect_not_registered
        and not registered_unseen
        and not letters_without_submission
        and not not_registered
        and checks["numbers_unique"]
        and checks["seq_contiguous_and_counter_at_n"]
        and not receipt_problems
        and not document_problems
        and chain.ok
    )
    return checks


# --- where the time goes (in process) -------------------------------------------------------------


class PhaseTimer:
    """Wraps functions by module attribute; sums their wall time per submission."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.per_submission: list[dict[str, float]] = []
        self.undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)
        timer = self

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.current[label] += time.perf_counter() - began

        async def timed_async(*args, **kwargs):
            began = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                timer.current[label] += time.perf_counter() - began

        setattr(owner, attribute, timed_async if inspect.iscoroutinefunction(original) else timed)
        self.undo.append((owner, attribute, original))

    def next_submission(self, total: float) -> None:
        self.current["total POST"] = total
        self.per_submission.append(dict(self.current))
        self.current = defaultdict(float)

    def restore(self) -> None:
        for owner, attribute, original in reversed(self.undo):
            setattr(owner, attribute, original)


# (label, indent) in the order of the request; the times are inclusive (a phase holds its
# indented sub-phases).
PHASES = [
    ("total POST", 0),
    ("intake: ingest_all (stage, sandbox, commit)", 1),
    ("sandbox child: inspect_pdf (run_sandboxed)", 2),
    ("message PDF: message_document", 1),
    ("render_reply_pdf", 2),
    ("check_submission (x2: view and submit)", 1),
    ("submit: insert + register + route", 1),
    ("register (one transaction)", 2),
    ("record_letter (number, contact, documents, audit)", 3),
    ("routing rules (own transaction)", 2),
    ("receipt: issue_receipt", 1),
    ("render_receipt_pdf", 2),
    ("seal: signatures.seal (PAdES B-T)", 2),
    ("ensure_organisation_pki (x2 per seal)", 3),
    ("pades.sign_pdf (incl. time-stamp)", 3),
    ("LocalTimeStamper() (opens the TSA)", 3),
    ("TSA answer (async_request_tsa_response)", 4),
    ("Session.commit (flush + COMMIT)", 1),
    ("FileStore.put_bytes (message PDF, receipt)", 1),
]


def install_timers(timer: PhaseTimer) -> None:
    from sqlalchemy.orm import Session

    import app.blueprints.portal as view
    import app.files.intake as intake
    import app.services.portal as portal
    import app.services.portal_documents as documents
    import app.services.registration as registration
    import app.services.signatures as signatures
    from app.files.store import FileStore
    from signing import pades, timestamps

    timer.wrap(view, "ingest_all", PHASES[1][0])
    timer.wrap(intake, "run_sandboxed", PHASES[2][0])
    timer.wrap(documents, "message_document", PHASES[3][0])
    timer.wrap(documents, "render_reply_pdf", PHASES[4][0])
    timer.wrap(portal, "check_submission", PHASES[5][0])
    timer.wrap(portal, "submit", PHASES[6][0])
    timer.wrap(portal, "register", PHASES[7][0])
    timer.wrap(registration, "record_letter", PHASES[8][0])
    timer.wrap(portal, "_route_by_rules", PHASES[9][0])
    timer.wrap(documents, "issue_receipt", PHASES[10][0])
    timer.wrap(documents, "render_receipt_pdf", PHASES[11][0])
    timer.wrap(signatures, "seal", PHASES[12][0])
    timer.wrap(signatures, "ensure_organisation_pki", PHASES[13][0])
    timer.wrap(pades, "sign_pdf", PHASES[14][0])
    timer.wrap(timestamps.LocalTimeStamper, "__init__", PHASES[15][0])
    timer.wrap(timestamps.LocalTimeStamper, "async_request_tsa_response", PHASES[16][0])
    timer.wrap(Session, "commit", PHASES[17][0])
    timer.wrap(FileStore, "put_bytes", PHASES[18][0])


def profile_in_process(
    app, n: int, n_cprofile: int, attachment: Attachment, locale: str
) -> dict[str, Any]:
    """``n`` submissions, one at a time, through the test client with phase timers, then
    ``n_cprofile`` more under cProfile (which slows Python code several times: its figures say
    which functions, the timers say how long)."""
    client = app.test_client()
    headers = {"Accept-Language": locale}
    serial = iter(range(10**9, 2 * 10**9))

    def submit() -> tuple[int, float]:
        k = next(serial)
        page = client.get(FORM_PATH, headers=headers).get_data(as_text=True)
        token = CSRF_PATTERN.search(page).group(1)
        data = {
            "csrf_token": token,
            **complaint(99, k, locale),
            "email": "",
            "kept_files": "",
            "website": "",
            "attachments": (io.BytesIO(attachment.copy(k)), f"profile-{k}.pdf"),
        }
        began = time.perf_counter()
        response = client.post(
            FORM_PATH, data=data, headers=headers, content_type="multipart/form-data"
        )
        return response.status_code, time.perf_counter() - began

    for _ in range(2):  # imports, opened keys, caches
        submit()
    statuses: Counter[int] = Counter()
    timer = PhaseTimer()
    install_timers(timer)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        for _ in range(n):
            status, total = submit()
            statuses[status] += 1
            timer.next_submission(total)
    finally:
        timer.restore()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_after = resource.getrusage(resource.RUSAGE_SELF)

    phases = {}
    for label, indent in PHASES:
        values = sorted(1000 * s.get(label, 0.0) for s in timer.per_submission)
        phases[label] = {
            "indent": indent,
            "p50_ms": round(common.percentile(values, 0.5), 1),
            "mean_ms": round(sum(values) / len(values), 1),
            "max_ms": round(values[-1], 1),
        }
    seal_label = PHASES[12][0]
    seals_ms = [round(1000 * s.get(seal_label, 0.0)) for s in timer.per_submission]

    profiler = cProfile.Profile()
    for _ in range(n_cprofile):
        profiler.enable()
        submit()
        profiler.disable()
    rows = []
    if n_cprofile:
        stats = pstats.Stats(profiler)
        for (filename, line, function), values in stats.stats.items():
            _cc, calls, tottime, cumtime, _callers = values
            rows.append((cumtime, tottime, calls, f"{shorten(filename)}:{line}({function})"))
    per = max(n_cprofile, 1)
    top_cumulative = [
        {
            "function": name,
            "calls_per_submission": round(calls / per, 1),
            "cum_ms": round(1000 * cum / per, 1),
            "own_ms": round(1000 * own / per, 1),
        }
        for cum, own, calls, name in sorted(rows, reverse=True)[:40]
    ]
    top_own = [
        {
            "function": name,
            "own_ms": round(1000 * own / per, 1),
            "cum_ms": round(1000 * cum / per, 1),
        }
        for cum, own, calls, name in sorted(rows, key=lambda r: r[1], reverse=True)[:20]
    ]

    def cpu(before, after) -> float:
        return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    return {
        "submissions": n,
        "statuses": dict(statuses),
        "phases_ms": phases,
        "seal_ms_each": seals_ms,
        "seals_over_1s": sum(1 for v in seals_ms if v > 1000),
        "process_cpu_ms_per_submission": round(1000 * cpu(self_before, self_after) / n, 1),
        "sandbox_children_cpu_ms_per_submission": round(
            1000 * cpu(children_before, children_after) / n, 1
        ),
        "cprofile_submissions": n_cprofile,
        "cprofile_top_cumulative": top_cumulative,
        "cprofile_top_own": top_own,
    }


def asn1crypto_lengths_fixed() -> bool | None:
    """Whether the app's signing package patched asn1crypto's indefinite-length test (the server
    imports the same package before its first seal); None if this code has no such fix."""
    import importlib.util

    if importlib.util.find_spec("signing.asn1_lengths") is None:
        return None
    from asn1crypto import core

    import signing  # noqa: F401 - applies the fix on import

    return bool(getattr(core, "_diwan_lengths_fixed", False))


def shorten(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# --- main -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument(
        "--database-url",
        default="",
        help=f"empty: SQLite in the instance; or postgresql://...:5432/{PG_DATABASE} "
        "(dropped and created afresh)",
    )
    parser.add_argument("--attachment", default="", help="a real PDF to send instead")
    parser.add_argument("--locale", choices=("ar", "fr", "en"), default="ar")
    parser.add_argument("--profile", type=int, default=20, help="in-process submissions; 0: none")
    parser.add_argument("--cprofile", type=int, default=5, help="then more under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder and database")
    args = parser.parse_args()

    backend = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
    attachment = Attachment(args.attachment or None)
    folder = Path(tempfile.mkdtemp(prefix="diwan-bench-portal-"))
    instance = folder / "instance"
    port = free_port()
    env_vars = instance_environment(instance, args.database_url, f"http://127.0.0.1:{port}")
    os.environ.update(env_vars)  # the in-process app (check, profile) reads the same settings
    env = {**os.environ, **env_vars}
    result: dict[str, Any] = {
        "benchmark": "portal_load",
        "backend": backend,
        "parameters": {
            "clients": args.clients,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "locale": args.locale,
            "attachment": attachment.source,
            "attachment_bytes": len(attachment.template),
            "server": "diwan run --no-reload --no-debugger --with-threads (Werkzeug, 1 process)",
            "worker": "not running",
        },
        "environment": common.environment(),
    }
    pg = fresh_postgres(args.database_url, args.keep) if backend == "postgresql" else None
    log_path = folder / "server.log"
    ok = False
    with contextlib.ExitStack() as stack:
        if pg is not None:
            stack.enter_context(pg)
        log_file = stack.enter_context(open(log_path, "wb"))
        common.log(f"portal_load: {backend}, {args.clients} clients, instance {instance}")
        run_cli(["db", "upgrade"], env, log_file)
        run_cli(["demo"], env, log_file)
        server = Server(port, env, log_file)
        try:
            server.wait_ready()
            common.log(
                f"portal_load: server on port {port}; {args.warmup:g} s warm-up, "
                f"{args.seconds:g} s measured"
            )
            run = run_clients(port, args, attachment, server)
        finally:
            server.stop()
        log_file.flush()
        log_text = log_path.read_text("utf-8", "replace")
        public_ids = run.pop("all_302_public_ids")
        result.update(run)
        result["server_log"] = {
            "tracebacks": log_text.count("Traceback"),
            "receipts_not_made_now": log_text.count("not made now"),
            "status_5xx_lines": len(re.findall(r'" 5\d\d ', log_text)),
        }

        from app import create_app

        app = create_app()
        common.log("portal_load: checking the database and the file store ...")
        result["checks"] = integrity(app, public_ids)
        if args.profile:
            common.log(f"portal_load: {args.profile} submissions in process (phases, cProfile) ...")
            result["profile"] = profile_in_process(
                app, args.profile, args.cprofile, attachment, args.locale
            )
        result["backend_versions"] = common.backend_versions(app)
        result["asn1crypto_lengths_fixed"] = asn1crypto_lengths_fixed()
        common.dispose(app)
        ok = result["checks"]["all_ok"]
        if not ok or result["server_log"]["tracebacks"]:
            result["server_log"]["tail"] = log_text[-6000:]
    if args.keep:
        common.log(f"kept the instance folder {folder}")
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    f = result["figures"]
    latency = f["post_latency_ms"]
    seals = result.get("profile", {}).get("seals_over_1s")
    human = (
        f"portal_load: {backend}, {f['clients']} clients: {f['submissions_per_s']} submissions/s, "
        f"p50 {latency.get('p50')} ms, p95 {latency.get('p95')} ms, p99 {latency.get('p99')} ms, "
        f"errors {f['errors_by_status'] or 'none'}; "
        + (f"seals over 1 s in process: {seals} of {args.profile}; " if seals is not None else "")
        + f"check {'OK' if ok else 'FAILED'} ({result['checks']['portal_letters']} letters for "
        f"{result['checks']['responses_302']} redirects)"
    )
    common.emit(f"portal_load-{backend}-{args.clients}", result, human)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
