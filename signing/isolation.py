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
(memory layout, caches, a half-finished parse) can reach the next file. Taking a child starts its
replacement at once, which imports while the current job runs. Only children with the default
memory limit are pooled; other limits get a fresh child. The pool belongs to the process that
started it: after a fork (a pre-forking web server) the worker starts its own.
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
    """How many warm children to keep ready (0: none, for one-shot commands such as the CLI).
    Children already waiting beyond the new size are stopped."""
    if size < 0:
        raise ValueError("the pool size cannot be negative")
    _POOL.resize(size)


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
    return _interpret(child.process.returncode, stdout, err_tail)


def _interpret(returncode: int, stdout: bytes, err_tail: str) -> dict[str, Any]:
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        # SIGKILL: the CPU hard limit (a second after SIGXCPU); the parent's own kill on
        # timeout never gets here.
        return {"failure": "timeout", "detail": "CPU time limit"}
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
        self.process.communicate()

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
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdout is not None:
                self.process.stdout.close()
        self.stderr.close()


class _WarmPool:
    def __init__(self, size: int) -> None:
        self._size = size
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._owner = os.getpid()

    def take(self, memory_mb: int) -> _Child:
        """A started child for one job: a warm one if there is one, else a fresh one. Starts
        the replacement of a pooled child straight away."""
        with self._lock:
            if os.getpid() != self._owner:
                # A forked copy of the pool: those children belong to the parent process.
                self._idle, self._owner = [], os.getpid()
            taken = None
            if memory_mb == DEFAULT_MEMORY_MB:
                while self._idle and taken is None:
                    candidate = self._idle.pop(0)
                    if candidate.alive():
                        taken = candidate
                    else:
                        candidate.close()
                while len(self._idle) < self._size:
                    self._idle.append(_Child(DEFAULT_MEMORY_MB))
        return taken if taken is not None else _Child(memory_mb)

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
