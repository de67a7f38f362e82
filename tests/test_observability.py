"""Request ids, structured logs and the Prometheus metrics."""

from __future__ import annotations

import io
import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import observability
from app.extensions import db
from app.services import health
from tests.conftest import PASSWORD, login, make_app
from tests.factories import register


@pytest.fixture
def log_lines():
    """The lines Diwan's log handler writes, as JSON objects (the handler is put back after)."""
    stream = io.StringIO()
    observability.configure_logging("json", "INFO", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    observability.configure_logging("text", "INFO")


def _samples(client, **kwargs) -> dict:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


# -- request ids and logs ------------------------------------------------------------------------


def test_each_request_gets_an_id_or_keeps_a_well_formed_one(app):
    client = app.test_client()
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/healthz").headers["X-Request-ID"] != generated
    nginx_id = "5f1c0e6a9b2d4c3e8f7a6b5c4d3e2f1a"
    assert (
        client.get("/healthz", headers={"X-Request-ID": nginx_id}).headers["X-Request-ID"]
        == nginx_id
    )
    for hostile in ("short", "a b c d e f g h", "<script>alert(1)</script>", "x" * 300):
        answered = client.get("/healthz", headers={"X-Request-ID": hostile}).headers
        assert re.fullmatch(r"[0-9a-f]{32}", answered["X-Request-ID"])


def test_access_lines_are_json_with_the_request_id_and_no_query_string(app, world, log_lines):
    client = app.test_client()
    login(client, "officer", PASSWORD)
    response = client.get(
        "/registry/incoming?q=secret-token-123", headers={"X-Request-ID": "req-0001-abcd"}
    )
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "req-0001-abcd"
    lines = log_lines()
    [access] = [line for line in lines if line.get("request_id") == "req-0001-abcd"]
    assert access["logger"] == "diwan.access" and access["level"] == "INFO"
    assert access["method"] == "GET" and access["path"] == "/registry/incoming"
    assert access["status"] == 200 and access["duration_ms"] >= 0
    assert access["endpoint"] == "registry.register_list"
    assert access["user_id"] == world.officer.id and access["pid"] > 0
    assert "secret-token-123" not in json.dumps(lines)
    form, signed_in = (line for line in lines if line.get("path") == "/login")
    assert "user_id" not in form  # an anonymous visitor
    assert signed_in["status"] == 302 and signed_in["user_id"] == world.officer.id


def test_a_500_page_shows_the_request_id_that_is_in_the_logs(app, log_lines):
    def broken():
        raise RuntimeError("kaput")

    app.add_url_rule("/broken-for-test", "broken_for_test", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not re-raise
    response = app.test_client().get("/broken-for-test")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    page = response.get_data(as_text=True)
    assert "Something went wrong." in page and f"quote this reference: {request_id}" in page
    logged = [line for line in log_lines() if line.get("request_id") == request_id]
    error = next(line for line in logged if line["level"] == "ERROR")
    assert "RuntimeError: kaput" in error["exception"]
    assert any(line["logger"] == "diwan.access" and line["status"] == 500 for line in logged)


def test_text_lines_carry_the_request_id(app):
    stream = io.StringIO()
    observability.configure_logging("text", "INFO", stream=stream)
    try:
        app.test_client().get("/healthz", headers={"X-Request-ID": "text-line-0001"})
    finally:
        observability.configure_logging("text", "INFO")
    assert re.search(r"INFO diwan\.access \[text-line-0001\] GET /healthz 200 ", stream.getvalue())


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_are_refused_to_other_addresses(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404
    app.config["METRICS_ALLOWED_IPS"] = "10.1.0.0/16, not-an-address"
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics").status_code == 404  # 127.0.0.1 no longer listed
    app.config["METRICS_TOKEN"] = "scrape-secret"
    for wrong in ("Bearer nope", "scrape-secret", "Basic scrape-secret"):
        assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 404
    _samples(client, headers={"Authorization": "Bearer scrape-secret"})


def test_behind_a_trusted_proxy_the_client_address_counts(tmp_path, new_database):
    instance = tmp_path / "instance"
    database = new_database(instance)
    proxied = make_app(instance, DATABASE_URL=database, TRUSTED_PROXIES=1)
    client = proxied.test_client()
    outside = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    assert client.get("/metrics", headers=outside).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    # without TRUSTED_PROXIES the header is not believed (anyone could send it)
    direct = make_app(instance, DATABASE_URL=database).test_client()
    assert direct.get("/metrics", headers=outside).status_code == 200


def test_metrics_count_requests_and_read_the_queues(app, world):
    client = app.test_client()
    key = "diwan_http_requests_total{endpoint=ops.healthz,method=GET,status=200}"
    before = _samples(client).get(key, 0)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page")
    after = _samples(client)
    assert after[key] == before + 2
    assert after["diwan_http_requests_total{endpoint=unmatched,method=GET,status=404}"] >= 1
    assert "diwan_http_request_duration_seconds_bucket{endpoint=ops.healthz,le=0.005}" in after
    assert after["diwan_database_up{}"] == 1
    assert after["diwan_workers{}"] == 0
    with app.test_request_context():
        register(world.officer, subject="Demande")
    health.beat(db.session, "host-a:1")
    health.beat(db.session, "host-a:1", failed=True)
    found = _samples(client)
    assert found["diwan_queue_depth{queue=search_outbox}"] == 1
    assert found["diwan_queue_depth{queue=fact_outbox}"] == 1
    for queue in ("email_pending", "email_failed", "webhook_pending", "webhook_failed"):
        assert found[f"diwan_queue_depth{{queue={queue}}}"] == 0
    assert found["diwan_index_lag_seconds{}"] >= 0
    assert found["diwan_queue_oldest_due_seconds{queue=email}"] == 0
    assert found["diwan_workers{}"] == 1
    assert found["diwan_worker_round_failures_total{worker=host-a:1}"] == 1
    assert found["diwan_worker_heartbeat_age_seconds{}"] >= 0


def test_server_errors_are_counted(app):
    app.add_url_rule("/broken-for-metrics", "broken_for_metrics", lambda: 1 / 0)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    key = "diwan_http_server_errors_total{endpoint=broken_for_metrics}"
    before = _samples(client).get(key, 0)
    assert client.get("/broken-for-metrics").status_code == 500
    assert _samples(client)[key] == before + 1


def test_a_database_down_still_answers_the_scrape(tmp_path):
    down = make_app(tmp_path / "i", DATABASE_URL="postgresql+psycopg://diwan@127.0.0.1:1/none")
    with down.app_context():
        found = _samples(down.test_client())
        db.session.remove()
    assert found["diwan_database_up{}"] == 0
    assert "diwan_queue_depth{queue=search_outbox}" not in found


def test_seals_are_counted(app, world):
    from app.services import signatures
    from tests.helpers import blank_pdf

    client = app.test_client()
    key = "diwan_signatures_total{kind=seal}"
    before = _samples(client).get(key, 0)
    settings = signatures.SignatureSettings.from_config(app.config)
    signatures.seal(db.session, world.org, blank_pdf(), settings)
    assert _samples(client)[key] == before + 1
