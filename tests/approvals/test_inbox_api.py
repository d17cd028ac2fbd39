"""Issue 12's approver API: approve with edits, extend, batch, and the envelope's approver
rules (comment_required_at_risk, web_only_at_risk) on every channel."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.models import Vote
from approvals.services import approval_decide
from approvals.tokens import personal_token_create
from governance.errors import AirlockError
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.conftest import envelope_with

pytestmark = pytest.mark.django_db


def as_person(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_token_create(user=user)}")
    return client


def rules_envelope(name: str = "procurement-bot", **rules) -> str:
    """The demo envelope with approver rules added at the top level."""
    extra = "".join(f"{key}: {value}\n" for key, value in rules.items())
    return envelope_with(agent=name).replace("capabilities:\n", extra + "capabilities:\n", 1)


def kinds(rid) -> list[str]:
    return list(AuditEvent.objects.filter(request_id=rid).order_by("id").values_list("kind", flat=True))


# Approve with edits ---------------------------------------------------------------------------

def test_approve_with_edits_records_the_params_and_verify_follows_them(escalate, procurement, alice):
    rid = escalate()
    edited = {"amount": 30000, "currency": "USD"}
    response = as_person(alice).post(f"/api/v1/escalations/{rid}/approve",
                                     {"comment": "trimmed to budget", "params": edited}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["approved_params"] == edited
    assert procurement.get(f"/api/v1/requests/{rid}").json()["approved_params"] == edited
    row = DecisionRequest.objects.get(pk=rid)
    assert row.params == {"amount": 47000, "currency": "USD"} and row.approved_digest
    approved = AuditEvent.objects.get(request_id=rid, kind="escalation.approved").payload
    assert approved["approved_params"] == edited and approved["approved_digest"] == row.approved_digest
    assert AuditEvent.objects.get(request_id=rid, kind="escalation.vote").payload["params"] == edited
    original = {"id": rid, "action": "purchase_order.create", "resource": "vendor:acme-furniture",
                "params": {"amount": 47000, "currency": "USD"}}
    assert procurement.post("/api/v1/verify", original).json()["valid"] is False
    assert procurement.post("/api/v1/verify", {**original, "params": edited}).json()["valid"] is True


def test_a_plain_approval_reports_no_approved_params(escalate, procurement, alice):
    rid = escalate()
    assert as_person(alice).post(f"/api/v1/escalations/{rid}/approve", {}, format="json").json()["approved_params"] is None
    assert procurement.get(f"/api/v1/requests/{rid}").json()["approved_params"] is None


@pytest.mark.parametrize("params", [
    {"amount": 250000, "currency": "USD"},   # deny_when: over the hard limit
    {"amount": -5, "currency": "USD"},        # params_schema: minimum 0
    {"amount": 100, "currency": "JPY"},       # params_schema: currency enum
])
def test_edits_the_envelope_would_refuse_are_400_edit_denied_and_nothing_is_recorded(escalate, alice, params):
    rid = escalate()
    response = as_person(alice).post(f"/api/v1/escalations/{rid}/approve", {"params": params}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "edit_denied"
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    assert not Vote.objects.filter(escalation_id=rid).exists()
    assert kinds(rid) == ["decision.escalate", "escalation.opened"]


def test_a_deny_cannot_carry_params(escalate, alice):
    rid = escalate()
    response = as_person(alice).post(f"/api/v1/escalations/{rid}/deny", {"params": {"amount": 1}}, format="json")
    assert response.status_code == 400 and DecisionRequest.objects.get(pk=rid).status == "pending"


def test_with_a_quorum_every_approval_approves_the_same_params(make_agent, escalate, alice, bob):
    rid = escalate(make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2)))
    edited = {"amount": 20000, "currency": "USD"}
    assert as_person(alice).post(f"/api/v1/escalations/{rid}/approve", {"params": edited}, format="json").status_code == 200
    plain = as_person(bob).post(f"/api/v1/escalations/{rid}/approve", {}, format="json")
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "edit_conflict"
    same = as_person(bob).post(f"/api/v1/escalations/{rid}/approve", {"params": edited}, format="json")
    assert same.status_code == 200 and same.json()["status"] == "approved"
    assert same.json()["approved_params"] == edited


# Extend ---------------------------------------------------------------------------------------

def test_extend_pushes_the_deadline_out_and_is_audited(escalate, procurement, alice):
    rid = escalate()
    before = DecisionRequest.objects.get(pk=rid).expires_at
    response = as_person(alice).post(f"/api/v1/escalations/{rid}/extend",
                                     {"by": "10m", "comment": "asking the vendor"}, format="json")
    assert response.status_code == 200, response.json()
    after = DecisionRequest.objects.get(pk=rid).expires_at
    assert after - before == timedelta(minutes=10)
    assert response.json()["expires_at"] == after.isoformat().replace("+00:00", "Z")
    assert procurement.get(f"/api/v1/requests/{rid}").json()["expires_at"] == response.json()["expires_at"]
    event = AuditEvent.objects.get(request_id=rid, kind="escalation.extended")
    assert event.actor == "user:alice" and event.payload["by_seconds"] == 600
    assert event.payload["comment"] == "asking the vendor"


def test_extend_beyond_max_extension_is_400_and_changes_nothing(escalate, alice):
    rid = escalate()  # escalation_ttl 15m, no max_extension: at most 15m in total
    client = as_person(alice)
    assert client.post(f"/api/v1/escalations/{rid}/extend", {"by": "10m"}, format="json").status_code == 200
    before = DecisionRequest.objects.get(pk=rid).expires_at
    response = client.post(f"/api/v1/escalations/{rid}/extend", {"by": "6m"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "extension_too_long"
    assert DecisionRequest.objects.get(pk=rid).expires_at == before
    assert client.post(f"/api/v1/escalations/{rid}/extend", {"by": "5m"}, format="json").status_code == 200


def test_extend_honours_the_envelopes_max_extension(make_agent, escalate, alice):
    rid = escalate(make_agent("slow-bot", rules_envelope("slow-bot", max_extension="1h")))
    assert as_person(alice).post(f"/api/v1/escalations/{rid}/extend", {"by": "45m"}, format="json").status_code == 200
    assert as_person(alice).post(f"/api/v1/escalations/{rid}/extend", {"by": "16m"}, format="json").status_code == 400


@pytest.mark.parametrize("by", ["soon", 0, -60, True, None, "10x"])
def test_extend_refuses_bad_durations(escalate, alice, by):
    rid = escalate()
    response = as_person(alice).post(f"/api/v1/escalations/{rid}/extend", {"by": by}, format="json")
    assert response.status_code == 400 and "error" in response.json()
    assert kinds(rid) == ["decision.escalate", "escalation.opened"]


def test_extend_is_409_once_decided_and_403_for_others(escalate, alice, charlie, procurement):
    rid = escalate()
    assert as_person(charlie).post(f"/api/v1/escalations/{rid}/extend", {"by": "5m"}, format="json").status_code == 403
    as_person(alice).post(f"/api/v1/escalations/{rid}/deny", {"comment": "no"}, format="json")
    assert as_person(alice).post(f"/api/v1/escalations/{rid}/extend", {"by": "5m"}, format="json").status_code == 409
    assert procurement.post(f"/api/v1/escalations/{rid}/extend", {"by": "5m"}).status_code == 403


# Batch ----------------------------------------------------------------------------------------

def test_batch_votes_each_and_one_failure_blocks_nothing(escalate, alice, charlie):
    first, decided, third = escalate(), escalate(), escalate()
    as_person(alice).post(f"/api/v1/escalations/{decided}/deny", {"comment": "no"}, format="json")
    missing = "00000000-0000-4000-8000-000000000000"
    response = as_person(alice).post("/api/v1/escalations/batch",
                                     {"ids": [first, decided, missing, third], "choice": "approve", "comment": "ok"},
                                     format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [first, decided, missing, third]
    assert results[0] == {"id": first, "ok": True, "status": "approved"}
    assert results[1]["ok"] is False and results[1]["error"]["code"] == "already_decided"
    assert results[2]["ok"] is False and results[2]["error"]["code"] == "not_found"
    assert results[3] == {"id": third, "ok": True, "status": "approved"}
    assert AuditEvent.objects.get(request_id=third, kind="escalation.vote").payload["comment"] == "ok"
    refused = as_person(charlie).post("/api/v1/escalations/batch", {"ids": [escalate()], "choice": "deny"}, format="json")
    assert refused.json()["results"][0]["error"]["code"] == "not_eligible"


@pytest.mark.parametrize("body", [{"ids": [], "choice": "approve"}, {"ids": ["x"], "choice": "approve"},
                                  {"ids": ["00000000-0000-4000-8000-000000000000"], "choice": "maybe"}, {"choice": "deny"}])
def test_batch_refuses_malformed_bodies(alice, body):
    response = as_person(alice).post("/api/v1/escalations/batch", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


# The envelope's approver rules ----------------------------------------------------------------

def test_comment_required_at_risk_applies_to_every_channel(make_agent, escalate, alice, bob):
    rid = escalate(make_agent("careful-bot", rules_envelope("careful-bot", comment_required_at_risk=0.0)))
    response = as_person(alice).post(f"/api/v1/escalations/{rid}/approve", {}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "comment_required"
    for via in ("web", "slack", "email"):
        with pytest.raises(AirlockError) as refused:
            approval_decide(request_id=rid, user=bob, choice="deny", comment="  ", via=via)
        assert refused.value.code == "comment_required"
    assert not Vote.objects.filter(escalation_id=rid).exists()
    assert as_person(alice).post(f"/api/v1/escalations/{rid}/approve", {"comment": "checked"},
                                 format="json").status_code == 200


def test_web_only_at_risk_refuses_channels_with_the_page_link(make_agent, escalate, alice, settings):
    settings.AIRLOCK_BASE_URL = "https://airlock.example.com"
    rid = escalate(make_agent("wire-bot", rules_envelope("wire-bot", web_only_at_risk=0.0)))
    for via in ("slack", "email"):
        with pytest.raises(AirlockError) as refused:
            approval_decide(request_id=rid, user=alice, choice="approve", comment="fine", via=via)
        assert refused.value.code == "web_only" and refused.value.status == 403
        assert f"https://airlock.example.com/escalations/{rid}/" in refused.value.message
    assert not Vote.objects.filter(escalation_id=rid).exists()
    assert approval_decide(request_id=rid, user=alice, choice="approve", via="web").status == "approved"


def test_rules_below_the_threshold_change_nothing(make_agent, escalate, alice):
    rid = escalate(make_agent("calm-bot", rules_envelope("calm-bot", comment_required_at_risk=1.0, web_only_at_risk=1.0)))
    assert DecisionRequest.objects.get(pk=rid).risk["score"] < 1.0
    assert approval_decide(request_id=rid, user=alice, choice="approve", via="slack").status == "approved"


def test_a_capability_overrides_the_envelopes_rule(make_agent, escalate, alice):
    source = rules_envelope("strict-bot", comment_required_at_risk=1.0).replace(
        "    escalate_on_novel: [resource]\n", "    escalate_on_novel: [resource]\n    comment_required_at_risk: 0\n", 1)
    rid = escalate(make_agent("strict-bot", source))
    with pytest.raises(AirlockError) as refused:
        approval_decide(request_id=rid, user=alice, choice="approve", via="web")
    assert refused.value.code == "comment_required"


def test_the_rules_are_validated_when_the_envelope_is_applied(make_agent):
    from governance.policy import EnvelopeError, compile_envelope

    for bad in ({"comment_required_at_risk": 1.5}, {"web_only_at_risk": "high"}, {"max_extension": "forever"},
                {"max_extension": "30d"}):
        with pytest.raises(EnvelopeError):
            compile_envelope({"agent": "x", "capabilities": [{"action": "a"}], **bad})


def test_a_vote_past_an_extended_deadline_still_counts_until_the_new_one(escalate, alice):
    rid = escalate()
    as_person(alice).post(f"/api/v1/escalations/{rid}/extend", {"by": "10m"}, format="json")
    later = timezone.now() + timedelta(minutes=20)
    assert approval_decide(request_id=rid, user=alice, choice="approve", now=later).status == "approved"
