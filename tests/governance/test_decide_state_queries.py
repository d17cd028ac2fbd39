"""The decide path's database work, trimmed for speed, answers exactly as before: batched
state questions equal one-by-one ones, repeats are found by the unique constraint, and
counts stay exact when decisions race."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from governance.models import Anomaly, AuditEvent, DecisionRequest
from governance.state import DatabaseState

pytestmark = pytest.mark.django_db

VELOCITY = """
agent: rush-bot
capabilities:
  - action: ticket.create
    resources: ["project:*"]
    velocity: {max: 20, per: 10m, over: deny}
"""


def row(agent, action, params, status="allowed", minutes=1, resource="vendor:staples"):
    return DecisionRequest(
        agent=agent, action=action, resource=resource, params=params, digest="x",
        decision="allow", status=status, created_at=timezone.now() - timedelta(minutes=minutes),
    )


def questions(now):
    po = "purchase_order.create"
    return [
        ("count", {"action": po, "window": 600, "now": now, "limit": None}),
        ("count", {"action": po, "window": 86400, "now": now, "limit": 5}),
        ("count", {"action": po, "window": 86400, "now": now, "limit": 0}),
        ("count", {"action": "purchase_order.*", "window": 3 * 86400, "now": now, "limit": 100}),
        ("count", {"action": "purchase_order.c?eate", "window": 600, "now": now, "limit": None}),
        ("count", {"action": "[!p]*", "window": 3 * 86400, "now": now, "limit": None}),
        ("count", {"action": "refund.issue", "window": 600, "now": now, "limit": 10}),
        ("total", {"action": po, "param": "amount", "window": 86400, "now": now}),
        ("total", {"action": "purchase_order.*", "param": "amount", "window": 3 * 86400, "now": now}),
        ("total", {"action": po, "param": "missing", "window": 86400, "now": now}),
        ("seen", {"field": "resource", "value": "vendor:globex"}),
        ("seen", {"field": "resource", "value": "vendor:initech"}),  # only pending: not seen
        ("seen", {"field": "resource", "value": "vendor:nobody"}),
        ("seen", {"field": "params.currency", "value": "USD"}),
        ("seen", {"field": "params.amount", "value": 100000}),  # bob's, not alice's
        ("seen", {"field": "params.amount", "value": 2.5}),
        ("seen", {"field": "params.flag", "value": True}),
        ("seen", {"field": "params.flag", "value": 1}),  # 1 is not true
        ("seen", {"field": "params.note", "value": None}),
        ("seen", {"field": "params.tags", "value": ["a"]}),  # a list: the ORM answers
    ]


def test_the_sql_answers_equal_the_orm_reference(make_agent, django_assert_num_queries):
    alice_bot = make_agent("alice-bot").agent
    bob_bot = make_agent("bob-bot").agent
    po = "purchase_order.create"
    DecisionRequest.objects.bulk_create([
        row(alice_bot, po, {"amount": 100, "flag": True, "note": None}),
        row(alice_bot, po, {"amount": 2.5, "tags": ["a"]}),
        row(alice_bot, po, {"amount": True}),  # a bool is not an amount
        row(alice_bot, po, {"amount": "900"}),  # nor is a string
        row(alice_bot, po, {"amount": -50}),  # negatives count as 0
        row(alice_bot, po, {"amount": 10**400}),  # clamped to 1e300
        row(alice_bot, po, {"amount": {"value": 7}}),
        row(alice_bot, po, {"currency": "USD"}),
        row(alice_bot, po, {"amount": 40}, status="pending"),
        row(alice_bot, po, {"amount": 1000}, status="denied"),
        row(alice_bot, po, {"amount": 1000}, status="expired"),
        row(alice_bot, po, {"amount": 5000}, minutes=60 * 30),
        row(alice_bot, "purchase_order.cancel", {"amount": 3}, resource="vendor:globex", minutes=60 * 48),
        row(alice_bot, po, {"amount": 8}, resource="vendor:initech", status="pending"),
        row(alice_bot, "invoice.pay", {"amount": 70}),
        row(bob_bot, po, {"amount": 100000}),
    ])
    now = timezone.now()
    asked = questions(now)
    reference = [getattr(DatabaseState(alice_bot), f"_orm_{kind}")(**kw) for kind, kw in asked]
    one_by_one = [getattr(DatabaseState(alice_bot), kind)(**kw) for kind, kw in asked]
    batched_state = DatabaseState(alice_bot)
    with django_assert_num_queries(1):
        batched_state.prefetch(asked)
    batched = [getattr(batched_state, kind)(**kw) for kind, kw in asked]
    assert one_by_one == reference
    assert batched == reference
    assert reference[:5] == [10, 5, 0, 12, 10]
    assert reference[10:] == [True, False, False, True, False, True, True, False, True, True]


def test_per_currency_totals_batched_equal_the_orm_reference(make_agent, django_assert_num_queries):
    """Budgets per currency (issue 12): the batched answers (tallies on PostgreSQL) equal the
    row-reading reference, which filters on params->>'currency'."""
    bot = make_agent("fx-bot").agent
    po = "purchase_order.create"
    DecisionRequest.objects.bulk_create([
        row(bot, po, {"amount": 100, "currency": "USD"}),
        row(bot, po, {"amount": 200, "currency": "EUR"}),
        row(bot, po, {"amount": 400}),
        row(bot, po, {"amount": 800, "currency": "usd"}),
        row(bot, po, {"amount": 1600, "currency": "USD"}, status="rejected"),
        row(bot, "purchase_order.cancel", {"amount": 3200, "currency": "USD"}, status="pending"),
    ])
    now = timezone.now()
    asked = [
        ("total", {"action": action, "param": "amount", "window": 86400, "now": now, "currencies": currencies})
        for action in (po, "purchase_order.*")
        for currencies in (("USD",), ("EUR",), ("",), ("?",), ("USD", ""), ("GBP",))
    ]
    reference = [DatabaseState(bot)._orm_total(**kw) for _, kw in asked]
    state = DatabaseState(bot)
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 0):
        state.prefetch(asked)
    assert [state.total(**kw) for _, kw in asked] == reference
    assert reference == [100, 200, 400, 800, 500, 0, 3300, 200, 400, 800, 3700, 0]


def test_repeating_a_key_leaves_no_trace(procurement):
    first = procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples",
                                "params": {"amount": 500}, "idempotency_key": "po-1"}).json()
    before = (DecisionRequest.objects.count(), AuditEvent.objects.count(), Anomaly.objects.count())
    again = procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples",
                                "params": {"amount": 500}, "idempotency_key": "po-1"})
    assert again.status_code == 200
    assert again.json() == first
    assert (DecisionRequest.objects.count(), AuditEvent.objects.count(), Anomaly.objects.count()) == before
    # Reused for another action (a violation elsewhere): refused, one audit event, nothing else.
    other = procurement.decide({"action": "purchase_order.create", "resource": "vendor:acme-furniture",
                                "params": {"amount": 200000}, "idempotency_key": "po-1"})
    assert other.status_code == 409
    assert DecisionRequest.objects.count() == before[0]
    assert Anomaly.objects.count() == before[2]
    assert AuditEvent.objects.count() == before[1] + 1
    assert not DecisionRequest.objects.filter(escalation__isnull=False).exists()


def _race(n: int, call) -> list:
    results: list = [None] * n
    barrier = threading.Barrier(n)
    # n threads at once each hold a connection while they wait for the agent's lock; the
    # server's pool is sized for its worker threads (AIRLOCK_DB_POOL_SIZE) and a wait for it is
    # capped at AIRLOCK_DB_CONNECT_TIMEOUT (then 503 deny), which a loaded 2-core machine can
    # exceed. This test is about exact counts, so every thread gets its own connection.
    pool = connection.pool if connection.vendor == "postgresql" else None
    if pool is not None:
        # Opened before the race (the pool otherwise grows a few connections at a time).
        pool.resize(min_size=n + 2, max_size=max(pool.max_size, n + 2))
        pool.wait(timeout=60)

    def run(i):
        try:
            barrier.wait()
            results[i] = call(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join(60)
    finally:
        if pool is not None:
            configured = settings.DATABASES["default"]["OPTIONS"]["pool"]
            pool.resize(min_size=configured["min_size"], max_size=configured["max_size"])
    return results


@pytest.mark.django_db(transaction=True)
def test_racing_decisions_never_exceed_the_velocity_limit(postgres, make_agent):
    bot = make_agent("rush-bot", VELOCITY)
    results = _race(50, lambda i: bot.decide({"action": "ticket.create", "resource": "project:ops"}).json()["decision"])
    assert results.count("allow") == 20
    assert results.count("deny") == 30
    assert DecisionRequest.objects.filter(status="allowed").count() == 20
    assert AuditEvent.objects.filter(kind="decision.allow").count() == 20
    assert AuditEvent.objects.filter(kind="decision.deny").count() == 30


@pytest.mark.django_db(transaction=True)
def test_racing_repeats_of_one_key_make_one_request(postgres, procurement):
    body = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5},
            "idempotency_key": "same"}
    results = _race(10, lambda i: procurement.decide(body).json()["id"])
    assert len(set(results)) == 1
    assert DecisionRequest.objects.count() == 1
    assert AuditEvent.objects.filter(kind="decision.allow").count() == 1


def test_audit_events_read_back_as_written_and_the_chain_verifies(procurement):
    from django.db.models.signals import post_save

    from governance.audit import audit_verify

    body = procurement.decide({"action": "purchase_order.create", "resource": "vendor:acme-furniture",
                               "params": {"amount": 47000, "currency": "USD"},
                               "context": {"reasoning": "chairs ✓", "confidence": 0.5}}).json()
    events = list(AuditEvent.objects.filter(request_id=body["id"]).order_by("seq"))
    assert [e.kind for e in events] == ["decision.escalate", "escalation.opened"]
    decision = events[0]
    assert decision.payload["digest"] == body["digest"]
    assert decision.payload["reasons"] == body["reasons"]
    assert str(decision.request_id) == body["id"]
    assert decision.agent == procurement.agent
    assert audit_verify() is None

    # With a save receiver connected, events go through save() and the receiver hears them.
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.kind, created))

    post_save.connect(receiver, sender=AuditEvent)
    try:
        procurement.decide({"action": "catalogue.search", "resource": "catalogue:desks"})
    finally:
        post_save.disconnect(receiver, sender=AuditEvent)
    assert heard == [("decision.allow", True)]
    assert audit_verify() is None
