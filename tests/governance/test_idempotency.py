"""An idempotency key is bound to the action it was first used for (issue 9, point 3).

Before: the same key with another action, resource or params returned the stored answer
(an allow laundered onto a different action), with no new row and no audit event.
After: 409 idempotency_conflict, audited, nothing allowed, no request row.
"""

import pytest

from governance.models import Anomaly, AuditEvent, DecisionRequest

pytestmark = pytest.mark.django_db

SMALL = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 500},
         "idempotency_key": "po-1"}


def counts():
    return DecisionRequest.objects.count(), Anomaly.objects.count()


@pytest.mark.parametrize("change", [
    {"action": "payroll.run"},
    {"resource": "vendor:acme-furniture"},
    {"params": {"amount": 200000}},
    {"params": {"amount": 500, "currency": "USD"}},
])
def test_same_key_for_another_action_is_a_409_conflict(procurement, change):
    first = procurement.decide(SMALL)
    assert first.json()["decision"] == "allow"
    before = counts()
    events = AuditEvent.objects.count()

    response = procurement.decide({**SMALL, **change})

    assert response.status_code == 409, response.content
    body = response.json()
    assert body["error"]["code"] == "idempotency_conflict"
    assert body["error"]["message"]
    assert "decision" not in body or body["decision"] == "deny"
    assert counts() == before
    # Audited on its own: the decision's transaction rolled back.
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.get(kind="decision.idempotency_conflict")
    assert event.actor == "agent:procurement-bot"
    assert event.payload["idempotency_key"] == "po-1"
    assert event.payload["stored_request"] == first.json()["id"]
    assert event.payload["digest"] != first.json()["digest"]


def test_same_key_and_same_action_returns_the_stored_answer(procurement):
    first = procurement.decide(SMALL).json()
    before, events = counts(), AuditEvent.objects.count()
    # Context is not part of what was decided: a retry may carry another trace id.
    again = procurement.decide({**SMALL, "context": {"session": "retry-2"}})
    assert again.status_code == 200
    assert again.json() == first
    assert counts() == before
    assert AuditEvent.objects.count() == events


def test_conflict_on_a_pending_escalation_opens_nothing(procurement):
    first = procurement.decide({**SMALL, "resource": "vendor:acme-furniture", "params": {"amount": 47000}}).json()
    assert first["decision"] == "escalate"
    response = procurement.decide({**SMALL, "resource": "vendor:acme-furniture", "params": {"amount": 47001}})
    assert response.status_code == 409
    assert DecisionRequest.objects.filter(escalation__isnull=False).count() == 1
