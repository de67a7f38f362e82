"""Run hostile-file work (PDF parsing, image decoding, page rendering) in a limited child process.

Why a process and not a thread or a try/except: parsers of untrusted files can loop forever,
allocate without bound or crash in C code. A child process can be given an address-space and CPU
limit, killed as a whole process group on a wall-clock timeout, and its crash cannot take the web
worker down.

How:
* the child runs ``_sandboxed.py`` *by path* with ``python -I`` (isolated: no PYTHON* variables,
  no user site, script directory not on sys.path), so it never imports the ``app`` package,
  Flask or the application's configuration;
* its environment is reduced to PATH and a locale, so secrets in the web worker's environment
  (database URL, secret key) are not visible to code processing a hostile file;
* the child sets its own RLIMIT_AS / RLIMIT_CPU / RLIMIT_FSIZE / RLIMIT_CORE as the very first
  thing it does, before any parser is imported. (Not via ``preexec_fn``: that runs Python between
  fork and exec, which CPython documents as unsafe in a multi-threaded parent such as a threaded
  WSGI server.)
* it runs in a new session; on timeout the parent kills the whole process group;
* arguments go in as JSON on stdin, the result comes back as JSON on stdout.
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

SCRIPT = Path(__file__).with_name("_sandboxed.py")
OPS = frozenset({"inspect_pdf", "image_to_pdf", "render_page", "probe"})
REASONS = ("timeout", "memory", "crashed", "failed")

# Must match _sandboxed.py: exit status the child uses after a MemoryError.
EXIT_MEMORY = 3
_STDERR_TAIL = 2000


class SandboxError(Exception):
    """The sandboxed operation did not produce a result.

    ``reason`` is one of: 'timeout' (wall clock or CPU limit), 'memory' (address-space limit),
    'crashed' (killed by a signal or died without an answer), 'failed' (the operation raised,
    e.g. an undecodable image or a page out of range); ``detail`` is for logs, not for users.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown sandbox failure reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def run_sandboxed(
    op: str,
    args: dict[str, Any],
    *,
    timeout_s: float = 20,
    memory_mb: int = 1024,
    output_mb: int = 512,
) -> dict[str, Any]:
    """Run ``op`` from ``_sandboxed.py`` on ``args`` in a limited child; return its result dict.

    ``timeout_s`` bounds both wall-clock and CPU time, ``memory_mb`` the address space and
    ``output_mb`` the size of any file the child writes. Raises SandboxError.
    """
    if op not in OPS:
        raise ValueError(f"unknown sandbox operation {op!r}")
    cpu_s = max(1, math.ceil(timeout_s))
    command = [
        sys.executable,
        "-I",
        str(SCRIPT),
        op,
        str(int(memory_mb)),
        str(cpu_s),
        str(int(output_mb)),
    ]
    env = {"PATH": os.defpath, "LC_ALL": "C.UTF-8"}
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )
        try:
            stdout, _ = proc.communicate(json.dumps(args).encode(), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SandboxError("timeout", f"{op}: no answer within {timeout_s} s") from None
        except BaseException:
            _kill_group(proc)
            raise
        stderr.seek(max(0, stderr.seek(0, os.SEEK_END) - _STDERR_TAIL))
        err_tail = stderr.read().decode("utf-8", "replace").strip()
    return _interpret(op, proc.returncode, stdout, err_tail)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group, then reap the child.

    Only called while the child is still unreaped, so its pid is still its group's id and cannot
    have been reused by an unrelated process.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _interpret(op: str, returncode: int, stdout: bytes, err_tail: str) -> dict[str, Any]:
    """Turn the child's exit status and output into a result or a SandboxError."""
    if returncode == -signal.SIGXCPU:
        raise SandboxError("timeout", f"{op}: CPU time limit")
    if returncode == EXIT_MEMORY:
        raise SandboxError("memory", f"{op}: memory limit")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise SandboxError("crashed", f"{op}: killed by {name}; {err_tail}")
    try:
        answer = json.loads(stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SandboxError("crashed", f"{op}: exit {returncode} without an answer; {err_tail}")
    if answer.get("ok") is True:
        if returncode == 0 and isinstance(answer.get("result"), dict):
            return answer["result"]
        raise SandboxError("crashed", f"{op}: malformed answer, exit {returncode}")
    raise SandboxError("failed", f"{op}: {answer.get('error', 'unknown error')}")
