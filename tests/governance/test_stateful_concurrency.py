"""Counts are exact under concurrency (SPEC §5): simultaneous decides by one agent, each on
its own PostgreSQL connection, never exceed a velocity or cumulative limit."""

import threading

import pytest
from django.db import connection

from governance.models import Anomaly, AuditEvent, DecisionRequest
from tests.conftest import AgentClient

pytestmark = pytest.mark.postgres

VELOCITY = """
agent: {name}
capabilities:
  - action: crm.customer.read
    resources: ["customer:*"]
    velocity: {{max: 20, per: 10m, over: deny}}
"""

CUMULATIVE = """
agent: {name}
capabilities:
  - action: payment.send
    resources: ["vendor:*"]
    cumulative: {{param: amount, max: 1000, per: 24h, over: deny}}
"""


def fire(client: AgentClient, bodies: list[dict]) -> list[dict]:
    """Send every body at once, one thread (and one database connection) each."""
    start = threading.Barrier(len(bodies))
    results: list[dict | None] = [None] * len(bodies)

    def run(i: int) -> None:
        caller = AgentClient(client.agent, client.token)
        try:
            start.wait()
            response = caller.decide(bodies[i])
            results[i] = {"http": response.status_code, **response.json()}
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None for r in results), "a request did not finish"
    return results  # type: ignore[return-value]


def test_fifty_simultaneous_decides_get_exactly_twenty_allows(postgres, make_agent):
    crm = make_agent("crm-bot", envelope=VELOCITY.format(name="crm-bot"))
    results = fire(crm, [{"action": "crm.customer.read", "resource": f"customer:{i}"} for i in range(50)])
    assert {r["http"] for r in results} == {200}
    decisions = [r["decision"] for r in results]
    assert decisions.count("allow") == 20
    assert decisions.count("deny") == 30
    assert {r["reasons"][0]["code"] for r in results if r["decision"] == "deny"} == {"velocity_exceeded"}
    assert DecisionRequest.objects.filter(agent=crm.agent, status="allowed").count() == 20
    assert AuditEvent.objects.filter(agent=crm.agent, kind="decision.allow").count() == 20
    assert AuditEvent.objects.filter(agent=crm.agent, kind="decision.deny").count() == 30
    # Every over-limit read is a captured violation.
    assert Anomaly.objects.filter(agent=crm.agent, code="velocity_exceeded").count() == 30


def test_fifty_simultaneous_payments_never_exceed_the_cumulative_limit(postgres, make_agent):
    payer = make_agent("payer-bot", envelope=CUMULATIVE.format(name="payer-bot"))
    results = fire(payer, [{"action": "payment.send", "resource": "vendor:acme", "params": {"amount": 100}} for _ in range(50)])
    assert [r["decision"] for r in results].count("allow") == 10
    assert sum(row.params["amount"] for row in DecisionRequest.objects.filter(agent=payer.agent, status="allowed")) == 1000
    assert AuditEvent.objects.filter(agent=payer.agent, kind="decision.allow").count() == 10


BREAKER = """
agent: {name}
breaker: {{violations: 3, window: 10m}}
capabilities:
  - action: service.restart
    resources: ["service:*"]
"""


def test_simultaneous_violations_trip_the_breaker_exactly_once(postgres, make_agent):
    ops = make_agent("ops-bot", envelope=BREAKER.format(name="ops-bot"))
    results = fire(ops, [{"action": "db.drop", "resource": f"db:{i}"} for i in range(12)])
    assert {r["decision"] for r in results} == {"deny"}
    assert AuditEvent.objects.filter(agent=ops.agent, kind="breaker.tripped").count() == 1
    assert Anomaly.objects.filter(agent=ops.agent).count() == 12
    # Exactly the violations that followed the trip ran supervised.
    supervised = DecisionRequest.objects.filter(agent=ops.agent, agent_mode="supervised").count()
    assert supervised == 12 - 3
