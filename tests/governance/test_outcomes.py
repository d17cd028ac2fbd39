"""POST /api/v1/requests/{id}/outcome: once, only for allowed or approved requests, only the
agent's own; the outcome then rides on the request JSON and is audited."""

import pytest

from approvals.services import approval_decide
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db

ORDER = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 500, "currency": "USD"}}
BIG = {**ORDER, "resource": "vendor:acme-furniture", "params": {"amount": 47000}}
DONE = {"status": "succeeded", "detail": "PO 4411 created", "effects": {"po": 4411}}


def outcome_url(request_id) -> str:
    return f"/api/v1/requests/{request_id}/outcome"


def test_allowed_request_reports_once(procurement):
    request_id = procurement.decide(ORDER).json()["id"]
    assert procurement.get(f"/api/v1/requests/{request_id}").json()["outcome"] is None
    answer = procurement.post(outcome_url(request_id), DONE)
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == request_id and body["status"] == "allowed"
    outcome = body["outcome"]
    assert {k: outcome[k] for k in ("status", "detail", "effects")} == DONE
    assert outcome["reported_at"].endswith("Z")
    assert procurement.get(f"/api/v1/requests/{request_id}").json()["outcome"] == outcome
    again = procurement.post(outcome_url(request_id), {"status": "failed"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "outcome_exists"
    event = AuditEvent.objects.get(kind="outcome.succeeded", request_id=request_id)
    assert event.actor == "agent:procurement-bot" and event.payload["effects"] == {"po": 4411}
    assert AuditEvent.objects.filter(kind__startswith="outcome.").count() == 1


def test_approved_request_can_report_a_rollback(procurement, alice):
    request_id = procurement.decide(BIG).json()["id"]
    pending = procurement.post(outcome_url(request_id), DONE)
    assert pending.status_code == 409 and pending.json()["error"]["code"] == "not_executable"
    approval_decide(request_id=request_id, user=alice, choice="approve", via="api")
    answer = procurement.post(outcome_url(request_id), {"status": "rolled_back", "detail": "vendor refused"})
    assert answer.status_code == 200
    assert answer.json()["outcome"]["status"] == "rolled_back" and answer.json()["outcome"]["effects"] == {}
    assert answer.json()["decided_by"] == ["alice"]


def test_denied_request_is_not_executable(procurement):
    denied = procurement.decide({**ORDER, "action": "wire.transfer"}).json()
    assert denied["decision"] == "deny"
    answer = procurement.post(outcome_url(denied["id"]), DONE)
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "not_executable"
    assert not AuditEvent.objects.filter(kind__startswith="outcome.").exists()


def test_another_agents_request_is_not_found(procurement, make_agent):
    other = make_agent("other-bot")
    request_id = procurement.decide(ORDER).json()["id"]
    answer = other.post(outcome_url(request_id), DONE)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert procurement.get(f"/api/v1/requests/{request_id}").json()["outcome"] is None


@pytest.mark.parametrize("body", [
    {"status": "done"},
    {"detail": "no status"},
    {"status": "failed", "effects": []},
    {"status": "failed", "detail": 7},
    {"status": "failed", "extra": 1},
])
def test_bad_body_is_400_and_changes_nothing(procurement, body):
    request_id = procurement.decide(ORDER).json()["id"]
    answer = procurement.post(outcome_url(request_id), body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"
    assert procurement.get(f"/api/v1/requests/{request_id}").json()["outcome"] is None


def test_unauthenticated_is_401(client, procurement):
    request_id = procurement.decide(ORDER).json()["id"]
    answer = client.post(outcome_url(request_id), DONE, content_type="application/json")
    assert answer.status_code == 401
