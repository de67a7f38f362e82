"""Run a child script on untrusted input with time, memory and file-size limits.

Why a process: PDF and image parsers fed hostile files can loop forever, allocate without bound or
crash in C code. A child can be capped (the child script sets RLIMIT_AS / RLIMIT_CPU / RLIMIT_FSIZE
itself, first thing, before importing any parser), killed as a whole process group on a wall-clock
timeout, and its death cannot take the indexer down.

How (the same care as app/files/sandbox.py, which indexing/ must not import):
* the script runs *by path* with ``python -I`` (no PYTHON* variables, no user site, its directory
  not on sys.path), so it imports neither the application nor its configuration;
* its environment is reduced to PATH and a locale: secrets in the parent's environment (database
  URL, secret key) are not visible to code reading a hostile file;
* it runs in a new session, so a timeout kills its helpers (Tesseract) with it;
* arguments go in as JSON on stdin, the answer comes back as JSON on stdout.

Contract with the child script: ``python -I SCRIPT OP MEMORY_MB CPU_S OUTPUT_MB``; it answers
``{"ok": true, "result": {...}}`` or ``{"ok": false, "error": "..."}`` and exits with
``EXIT_MEMORY`` after a MemoryError.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

EXIT_MEMORY = 3
REASONS = ("timeout", "memory", "crashed", "failed")
_STDERR_TAIL = 2000
# The only variables a child sees. OMP_THREAD_LIMIT keeps Tesseract to one thread: the worker
# shares two cores with the web server, and one thread is also the fastest for single pages.
CHILD_ENV = {"PATH": os.defpath, "LC_ALL": "C.UTF-8", "OMP_THREAD_LIMIT": "1"}


class ChildFailure(Exception):
    """The child gave no result. ``reason``: 'timeout' (wall clock or CPU limit), 'memory'
    (address-space limit), 'crashed' (killed by a signal, or no readable answer), 'failed' (the
    operation raised); ``detail`` is for logs."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown child failure reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def run_child(
    script: Path,
    op: str,
    args: dict[str, Any],
    *,
    timeout_s: float,
    memory_mb: int,
    output_mb: int = 256,
) -> dict[str, Any]:
    """Run ``op`` of ``script`` on ``args`` in a limited child and return its result dict.

    ``timeout_s`` bounds the wall clock and the child's CPU time, ``memory_mb`` its address space,
    ``output_mb`` any file it writes. Raises ChildFailure; never leaves a process behind.
    """
    if timeout_s <= 0 or memory_mb <= 0 or output_mb <= 0:
        raise ValueError("timeout_s, memory_mb and output_mb must be positive")
    command = [
        sys.executable,
        "-I",
        str(script),
        op,
        str(int(memory_mb)),
        str(max(1, math.ceil(timeout_s))),
        str(int(output_mb)),
    ]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=dict(CHILD_ENV),
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )
        try:
            stdout, _ = proc.communicate(json.dumps(args).encode(), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ChildFailure("timeout", f"{op}: no answer within {timeout_s} s") from None
        except BaseException:
            _kill_group(proc)
            raise
        stderr.seek(max(0, stderr.seek(0, os.SEEK_END) - _STDERR_TAIL))
        err_tail = stderr.read().decode("utf-8", "replace").strip()
    return _interpret(op, proc.returncode, stdout, err_tail)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group (its helpers too), then reap the child.

    Only called while the child is unreaped, so its pid is still its group's id and cannot name an
    unrelated group. (After a normal exit the child has already waited for its own helpers.)
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _interpret(op: str, returncode: int, stdout: bytes, err_tail: str) -> dict[str, Any]:
    """Turn the child's exit status and output into a result or a ChildFailure."""
    if returncode == -signal.SIGXCPU:
        raise ChildFailure("timeout", f"{op}: CPU time limit")
    if returncode == EXIT_MEMORY:
        raise ChildFailure("memory", f"{op}: memory limit")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise ChildFailure("crashed", f"{op}: killed by {name}; {err_tail}")
    try:
        answer = json.loads(stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ChildFailure("crashed", f"{op}: exit {returncode} without an answer; {err_tail}")
    if answer.get("ok") is True and returncode == 0 and isinstance(answer.get("result"), dict):
        return answer["result"]
    if answer.get("ok") is True:
        raise ChildFailure("crashed", f"{op}: malformed answer, exit {returncode}")
    raise ChildFailure("failed", f"{op}: {answer.get('error', 'unknown error')}")
