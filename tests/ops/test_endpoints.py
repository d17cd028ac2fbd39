"""/healthz, /readyz, /metrics: the contract (issue 18), black-box through the test client."""

import time

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db

REQUIRED = [
    "airlock_decisions_total", "airlock_decide_seconds", "airlock_escalations_pending",
    "airlock_approval_wait_seconds", "airlock_expiry_lag_seconds", "airlock_breaker_trips_total",
    "airlock_notifications_failed_total",
]


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_healthz_is_ok_json():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


def test_readyz_is_ready_when_database_redis_and_migrations_are(redis_url):
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "ok"}}


def test_readyz_names_an_unreachable_redis_and_answers_fast(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    started = time.monotonic()
    response = Client().get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failed"] == ["redis"]
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"].startswith("error:")
    assert body["error"]["code"] == "not_ready" and "redis" in body["error"]["message"]
    assert elapsed < 10  # bounded (READY_TIMEOUT per check), not the client's own timeout


@pytest.mark.django_db(transaction=True)
def test_readyz_names_unapplied_migrations(redis_url, monkeypatch):
    from ops import views

    monkeypatch.setattr(views, "_migrated", False)
    recorder = MigrationRecorder.Migration.objects
    last = recorder.filter(app="governance").order_by("-id").first()
    last.delete()
    try:
        response = Client().get("/readyz")
    finally:
        recorder.create(app=last.app, name=last.name, applied=last.applied)
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["migrations"] and body["checks"]["migrations"] == "1 unapplied"
    assert Client().get("/readyz").status_code == 200


def test_metrics_lists_every_required_family(procurement):
    procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5}})
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    for name in REQUIRED:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    found = families(text)
    assert found["airlock_decide_seconds"].type == "histogram"
    assert found["airlock_approval_wait_seconds"].type == "histogram"


def test_metrics_count_decisions_by_decision_and_agent(procurement):
    def count(decision):
        return REGISTRY.get_sample_value("airlock_decisions_total", {"decision": decision, "agent": "procurement-bot"}) or 0

    def observations():
        return REGISTRY.get_sample_value("airlock_decide_seconds_count") or 0

    before = {d: count(d) for d in ("allow", "deny", "escalate")}
    seen = observations()
    for amount in (5, 6):
        assert procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": amount}}).json()["decision"] == "allow"
    procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 20000}})
    procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 500000}})
    unknown = Client().post("/api/v1/decide", {"action": "purchase_order.create"}, content_type="application/json",
                            HTTP_AUTHORIZATION="Bearer nope")
    assert unknown.status_code == 401  # not counted: no agent
    assert {d: count(d) - before[d] for d in before} == {"allow": 2, "deny": 1, "escalate": 1}
    assert observations() - seen == 5  # every decide request is timed, the refused one too


def test_pending_and_expiry_lag_come_from_the_database(procurement):
    from datetime import timedelta

    from django.utils import timezone

    from governance.models import DecisionRequest

    def gauges():
        found = families(Client().get("/metrics").content.decode())
        return (found["airlock_escalations_pending"].samples[0].value,
                found["airlock_expiry_lag_seconds"].samples[0].value)

    assert gauges() == (0, 0)
    rid = procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 20000}}).json()["id"]
    assert gauges() == (1, 0)
    DecisionRequest.objects.filter(pk=rid).update(expires_at=timezone.now() - timedelta(seconds=120))
    pending, lag = gauges()
    assert pending == 1 and 120 <= lag < 180  # overdue and not yet expired by the worker


def test_metrics_token_guards_metrics(settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    client = Client()
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": "Basic s3cret-metrics-token"}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert b"airlock_" not in response.content
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert ok.status_code == 200 and b"airlock_decide_seconds" in ok.content


def test_probes_are_get_only():
    assert Client().post("/healthz").status_code == 405
