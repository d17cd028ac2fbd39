"""Anomalies (SPEC §5): every violation captured with full context and tagged; reviewers
re-tag and resolve (audited); exported as JSON Lines; listed in Django admin."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from governance.anomalies import anomaly_resolve, anomaly_retag
from governance.errors import Conflict, InvalidInput, NotEligible
from governance.models import Anomaly, AuditEvent, Envelope
from governance.services import envelope_apply

pytestmark = pytest.mark.django_db

HUGE = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 200000}}


def violation(client, **context):
    body = client.decide({**HUGE, "context": context}).json()
    assert body["decision"] == "deny"
    return Anomaly.objects.get(request_id=body["id"])


def test_a_violation_is_captured_with_its_full_context(procurement):
    anomaly = violation(procurement, reasoning="the CFO asked in chat", input_source="model", confidence=0.9, session="s-1")
    assert anomaly.code == "amount_over_hard_limit"
    assert anomaly.state == "open"
    d = anomaly.details
    assert d["action"] == "purchase_order.create" and d["resource"] == "vendor:staples"
    assert d["params"] == {"amount": 200000}
    assert d["reasoning"] == "the CFO asked in chat"
    assert d["input_source"] == "model" and d["confidence"] == 0.9 and d["session"] == "s-1"
    assert d["envelope_version"] == 1 and d["agent_mode"] == "enforce"
    assert d["reasons"][0]["code"] == "amount_over_hard_limit"
    event = AuditEvent.objects.get(kind="anomaly.recorded", request_id=anomaly.request_id)
    assert event.payload["tag"] == anomaly.tag


def test_user_input_is_tagged_security(procurement):
    anomaly = violation(procurement, input_source="user")
    assert anomaly.tag == "security"
    assert "user" in anomaly.tag_reason


def test_no_signal_is_unclassified(procurement):
    anomaly = violation(procurement, input_source="model")
    assert anomaly.tag == "unclassified"


def test_a_recent_envelope_change_is_tagged_reliability(procurement, settings):
    source = Envelope.objects.get(agent=procurement.agent).source
    envelope_apply(source=source, comment="tweak")
    anomaly = violation(procurement, input_source="model")
    assert anomaly.tag == "reliability"
    assert "envelope v2" in anomaly.tag_reason

    # The same change long ago says nothing about today's violation.
    Envelope.objects.filter(agent=procurement.agent, version=2).update(created_at=timezone.now() - timedelta(hours=2))
    settings.AIRLOCK_ANOMALY_ENVELOPE_WINDOW = 3600
    assert violation(procurement, input_source="model").tag == "unclassified"


def test_a_new_model_version_is_tagged_reliability(procurement):
    small = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5}}
    # An agent's very first request tells nothing about a change of model.
    assert violation(procurement, model_version="m-1").tag == "unclassified"
    procurement.decide({**small, "context": {"model_version": "m-1"}})
    assert violation(procurement, model_version="m-1").tag == "unclassified"
    anomaly = violation(procurement, model_version="m-2")
    assert anomaly.tag == "reliability"
    assert "m-2" in anomaly.tag_reason


def test_user_input_outranks_reliability_but_both_are_noted(procurement):
    procurement.decide({"action": "catalogue.read", "context": {"model_version": "m-1"}})
    anomaly = violation(procurement, input_source="user", model_version="m-2")
    assert anomaly.tag == "security"
    assert "also: first request by this agent with model_version 'm-2'" in anomaly.tag_reason


def test_reviewers_retag_and_resolve_with_audit(procurement, admin_user):
    anomaly = violation(procurement, input_source="model")
    anomaly_retag(anomaly=anomaly, tag="security", by=admin_user, reason="prompt injection in the ticket")
    anomaly.refresh_from_db()
    assert (anomaly.tag, anomaly.tag_reason) == ("security", "prompt injection in the ticket")
    event = AuditEvent.objects.get(kind="anomaly.retagged")
    assert (event.actor, event.payload["from"], event.payload["to"]) == ("user:admin", "unclassified", "security")

    anomaly_resolve(anomaly=anomaly, note="vendor contract fixed", by=admin_user)
    anomaly.refresh_from_db()
    assert (anomaly.state, anomaly.note, anomaly.resolved_by) == ("resolved", "vendor contract fixed", admin_user)
    assert AuditEvent.objects.get(kind="anomaly.resolved").payload["note"] == "vendor contract fixed"
    with pytest.raises(Conflict):
        anomaly_resolve(anomaly=anomaly, note="again", by=admin_user)
    assert AuditEvent.objects.filter(kind="anomaly.resolved").count() == 1


def test_retag_refuses_unknown_tags_and_non_admins(procurement, admin_user, alice):
    anomaly = violation(procurement)
    with pytest.raises(InvalidInput):
        anomaly_retag(anomaly=anomaly, tag="scary", by=admin_user)
    with pytest.raises(NotEligible):
        anomaly_retag(anomaly=anomaly, tag="security", by=alice)
    with pytest.raises(NotEligible):
        anomaly_resolve(anomaly=anomaly, note="x", by=alice)
    assert not AuditEvent.objects.filter(kind__in=["anomaly.retagged", "anomaly.resolved"]).exists()


def test_anomalies_export_writes_json_lines(procurement):
    first = violation(procurement, input_source="user")
    Anomaly.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=3))
    second = violation(procurement, input_source="model")
    out = io.StringIO()
    call_command("anomalies_export", stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in rows] == [first.pk, second.pk]
    assert rows[0]["tag"] == "security" and rows[0]["agent"] == "procurement-bot"
    assert rows[0]["details"]["params"] == {"amount": 200000}

    out = io.StringIO()
    call_command("anomalies_export", "--since", (timezone.now() - timedelta(days=1)).date().isoformat(), stdout=out)
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [second.pk]
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("anomalies_export", "--since", "last tuesday", stdout=io.StringIO())


def test_django_admin_lists_anomalies_and_resolves_through_the_service(procurement, admin_user):
    anomaly = violation(procurement)
    web = Client()
    web.force_login(admin_user)
    page = web.get("/django-admin/governance/anomaly/")
    assert page.status_code == 200
    assert b"amount_over_hard_limit" in page.content
    for model in ("agent", "envelope", "decisionrequest", "auditevent"):
        assert web.get(f"/django-admin/governance/{model}/").status_code == 200
        assert web.get(f"/django-admin/governance/{model}/add/").status_code == 403
    web.post("/django-admin/governance/anomaly/", {"action": "resolve", "_selected_action": [anomaly.pk]})
    anomaly.refresh_from_db()
    assert anomaly.state == "resolved"
    assert AuditEvent.objects.get(kind="anomaly.resolved").actor == "user:admin"
