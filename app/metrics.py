"""Prometheus metrics.

Counters and the latency histogram are kept by each process; under gunicorn, set
PROMETHEUS_MULTIPROC_DIR (config/gunicorn.conf.py does) so every worker writes its values to a
file there and whichever worker answers /metrics adds them all up. Queue depths, the index lag
and the workers' heartbeats are read from the database at scrape time, so they are right
whichever process (or machine) answers.
"""

from __future__ import annotations

import os
from pathlib import Path

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # before prometheus_client reads it
    # Any diwan command may count (the worker seals receipts): the folder must exist for it.
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import select
from sqlalchemy.orm import Session

CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "diwan_http_requests",
    "HTTP requests answered, by endpoint (the view's name, not the path), method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "diwan_http_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
SERVER_ERRORS = Counter(
    "diwan_http_server_errors",
    "Requests answered with a 5xx status, by endpoint.",
    ["endpoint"],
)
SIGNATURES = Counter(
    "diwan_signatures",
    "PDF signatures made by this process: signature (a person's, in a circuit), seal (the "
    "organisation's, on a register or a receipt), archive_timestamp (a B-LTA document stamp).",
    ["kind"],
)


def count_signature(kind: str) -> None:
    SIGNATURES.labels(kind=kind).inc()


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint=endpoint, method=method, status=str(status)).inc()
    LATENCY.labels(endpoint=endpoint).observe(seconds)
    if status >= 500 and endpoint != "ops.readyz":  # "not ready" is an answer, not a failure
        SERVER_ERRORS.labels(endpoint=endpoint).inc()


class _Fixed:
    """A collector that yields metric families computed beforehand."""

    def __init__(self, families) -> None:
        self.families = list(families)

    def collect(self):
        return iter(self.families)


class _Forward:
    """This process's own registry (single-process mode: `make run`, tests)."""

    def collect(self):
        return REGISTRY.collect()


def database_families(session: Session) -> list:
    """Gauges read from the database now; diwan_database_up is 0 when it does not answer."""
    from app.services import health

    up = GaugeMetricFamily("diwan_database_up", "1 when the database answered this scrape.")
    try:
        queues = health.queues(session)
        alive = health.workers(session)
        jobs = _job_families(session)
        session.rollback()
    except Exception:  # the scrape still answers, saying the database did not
        session.rollback()
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    depth = GaugeMetricFamily(
        "diwan_queue_depth", "Items waiting in each queue the worker drains.", labels=["queue"]
    )
    for queue, value in (
        ("search_outbox", queues.search_waiting),
        ("fact_outbox", queues.facts_waiting),
        ("email_pending", queues.emails_pending),
        ("email_failed", queues.emails_failed),
        ("webhook_pending", queues.webhooks_pending),
        ("webhook_failed", queues.webhooks_failed),
    ):
        depth.add_metric([queue], value)
    lag = GaugeMetricFamily(
        "diwan_index_lag_seconds", "Age of the oldest change waiting for the search index."
    )
    lag.add_metric([], queues.search_lag_s)
    oldest = GaugeMetricFamily(
        "diwan_queue_oldest_due_seconds",
        "How long the oldest due e-mail or webhook delivery has waited.",
        labels=["queue"],
    )
    oldest.add_metric(["email"], queues.emails_oldest_due_s)
    oldest.add_metric(["webhook"], queues.webhooks_oldest_due_s)
    return [up, depth, lag, oldest, *_worker_families(alive), *jobs]


def _job_families(session: Session) -> list:
    """Per job (app.jobs.work): runs and failures since the installation began, whether a
    worker holds it now, and how long ago it last finished."""
    from app.models import JobRun
    from app.models.base import utcnow

    runs = CounterMetricFamily("diwan_job_runs", "Runs of each job.", labels=["job"])
    failures = CounterMetricFamily("diwan_job_failures", "Failed runs of each job.", labels=["job"])
    running = GaugeMetricFamily(
        "diwan_job_running", "1 while a worker holds the job.", labels=["job"]
    )
    age = GaugeMetricFamily(
        "diwan_job_last_finished_seconds", "Time since the job last finished.", labels=["job"]
    )
    now = utcnow()
    for row in session.scalars(select(JobRun).order_by(JobRun.name)):
        runs.add_metric([row.name], row.runs)
        failures.add_metric([row.name], row.failures)
        running.add_metric([row.name], int(row.lease_until is not None and row.lease_until > now))
        if row.finished_at is not None:
            age.add_metric([row.name], (now - row.finished_at).total_seconds())
    return [runs, failures, running, age]


def _worker_families(alive) -> list:
    count = GaugeMetricFamily("diwan_workers", "Workers that beat within the last day.")
    count.add_metric([], len(alive))
    failures = CounterMetricFamily(
        "diwan_worker_round_failures",
        "Worker rounds that failed, per worker (host:pid) since it started.",
        labels=["worker"],
    )
    for worker in alive:
        failures.add_metric([worker.name], worker.failures)
    families = [count, failures]
    if alive:
        age = GaugeMetricFamily(
            "diwan_worker_heartbeat_age_seconds", "Time since the freshest worker heartbeat."
        )
        age.add_metric([], alive[0].age_s)
        families.append(age)
    return families


def exposition(session: Session) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward())
    registry.register(_Fixed(database_families(session)))
    return generate_latest(registry)
