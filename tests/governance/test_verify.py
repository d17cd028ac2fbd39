"""POST /api/v1/verify: exactly that action, once."""

import pytest

from governance.models import AuditEvent, DecisionRequest

pytestmark = pytest.mark.django_db

ORDER = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 500, "currency": "USD"}}


def verify(client, request_id, **changes):
    return client.post("/api/v1/verify", {"id": request_id, **ORDER, **changes}).json()


def test_allowed_action_verifies_once(procurement):
    request_id = procurement.decide(ORDER).json()["id"]
    assert verify(procurement, request_id) == {"valid": True, "status": "allowed", "reason": "ok"}
    again = verify(procurement, request_id)
    assert again["valid"] is False and again["reason"].startswith("already_used")
    assert AuditEvent.objects.filter(kind="request.verified", request_id=request_id).count() == 2


def test_a_different_amount_is_not_what_was_decided(procurement):
    request_id = procurement.decide(ORDER).json()["id"]
    answer = verify(procurement, request_id, params={"amount": 47000, "currency": "USD"})
    assert answer["valid"] is False and answer["reason"].startswith("digest_mismatch")
    # The mismatch did not consume the approval.
    assert verify(procurement, request_id)["valid"] is True


def test_key_order_does_not_change_the_digest(procurement):
    request_id = procurement.decide(ORDER).json()["id"]
    assert verify(procurement, request_id, params={"currency": "USD", "amount": 500})["valid"] is True


def test_approved_request_verifies_but_pending_does_not(procurement):
    body = {**ORDER, "resource": "vendor:acme-furniture", "params": {"amount": 47000}}
    request_id = procurement.decide(body).json()["id"]
    pending = procurement.post("/api/v1/verify", {"id": request_id, **body}).json()
    assert pending == {"valid": False, "status": "pending", "reason": "not allowed: request is pending"}
    DecisionRequest.objects.filter(pk=request_id).update(status="approved")
    assert procurement.post("/api/v1/verify", {"id": request_id, **body}).json()["valid"] is True


def test_denied_request_never_verifies(procurement):
    body = {**ORDER, "params": {"amount": 200000}}
    request_id = procurement.decide(body).json()["id"]
    assert procurement.post("/api/v1/verify", {"id": request_id, **body}).json()["valid"] is False


def test_another_agents_request_does_not_verify(make_agent):
    alice_bot, mallory_bot = make_agent("alice-bot"), make_agent("mallory-bot")
    request_id = alice_bot.decide(ORDER).json()["id"]
    assert verify(mallory_bot, request_id)["valid"] is False
    assert verify(alice_bot, request_id)["valid"] is True


def test_malformed_verify_is_400(procurement):
    response = procurement.post("/api/v1/verify", {"id": "not-a-uuid", "action": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
