"""Validate untrusted PDFs in a child process with time and memory limits.

Why a process: parsing a hostile PDF can loop, allocate without bound or crash in C code. A
child can be given an address-space and CPU limit, killed on a wall-clock timeout, and its crash
cannot take the web worker down.

How (signing._validate_child is the other side):
* ``python -I -m signing._validate_child MEMORY_MB``: isolated mode (no PYTHON* variables, no
  user site), an environment reduced to PATH and a locale (the worker's secrets are not
  inherited), working directory "/", a new session (killed as a group), no ``preexec_fn``
  (unsafe in a threaded web server): the child sets its own limits first thing.
* the job goes in as JSON on stdin (base64 fields), the report comes back as JSON on stdout.
* outcomes that are not a report become a report: wall-clock timeout or CPU limit
  -> INDETERMINATE "timeout"; memory exhausted, crash or no answer -> INDETERMINATE "resources".

Cost: starting a child means importing pyHanko, about 0.4 s of CPU, far more than validating a
signature (~10 ms). So a small warm pool keeps children that have already imported everything
and wait on stdin. Each child takes ONE job and exits, so nothing a hostile file did to one child
(memory layout, caches, a half-finished parse) can reach the next file. The replacement is
started when a job ends, not when it starts: measured on a shared 2-core machine, an import
running beside the job made the job slower (warm call p50 ~50 ms instead of ~25-40 ms) and, for
back-to-back calls, two imports at once made each call slower than a cold start. Only children
with the default memory limit are pooled; other limits get a fresh child. The pool belongs to
the process that started it: after a fork (a pre-forking web server) the worker starts its own.
A web worker can start its children before the first request with set_pool_size(POOL_SIZE).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

DEFAULT_TIMEOUT = 20.0
DEFAULT_MEMORY_MB = 768
POOL_SIZE = 1
CHILD_MODULE = "signing._validate_child"
# Must match signing._validate_child.
EXIT_MEMORY = 3
_STDERR_TAIL = 1000


def validate_isolated(
    pdf: bytes,
    *,
    trust_roots: Sequence[x509.Certificate] = (),
    other_certs: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> dict[str, Any]:
    """signing.validation.validate's report, computed in a limited child process. Never raises
    for anything the file does; `timeout` bounds wall-clock and CPU time, `memory_mb` the
    child's address space."""
    job = {
        "op": "validate",
        "pdf": _b64(pdf),
        "trust_roots": [_b64(_der(c)) for c in trust_roots],
        "other_certs": [_b64(_der(c)) for c in other_certs],
        "crls": [_b64(_der(c)) for c in crls],
    }
    answer = _run(job, timeout=timeout, memory_mb=memory_mb)
    if "report" in answer:
        return answer["report"]
    return {
        "verdict": "INDETERMINATE",
        "reasons": [answer["failure"]],
        "detail": answer["detail"],
        "signatures": [],
        "document_timestamps": [],
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "pages": None,
    }


def probe_isolation(
    *, timeout: float = DEFAULT_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB
) -> dict[str, Any]:
    """What a validation child runs with: its environment variable names, resource limits,
    working directory (for tests and operators). {"failure", "detail"} if it did not answer."""
    answer = _run({"op": "probe"}, timeout=timeout, memory_mb=memory_mb)
    return answer.get("probe", answer)


def set_pool_size(size: int) -> None:
    """Keep `size` warm children ready, starting them now (0: none, for one-shot commands such
    as the CLI). Children waiting beyond the new size are stopped."""
    if size < 0:
        raise ValueError("the pool size cannot be negative")
    _POOL.resize(size)
    _POOL.refill()


def shutdown_pool() -> None:
    """Stop the idle children (they exit on end of input). Runs at interpreter exit."""
    _POOL.shutdown()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _der(item: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    return item.public_bytes(serialization.Encoding.DER)


# --- running one job ------------------------------------------------------------------------------


def _run(job: dict[str, Any], *, timeout: float, memory_mb: int) -> dict[str, Any]:
    """The child's answer, or {"failure": "timeout" | "resources", "detail": ...}."""
    if timeout <= 0 or memory_mb <= 0:
        raise ValueError("timeout and memory_mb must be positive")
    job = {**job, "cpu_seconds": max(1, math.ceil(timeout))}
    child = _POOL.take(memory_mb)
    try:
        stdout, _ = child.process.communicate(json.dumps(job).encode("ascii"), timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        return {"failure": "timeout", "detail": f"no answer within {timeout} s"}
    except BaseException:
        child.kill()
        raise
    finally:
        err_tail = child.stderr_tail()
        _POOL.refill()
    return _interpret(child.process.returncode, stdout, err_tail)


def _interpret(returncode: int, stdout: bytes, err_tail: str) -> dict[str, Any]:
    if returncode == -signal.SIGXCPU:
        return {"failure": "timeout", "detail": "CPU time limit"}
    # A SIGKILL is not the CPU hard limit: the wall-clock timeout (no longer than the CPU
    # allowance) always fires first, and the parent's own kill never gets here. It is the
    # kernel's out-of-memory killer or an operator: "resources", below.
    if returncode == EXIT_MEMORY:
        return {"failure": "resources", "detail": "memory limit"}
    try:
        answer = json.loads(stdout) if returncode == 0 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        if returncode < 0:
            try:
                how = f"killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"killed by signal {-returncode}"
        else:
            how = f"exit status {returncode} without an answer"
        return {"failure": "resources", "detail": f"{how}; {err_tail}".strip("; ")}
    return answer


# --- the children and the warm pool ---------------------------------------------------------------


class _Child:
    """A started child: its process, its stderr file, the memory limit it set for itself."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        # Kept open for the child's lifetime (it may wait in the pool), closed by stderr_tail
        # or close().
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [sys.executable, "-I", "-m", CHILD_MODULE, str(int(memory_mb))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            self.stderr.close()
            raise

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Kill the child's process group, then reap it. Only called while the child is
        unreaped, so its pid (its group's id) cannot belong to anyone else yet."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError, ValueError):
                if pipe is not None:
                    pipe.close()

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            end = self.stderr.seek(0, os.SEEK_END)
            self.stderr.seek(max(0, end - _STDERR_TAIL))
            tail = self.stderr.read().decode("utf-8", "replace").strip()
            self.stderr.close()
            return tail
        return ""

    def close(self) -> None:
        """End of input: an idle child exits; kill it if it does not within a second."""
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()
        self.stderr.close()


class _WarmPool:
    def __init__(self, size: int) -> None:
        self._size = size
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._owner = os.getpid()

    def take(self, memory_mb: int) -> _Child:
        """A started child for one job: a warm one if there is one, else a fresh one."""
        with self._lock:
            self._forget_if_forked()
            while memory_mb == DEFAULT_MEMORY_MB and self._idle:
                candidate = self._idle.pop(0)
                if candidate.alive():
                    return candidate
                candidate.close()
        return _Child(memory_mb)

    def refill(self) -> None:
        """Start children until `size` wait in the pool. Called after a job, not while it runs:
        on a small machine an import running beside the job slows the job down, and under
        back-to-back requests two imports at once slow both."""
        with self._lock:
            self._forget_if_forked()
            while len(self._idle) < self._size:
                try:
                    self._idle.append(_Child(DEFAULT_MEMORY_MB))
                except OSError:
                    # Cannot start a process now: the next job starts its own child and
                    # reports the error there, not in the middle of this job's answer.
                    return

    def _forget_if_forked(self) -> None:
        if os.getpid() != self._owner:
            # A forked copy of the pool: those children belong to the parent process.
            self._idle, self._owner = [], os.getpid()

    def resize(self, size: int) -> None:
        with self._lock:
            self._size = size
            surplus, self._idle = self._idle[size:], self._idle[:size]
            mine = os.getpid() == self._owner
        if mine:
            for child in surplus:
                child.close()

    def shutdown(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            mine = os.getpid() == self._owner
        if mine:
            for child in idle:
                child.close()


_POOL = _WarmPool(POOL_SIZE)
atexit.register(shutdown_pool)
