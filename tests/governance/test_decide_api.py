"""POST /api/v1/decide and GET /api/v1/requests/{id}: the fixed contract of SPEC §4."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.models import AuditEvent, DecisionRequest
from governance.services import agent_token_revoke, agent_token_rotate

pytestmark = pytest.mark.django_db


def po(amount, vendor="vendor:staples", **extra):
    return {
        "action": "purchase_order.create",
        "resource": vendor,
        "params": {"amount": amount, "currency": "USD"},
        "context": {"reasoning": "office supplies", "confidence": 0.91, "input_source": "user"},
        **extra,
    }


def test_small_order_from_approved_vendor_is_allowed(procurement):
    response = procurement.decide(po(500))
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] == "allow"
    assert body["status"] == "allowed"
    assert body["expires_at"] is None
    assert body["envelope_version"] == 1
    assert set(body) >= {"id", "decision", "status", "reasons", "risk", "expires_at", "envelope_version"}
    assert 0 <= body["risk"]["score"] <= 1
    assert {f["name"] for f in body["risk"]["factors"]} >= {"input_source_user"}


def test_large_order_from_unknown_vendor_escalates(procurement):
    body = procurement.decide(po(47000, vendor="vendor:acme-furniture")).json()
    assert body["decision"] == "escalate"
    assert body["status"] == "pending"
    codes = {r["code"] for r in body["reasons"]}
    assert {"amount_over_limit", "novel_value"} <= codes
    assert "novel_resource" in {f["name"] for f in body["risk"]["factors"]}
    assert body["expires_at"].endswith("Z")
    row = DecisionRequest.objects.get(pk=body["id"])
    assert row.escalation.quorum == 1
    assert row.escalation.approver_groups == ["finance"]


def test_order_over_hard_limit_is_denied_as_a_violation(procurement):
    body = procurement.decide(po(200000)).json()
    assert body["decision"] == "deny"
    assert body["reasons"][0]["code"] == "amount_over_hard_limit"
    row = DecisionRequest.objects.get(pk=body["id"])
    assert row.violation is True
    assert row.anomaly.code == "amount_over_hard_limit"


def test_action_outside_envelope_is_denied(procurement):
    body = procurement.decide({"action": "payroll.run", "resource": "org:all"}).json()
    assert body["decision"] == "deny"
    assert body["reasons"][0]["code"] == "outside_envelope"


def test_agent_without_envelope_is_denied(make_agent):
    bare = make_agent("bare-bot", envelope=None)
    body = bare.decide({"action": "anything"}).json()
    assert (body["decision"], body["reasons"][0]["code"]) == ("deny", "no_envelope")


def test_suspended_agent_is_denied(procurement):
    procurement.agent.status = "suspended"
    procurement.agent.save()
    body = procurement.decide(po(5)).json()
    assert (body["decision"], body["reasons"][0]["code"]) == ("deny", "agent_suspended")


def test_every_decision_is_audited_in_its_transaction(procurement):
    body = procurement.decide(po(500)).json()
    event = AuditEvent.objects.get(request_id=body["id"], kind="decision.allow")
    assert event.actor == "agent:procurement-bot"
    assert event.payload["digest"] == DecisionRequest.objects.get(pk=body["id"]).digest


def test_idempotency_key_returns_the_stored_answer_and_creates_nothing(procurement):
    first = procurement.decide(po(500, idempotency_key="po-8812")).json()
    count = DecisionRequest.objects.count()
    events = AuditEvent.objects.count()
    again = procurement.decide(po(500, idempotency_key="po-8812")).json()
    assert again == first
    assert DecisionRequest.objects.count() == count
    assert AuditEvent.objects.count() == events


def test_idempotency_keys_are_per_agent(make_agent):
    alice_bot, bob_bot = make_agent("alice-bot"), make_agent("bob-bot")
    a = alice_bot.decide(po(500, idempotency_key="k1")).json()
    b = bob_bot.decide(po(500, idempotency_key="k1")).json()
    assert a["id"] != b["id"]


def test_request_read_returns_own_request(procurement):
    body = procurement.decide(po(47000, vendor="vendor:acme-furniture")).json()
    read = procurement.get(f"/api/v1/requests/{body['id']}")
    assert read.status_code == 200
    data = read.json()
    assert data["status"] == "pending"
    assert data["decided_by"] == [] and data["decided_at"] is None and data["comment"] == ""


def test_another_agents_request_is_not_found(make_agent):
    alice_bot, mallory_bot = make_agent("alice-bot"), make_agent("mallory-bot")
    body = alice_bot.decide(po(500)).json()
    response = mallory_bot.get(f"/api/v1/requests/{body['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_pending_request_past_deadline_reads_expired_without_a_worker(procurement):
    body = procurement.decide(po(47000, vendor="vendor:acme-furniture")).json()
    DecisionRequest.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    data = procurement.get(f"/api/v1/requests/{body['id']}").json()
    assert data["status"] == "expired"
    # Nothing was persisted: the read alone reports it.
    assert DecisionRequest.objects.get(pk=body["id"]).status == "pending"


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer nope", "Basic abc", "Bearer alk_000000000000_x"])
def test_missing_or_bad_token_is_401(procurement, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = procurement.client.post("/api/v1/decide", po(5), format="json", **extra)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert DecisionRequest.objects.count() == 0


def test_revoked_token_is_401(procurement):
    agent_token_revoke(agent=procurement.agent)
    assert procurement.decide(po(5)).status_code == 401


def test_rotated_token_replaces_the_old_one(procurement):
    new = agent_token_rotate(agent=procurement.agent)
    assert procurement.decide(po(5)).status_code == 401
    procurement.token = new
    assert procurement.decide(po(5)).status_code == 200
    assert AuditEvent.objects.filter(kind="agent.token_rotated", agent=procurement.agent).exists()
