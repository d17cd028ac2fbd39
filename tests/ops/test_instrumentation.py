"""Metrics and spans from domain events; request ids in headers, audit events and JSON logs."""

import io
import json
import logging
import logging.config
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.utils import timezone
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from approvals.deliveries import notification_failed
from approvals.services import approval_decide, escalation_expire
from governance.breaker import breaker_trip
from governance.models import AuditEvent, DecisionRequest
from ops import tracing

pytestmark = pytest.mark.django_db

ESCALATE = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 20000}}
ALLOW = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5}}


def sample(name, labels=None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture
def approver(db) -> User:
    user = User.objects.create_user("fiona", password="pw-fiona-1")
    user.groups.add(Group.objects.get_or_create(name="finance")[0])
    return user


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.tracing_enable(tracing.tracing_provider(SimpleSpanProcessor(exporter)))
    yield exporter
    tracing.tracing_disable()


def test_approval_wait_is_observed_per_outcome(procurement, approver, django_capture_on_commit_callbacks):
    rid = procurement.decide(ESCALATE).json()["id"]
    created = DecisionRequest.objects.get(pk=rid).created_at
    before = sample("airlock_approval_wait_seconds_count", {"outcome": "approved"})
    before_sum = sample("airlock_approval_wait_seconds_sum", {"outcome": "approved"})
    with django_capture_on_commit_callbacks(execute=True):
        approval_decide(request_id=rid, user=approver, choice="approve", now=created + timedelta(seconds=42))
    assert sample("airlock_approval_wait_seconds_count", {"outcome": "approved"}) - before == 1
    assert sample("airlock_approval_wait_seconds_sum", {"outcome": "approved"}) - before_sum == pytest.approx(42)


def test_expiry_is_observed_as_the_full_ttl(procurement, django_capture_on_commit_callbacks):
    rid = procurement.decide(ESCALATE).json()["id"]
    row = DecisionRequest.objects.get(pk=rid)
    before = sample("airlock_approval_wait_seconds_sum", {"outcome": "expired"})
    with django_capture_on_commit_callbacks(execute=True):
        assert escalation_expire(request_id=rid, now=row.expires_at + timedelta(seconds=3))
    # decided_at of an expiry is the deadline: the wait is the escalation's TTL (15m).
    assert sample("airlock_approval_wait_seconds_sum", {"outcome": "expired"}) - before == pytest.approx(900)


def test_breaker_trips_are_counted(procurement, django_capture_on_commit_callbacks):
    before = sample("airlock_breaker_trips_total")
    with django_capture_on_commit_callbacks(execute=True):
        assert breaker_trip(agent=procurement.agent, reason="test")
        assert not breaker_trip(agent=procurement.agent, reason="again")  # already tripped: not a trip
    assert sample("airlock_breaker_trips_total") - before == 1


def test_notification_failures_are_counted_by_channel():
    before = sample("airlock_notifications_failed_total", {"channel": "callback"})
    notification_failed.send_robust(sender=None, channel="callback", request_id=None, detail="HTTP 500")
    assert sample("airlock_notifications_failed_total", {"channel": "callback"}) - before == 1


def test_a_channel_task_that_fails_for_good_is_counted(settings):
    from integrations.slack.tasks import slack_ephemeral_post

    settings.SLACK_ENABLED = False
    from celery.signals import task_failure

    before = sample("airlock_notifications_failed_total", {"channel": "slack"})
    task_failure.send(sender=slack_ephemeral_post, task_id="t1", exception=RuntimeError("down"))
    assert sample("airlock_notifications_failed_total", {"channel": "slack"}) - before == 1


def test_a_callback_given_up_is_counted(callback_agent, approver, settings):
    """The real give-up path: the agent's endpoint answers 500, no retries left."""
    from approvals.tasks import send_callback
    from tests.approvals.callback_receiver import CallbackReceiver

    settings.AIRLOCK_CALLBACK_RETRIES = 0
    before = sample("airlock_notifications_failed_total", {"channel": "callback"})
    with CallbackReceiver(script=[500]) as receiver:
        client = callback_agent(receiver.url)
        receiver.secret = client.agent.callback_secret
        rid = client.decide(ESCALATE).json()["id"]
        approval_decide(request_id=rid, user=approver, choice="approve")
        send_callback.apply(args=[rid])
        assert len(receiver.deliveries) == 1
    assert sample("airlock_notifications_failed_total", {"channel": "callback"}) - before == 1


# --- request ids ---------------------------------------------------------------------------

def test_decide_echoes_a_sane_request_id_into_header_and_audit(procurement):
    response = procurement.decide(ALLOW, HTTP_X_REQUEST_ID="req-0123456789abcdef")
    assert response["X-Request-ID"] == "req-0123456789abcdef"
    event = AuditEvent.objects.get(request_id=response.json()["id"], kind="decision.allow")
    assert event.payload["http_request_id"] == "req-0123456789abcdef"


@pytest.mark.parametrize("bad", ["has space in it", "x" * 200, "short", 'quote"inject\\n{"level"'])
def test_an_insane_request_id_is_replaced(procurement, bad):
    response = procurement.decide(ALLOW, HTTP_X_REQUEST_ID=bad)
    rid = response["X-Request-ID"]
    assert rid != bad and len(rid) == 32
    event = AuditEvent.objects.get(request_id=response.json()["id"])
    assert event.payload["http_request_id"] == rid


def test_decisions_outside_a_request_carry_no_request_id(procurement):
    from governance.decide import DecideInput, decide

    row, _ = decide(agent=procurement.agent, data=DecideInput(action="purchase_order.create", resource="vendor:staples", params={"amount": 5}))
    assert "http_request_id" not in AuditEvent.objects.get(request_id=row.pk).payload


def test_json_logs_are_one_object_per_line_with_the_request_id(procurement, monkeypatch):
    """LOG_FORMAT=json: the settings' own logging config, rendered to a buffer."""
    import importlib

    import airlock.settings as live

    monkeypatch.setenv("LOG_FORMAT", "json")
    try:
        config = importlib.reload(live).LOGGING
    finally:
        monkeypatch.delenv("LOG_FORMAT")
        importlib.reload(live)
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    config["handlers"]["console"]["class"] = "logging.StreamHandler"
    logging.config.dictConfig(config)
    try:
        procurement.decide(ALLOW, HTTP_X_REQUEST_ID="trace-me-0001")
        procurement.client.post("/api/v1/decide", ALLOW, format="json", HTTP_AUTHORIZATION="Bearer wrong",
                                 HTTP_X_REQUEST_ID="trace-me-0002")  # 401: logged by django.request
        logging.getLogger("airlock.test").warning("outside any request")
    finally:
        logging.config.dictConfig(django_settings.LOGGING)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records and all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in records)
    assert records[-1]["request_id"] is None and records[-1]["message"] == "outside any request"
    assert any(r["request_id"] == "trace-me-0002" for r in records[:-1])


# --- tracing -------------------------------------------------------------------------------

def test_tracing_is_off_without_an_endpoint(procurement, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    tracing.tracing_configure_from_env()
    assert tracing.TRACER is None
    assert procurement.decide(ALLOW).status_code == 200


def test_decide_span_carries_agent_action_decision_and_envelope_version(procurement, spans):
    body = procurement.decide(ALLOW, HTTP_TRACEPARENT="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").json()
    (span,) = spans.get_finished_spans()
    assert span.name == "airlock.decide purchase_order.create"
    attrs = dict(span.attributes)
    assert attrs["gen_ai.agent.name"] == "procurement-bot"
    assert attrs["gen_ai.tool.name"] == attrs["airlock.action"] == "purchase_order.create"
    assert attrs["airlock.decision"] == "allow" and attrs["airlock.envelope.version"] == body["envelope_version"] == 1
    assert attrs["airlock.request.id"] == body["id"]
    # The trace id is the request's UUID; the agent's own span is linked.
    assert format(span.context.trace_id, "032x") == body["id"].replace("-", "")
    assert span.links[0].context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C


def test_escalation_wait_and_vote_spans_are_children_of_the_decide_span(
    procurement, approver, spans, django_capture_on_commit_callbacks
):
    rid = procurement.decide(ESCALATE).json()["id"]
    created = DecisionRequest.objects.get(pk=rid).created_at
    with django_capture_on_commit_callbacks(execute=True):
        approval_decide(request_id=rid, user=approver, choice="approve", via="web", now=created + timedelta(seconds=30))
    by_name = {span.name.split(" ")[0]: span for span in spans.get_finished_spans()}
    decide_span, wait, vote = by_name["airlock.decide"], by_name["airlock.escalation.wait"], by_name["airlock.escalation.vote"]
    assert decide_span.attributes["airlock.decision"] == "escalate"
    for child in (wait, vote):
        assert child.context.trace_id == decide_span.context.trace_id
        assert child.parent.span_id == decide_span.context.span_id
    assert wait.attributes["airlock.outcome"] == "approved"
    assert (wait.end_time - wait.start_time) == pytest.approx(30e9, abs=1e6)
    assert vote.attributes["airlock.vote.choice"] == "approve" and vote.attributes["airlock.vote.via"] == "web"


def test_expired_escalation_gets_a_wait_span_and_no_vote(procurement, spans, django_capture_on_commit_callbacks):
    rid = procurement.decide(ESCALATE).json()["id"]
    row = DecisionRequest.objects.get(pk=rid)
    with django_capture_on_commit_callbacks(execute=True):
        escalation_expire(request_id=rid, now=row.expires_at + timedelta(seconds=1))
    names = [span.name for span in spans.get_finished_spans()]
    assert names.count("airlock.escalation.wait") == 1 and "airlock.escalation.vote" not in names


def test_unavailable_decide_is_an_error_span_and_counted(procurement, spans, monkeypatch):
    from django.db import DatabaseError

    from governance import decide as decide_module

    def broken(*args, **kwargs):
        raise DatabaseError("server closed the connection")

    monkeypatch.setattr(decide_module, "_decide", broken)
    before = sample("airlock_decisions_total", {"decision": "unavailable", "agent": "procurement-bot"})
    response = procurement.decide(ALLOW)
    assert response.status_code == 503
    (span,) = spans.get_finished_spans()
    assert span.status.status_code.name == "ERROR" and span.attributes["airlock.decision"] == "deny"
    assert sample("airlock_decisions_total", {"decision": "unavailable", "agent": "procurement-bot"}) - before == 1
    assert timezone.now()  # (the clock is real here; no timing is asserted)
