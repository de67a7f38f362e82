"""Child side of signing.isolation: validates ONE untrusted PDF under resource limits, then exits.

Run as ``python -I -m signing._validate_child MEMORY_MB`` with a minimal environment. The order
matters: the address-space, file-size and core-dump limits are set before anything else is
imported; then the validation code is imported (the slow part, done while the child waits in
the warm pool); then the job is read from stdin, the CPU limit is set for it (on top of the CPU
already spent importing), and the answer is written on the original stdout. Anything a library
prints goes to stderr, so it cannot corrupt the answer.

Job (JSON on stdin): {"op": "validate" | "probe", "cpu_seconds": int, "pdf": base64,
"trust_roots"/"other_certs"/"crls": [base64 DER]}. Empty stdin: the pool is closing, exit 0.
Answer (JSON on stdout): {"ok": true, "report": {...}} or {"ok": true, "probe": {...}}.
Exit status 3 after a MemoryError.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import resource
import sys

EXIT_MEMORY = 3
EXIT_BAD_JOB = 4
# Validation writes no file; stderr (a file in the parent) is the only one, and this caps it.
MAX_FILE_BYTES = 1024 * 1024


def _lower(kind: int, soft: int, hard: int | None = None) -> None:
    """Set a limit no higher than the current hard limit (a child may only lower them)."""
    _current_soft, current_hard = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


def set_start_limits(memory_mb: int) -> None:
    _lower(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    _lower(resource.RLIMIT_FSIZE, MAX_FILE_BYTES)
    _lower(resource.RLIMIT_CORE, 0)


def set_cpu_limit(cpu_seconds: int) -> None:
    """CPU seconds for this job, counted from now: SIGXCPU at the soft limit, SIGKILL a second
    later."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(usage.ru_utime + usage.ru_stime) + 1
    _lower(resource.RLIMIT_CPU, spent + cpu_seconds, spent + cpu_seconds + 1)


def _certificates(values: list[str]):
    from cryptography import x509

    return [x509.load_der_x509_certificate(base64.b64decode(v)) for v in values]


def _crls(values: list[str]):
    from cryptography import x509

    return [x509.load_der_x509_crl(base64.b64decode(v)) for v in values]


def probe() -> dict:
    """What the child runs with: environment variable names, limits, working directory, pid."""
    return {
        "environment": sorted(os.environ),
        "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
        "rlimit_cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
        "rlimit_fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
        "rlimit_core": resource.getrlimit(resource.RLIMIT_CORE)[0],
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "flags_isolated": bool(sys.flags.isolated),
    }


def run(job: dict, validate) -> dict:
    if job.get("op") == "probe":
        return {"ok": True, "probe": probe()}
    report = validate(
        base64.b64decode(job["pdf"]),
        trust_roots=_certificates(job.get("trust_roots", [])),
        other_certs=_certificates(job.get("other_certs", [])),
        crls=_crls(job.get("crls", [])),
    )
    return {"ok": True, "report": report}


def main() -> int:
    set_start_limits(int(sys.argv[1]))
    answer_stream = sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever a library prints must not mix with the answer
    # pyHanko logs every rejected path with its traceback: formatting them costs time, and the
    # report already says what failed.
    logging.disable(logging.CRITICAL)
    try:
        from signing.validation import validate

        raw = sys.stdin.buffer.read()
        if not raw:
            return 0
        job = json.loads(raw)
        del raw
        set_cpu_limit(int(job["cpu_seconds"]))
        answer = run(job, validate)
        answer_stream.write(json.dumps(answer, ensure_ascii=False).encode("utf-8"))
        answer_stream.flush()
        sys.stderr.flush()
        # One job per child: skip the interpreter's teardown (tens of milliseconds of
        # freeing modules) that the parent would otherwise wait for.
        os._exit(0)
    except MemoryError:
        return EXIT_MEMORY
    except (ValueError, KeyError, TypeError) as exc:  # a malformed job: the parent's bug
        print(f"bad job: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BAD_JOB
    return 0


if __name__ == "__main__":
    sys.exit(main())
