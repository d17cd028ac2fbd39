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


# --- allows do not outlive suspension or a breaker trip (issue 9, point 4) --------------------

LARGE = {**ORDER, "resource": "vendor:acme-furniture", "params": {"amount": 47000}}


def approved(procurement) -> str:
    """A request a person approved (through the service, as the queue page does)."""
    from approvals.services import approval_decide
    from tests.approvals.conftest import person

    request_id = procurement.decide(LARGE).json()["id"]
    outcome = approval_decide(request_id=request_id, user=person("alice", "finance"), choice="approve")
    assert outcome.status == "approved"
    return request_id


def test_an_allow_is_invalid_once_the_agent_is_suspended(procurement):
    from governance.agents import agent_resume, agent_suspend

    request_id = procurement.decide(ORDER).json()["id"]
    agent_suspend(agent=procurement.agent, reason="investigating")
    answer = verify(procurement, request_id)
    assert answer == {"valid": False, "status": "allowed", "reason": f"agent_suspended: agent {procurement.agent.name} is suspended"}
    assert AuditEvent.objects.get(kind="request.verified", request_id=request_id).payload["valid"] is False
    # Not consumed: resuming the agent makes it usable again, once.
    agent_resume(agent=procurement.agent)
    assert verify(procurement, request_id)["valid"] is True


def test_an_approval_is_invalid_while_the_agent_is_suspended(procurement):
    from governance.agents import agent_suspend

    request_id = approved(procurement)
    agent_suspend(agent=procurement.agent)
    answer = procurement.post("/api/v1/verify", {"id": request_id, **LARGE}).json()
    assert answer["valid"] is False and answer["reason"].startswith("agent_suspended")


def test_an_automatic_allow_made_before_the_breaker_tripped_is_invalid(procurement):
    from governance.breaker import breaker_reset, breaker_trip

    request_id = procurement.decide(ORDER).json()["id"]
    assert breaker_trip(agent=procurement.agent, reason="5 violations within 10m (threshold 5)")
    answer = verify(procurement, request_id)
    assert answer["valid"] is False
    assert answer["reason"].startswith("breaker_tripped")
    # A reset does not revive it: the allow was made before the trip.
    breaker_reset(agent=procurement.agent)
    assert verify(procurement, request_id)["reason"].startswith("breaker_tripped")
    # Allows made after the reset are valid.
    later = procurement.decide({**ORDER, "params": {"amount": 501, "currency": "USD"}}).json()
    assert later["decision"] == "allow"
    assert verify(procurement, later["id"], params={"amount": 501, "currency": "USD"})["valid"] is True


def test_a_human_approval_stays_valid_after_the_breaker_tripped(procurement):
    from governance.breaker import breaker_trip

    request_id = approved(procurement)
    assert breaker_trip(agent=procurement.agent, reason="5 violations within 10m (threshold 5)")
    answer = procurement.post("/api/v1/verify", {"id": request_id, **LARGE}).json()
    assert answer == {"valid": True, "status": "approved", "reason": "ok"}
