"""gunicorn settings for Diwan in production (docs/operations.md).

    gunicorn -c config/gunicorn.conf.py app.wsgi:app

Each value can be changed from the environment (GUNICORN_BIND, GUNICORN_WORKERS ...) without
editing this file. The application is stateless: several machines can run this same command
against one PostgreSQL database, one file store and one Redis.
"""

import contextlib
import multiprocessing
import os
import tempfile
from pathlib import Path

# Prometheus: every worker writes its counters to files here, and whichever worker answers
# /metrics adds them up. It must be set before the application (prometheus_client) is imported.
# Use a directory of your own, on a RAM disk, e.g. /run/diwan/metrics (systemd RuntimeDirectory).
metrics_dir = Path(
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR",
        str(Path(tempfile.gettempdir()) / f"diwan-metrics-{os.getuid()}"),
    )
)
metrics_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Threads overlap what waits (database, disk, a time-stamp authority); processes use the cores
# for what computes (PDF rendering and signing). About 170 MB of memory per worker.
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# A batch signature (each document stamped, signed and time-stamped) or a large upload being
# sandboxed and converted may take a minute; nginx buffers the upload before passing it on.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = 60
keepalive = 5
# Recycle workers now and then (with jitter, never all at once): bounds slow memory growth.
max_requests = 2000
max_requests_jitter = 200
# The proxy's address: only its X-Forwarded-Proto is believed (set DIWAN_TRUSTED_PROXIES=1 for
# the client's address too).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The workers' heartbeat files: on a RAM disk, so a slow disk never makes a worker look hung
# (gunicorn makes them with mkstemp: the shared directory is safe).
_shm = "/dev/shm"  # noqa: S108
worker_tmp_dir = _shm if os.path.isdir(_shm) else None
# Diwan writes its own access line per request (with its request id); gunicorn's would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
proc_name = "diwan"

if os.environ.get("DIWAN_LOG_FORMAT", "text") == "json":
    # gunicorn's own lines (start, workers booting and exiting) in Diwan's JSON format too.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},  # the application adds its own handler
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "formatters": {"json": {"()": "app.observability.JsonFormatter"}},
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    """Forget the metric files of processes that no longer run (a previous gunicorn); keep those
    of a running `diwan worker` sharing the directory."""
    for path in metrics_dir.glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def child_exit(server, worker):
    """A worker ended (recycled or killed): its live gauges must stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
