"""The bounded-cost state (governance/state_tables.py) answers exactly what the request rows
say, on PostgreSQL where it is kept by a trigger: after any write, when requests leave the
counts (rejected, expired) or become familiar (approved), and under concurrent decides and
votes."""

import importlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from approvals.services import approval_decide, escalation_expire
from governance.decide import DecideInput, decide
from governance.models import AuditEvent, DecisionRequest, StateTally
from governance.state import DatabaseState
from governance.state_tables import window_edges

pytestmark = pytest.mark.postgres

PO = "purchase_order.create"

# Every request escalates, so each one is pending (live) until a person or the clock decides.
ESCALATING = """
agent: {name}
capabilities:
  - action: "purchase_order.*"
    resources: ["vendor:*"]
    velocity: {{max: 3, per: 1h, over: deny}}
    cumulative: {{param: amount, max: 1000, per: 24h, over: deny}}
    escalate_when:
      - when: "true"
        code: always
        message: "a person looks at every order"
"""


def row(agent, params, status="allowed", seconds=60.0, action=PO, resource="vendor:staples", now=None):
    return DecisionRequest(
        agent=agent, action=action, resource=resource, params=params, digest="x", decision="allow",
        status=status, created_at=(now or timezone.now()) - timedelta(seconds=seconds),
    )


def questions(now):
    return [
        ("count", {"action": PO, "window": 600, "now": now, "limit": None}),
        ("count", {"action": PO, "window": 86400, "now": now, "limit": 5}),
        ("count", {"action": "purchase_order.*", "window": 3 * 86400, "now": now, "limit": None}),
        ("count", {"action": "purchase_order.*", "window": 90, "now": now, "limit": None}),
        ("count", {"action": "purchase_order.*", "window": 61, "now": now, "limit": None}),
        ("count", {"action": "purchase_order.*", "window": 3600, "now": now, "limit": None}),
        ("total", {"action": PO, "param": "amount", "window": 86400, "now": now}),
        ("total", {"action": "purchase_order.*", "param": "amount", "window": 3 * 86400, "now": now}),
        ("total", {"action": "purchase_order.*", "param": "amount", "window": 61, "now": now}),
        ("total", {"action": PO, "param": "missing", "window": 86400, "now": now}),
        ("seen", {"field": "resource", "value": "vendor:globex"}),
        ("seen", {"field": "resource", "value": "vendor:initech"}),
        ("seen", {"field": "resource", "value": "vendor:nobody"}),
        ("seen", {"field": "params.currency", "value": "USD"}),
        ("seen", {"field": "params.amount", "value": 100}),
        ("seen", {"field": "params.amount", "value": 100.0}),  # JSON: the same number
        ("seen", {"field": "params.amount", "value": 2.5}),
        ("seen", {"field": "params.flag", "value": True}),
        ("seen", {"field": "params.flag", "value": 1}),  # 1 is not true
        ("seen", {"field": "params.note", "value": None}),
        # Per currency (issue 12): the `amount@<currency>` tallies and the edge rows by currency.
        ("total", {"action": PO, "param": "amount", "window": 86400, "now": now, "currencies": ("USD",)}),
        ("total", {"action": "purchase_order.*", "param": "amount", "window": 3 * 86400, "now": now, "currencies": ("EUR",)}),
        ("total", {"action": "purchase_order.*", "param": "amount", "window": 61, "now": now, "currencies": ("USD", "")}),
        ("total", {"action": "purchase_order.*", "param": "amount", "window": 86400, "now": now, "currencies": ("",)}),
        ("total", {"action": "purchase_order.*", "param": "amount", "window": 86400, "now": now, "currencies": ("?",)}),
    ]


def answers(agent, now, *, tallies: bool) -> list:
    state = DatabaseState(agent)
    if not tallies:
        state._tally_sql = lambda kind, kw: None  # the row-reading queries
    state.prefetch(questions(now))
    return [getattr(state, kind)(**kw) for kind, kw in questions(now)]


def assert_tallies_match_rows(agent, now):
    assert answers(agent, now, tallies=True) == answers(agent, now, tallies=False)
    # And the incrementally kept tables equal a rebuild from scratch (counts and totals, per currency too).
    fields = ("agent", "param", "level", "bucket", "action", "n", "total")
    kept = sorted(StateTally.objects.filter(Q(n__gt=0) | Q(total__gt=0)).values_list(*fields))
    rebuild = importlib.import_module("governance.migrations.0010_state_tallies_per_currency").REBUILD
    with connection.cursor() as cursor:
        cursor.execute(rebuild)
    rebuilt = sorted(StateTally.objects.filter(Q(n__gt=0) | Q(total__gt=0)).values_list(*fields))
    assert kept == rebuilt


def test_the_tallies_equal_the_rows_after_inserts_updates_and_deletes(postgres, make_agent):
    alice_bot = make_agent("alice-bot", envelope=None).agent
    bob_bot = make_agent("bob-bot", envelope=None).agent
    now = timezone.now()
    DecisionRequest.objects.bulk_create([
        row(alice_bot, {"amount": 100, "flag": True, "note": None}, now=now),
        row(alice_bot, {"amount": 2.5, "tags": ["a"]}, seconds=59.9999, now=now),
        row(alice_bot, {"amount": True}, seconds=60.5, now=now),  # a bool is not an amount
        row(alice_bot, {"amount": "900"}, seconds=61, now=now),  # nor is a string
        row(alice_bot, {"amount": -50}, seconds=60.000001, now=now),  # negatives count as 0
        row(alice_bot, {"amount": 10**400}, now=now),  # clamped to 1e300
        row(alice_bot, {"currency": "USD"}, seconds=3599.5, now=now),
        row(alice_bot, {"amount": 40}, status="pending", seconds=90, now=now),
        row(alice_bot, {"amount": 1000}, status="denied", now=now),
        row(alice_bot, {"amount": 5000}, seconds=30 * 3600, now=now),
        row(alice_bot, {"amount": 3}, action="purchase_order.cancel", resource="vendor:globex", seconds=48 * 3600, now=now),
        row(alice_bot, {"amount": 8}, resource="vendor:initech", status="pending", now=now),
        row(alice_bot, {"amount": 70}, action="invoice.pay", now=now),
        row(bob_bot, {"amount": 100000}, now=now),
        row(alice_bot, {"amount": 1}, seconds=-5, now=now),  # later than now: counted, as before
        row(alice_bot, {"amount": 11, "currency": "USD"}, now=now),
        row(alice_bot, {"amount": 13, "currency": "EUR"}, seconds=60.25, now=now),
        row(alice_bot, {"amount": 17, "currency": "EUR"}, status="pending", seconds=86399.5, now=now),
        row(alice_bot, {"amount": 19, "currency": "usd"}, now=now),
        row(alice_bot, {"amount": 23, "currency": None}, now=now),
        row(alice_bot, {"amount@USD": 29, "currency": "USD"}, now=now),  # a param an envelope cannot name
    ])
    assert_tallies_match_rows(alice_bot, now)
    keys = set(StateTally.objects.filter(agent=alice_bot).values_list("param", flat=True))
    assert {"amount@USD", "amount@EUR", "amount@", "amount@?"} <= keys and "amount@USD@USD" not in keys
    # Requests leave the counts and come back; an edit moves one across the window's edge.
    DecisionRequest.objects.filter(agent=alice_bot, status="pending", resource="vendor:initech").update(status="approved")
    DecisionRequest.objects.filter(agent=alice_bot, params__amount=40).update(status="rejected")
    DecisionRequest.objects.filter(agent=alice_bot, params__amount=100).update(status="expired")
    DecisionRequest.objects.filter(agent=alice_bot, params__amount=2.5).update(created_at=now - timedelta(hours=2))
    DecisionRequest.objects.filter(agent=alice_bot, params__amount=70).delete()
    DecisionRequest.objects.filter(agent=alice_bot, params__amount=13).update(params={"amount": 13, "currency": "USD"})
    DecisionRequest.objects.filter(agent=alice_bot, params__amount=17).update(status="expired")
    answers_now = answers(alice_bot, now, tallies=True)
    assert answers_now[10:14] == [True, True, False, True]  # approved: initech is familiar now
    assert answers_now[14] is False  # the only amount=100 request expired
    assert_tallies_match_rows(alice_bot, now)


def test_window_edges_are_the_first_whole_buckets_after_since():
    since = datetime(2026, 1, 1, 10, 59, 59, 500000, tzinfo=UTC)
    assert window_edges(since) == (since.timestamp() + 0.5, since.timestamp() + 0.5, since.timestamp() + 0.5)
    exactly = datetime(2026, 1, 1, 11, 0, 0, tzinfo=UTC)
    # created_at > since: a bucket starting exactly at since holds a row that is outside.
    assert window_edges(exactly) == (exactly.timestamp() + 1, exactly.timestamp() + 60, exactly.timestamp() + 3600)


@pytest.fixture
def approver(db):
    return get_user_model().objects.create_superuser("alice", "alice@example.com", "x")


def test_rejected_and_expired_requests_leave_the_counts(postgres, make_agent, approver):
    bot = make_agent("order-bot", envelope=ESCALATING.format(name="order-bot"))
    now = timezone.now()

    def ask(amount, at=None):
        row, _ = decide(agent=bot.agent, data=DecideInput(action=PO, resource="vendor:acme", params={"amount": amount}),
                        now=at or now)
        return row

    first, second, third = ask(100), ask(200), ask(300)
    assert [r.decision for r in (first, second, third)] == ["escalate"] * 3
    assert ask(1).reasons[0]["code"] == "velocity_exceeded"  # three pending: the limit
    approval_decide(request_id=second.id, user=approver, choice="deny", now=now)
    assert AuditEvent.objects.filter(request_id=second.id, kind="escalation.rejected").exists()
    # Approved stays counted and makes its values familiar; pending does not.
    approval_decide(request_id=first.id, user=approver, choice="approve", now=now)
    state = DatabaseState(bot.agent)
    assert state.seen(field="resource", value="vendor:acme")
    assert state.seen(field="params.amount", value=100)
    assert not state.seen(field="params.amount", value=300)
    fourth = ask(400)  # the rejected one no longer counts
    assert fourth.decision == "escalate"
    assert ask(1).reasons[0]["code"] == "velocity_exceeded"
    later = fourth.expires_at + timedelta(seconds=1)
    assert escalation_expire(request_id=third.id, now=later)
    assert escalation_expire(request_id=fourth.id, now=later)
    assert AuditEvent.objects.filter(request_id=fourth.id, kind="escalation.expired").exists()
    # The expired ones left both counts: velocity 1 of 3, amount 100 of 1000.
    fifth = ask(500, at=later)
    assert fifth.decision == "escalate", fifth.reasons
    over = ask(450, at=later)  # 100 + 500 + 450 > 1000
    assert over.reasons[0]["code"] == "cumulative_exceeded"
    state = DatabaseState(bot.agent)
    assert state.count(action="purchase_order.*", window=3600, now=later) == 2
    assert state.total(action="purchase_order.*", param="amount", window=86400, now=later) == 600.0
    assert_tallies_match_rows(bot.agent, later)


def test_concurrent_decides_and_rejections_keep_the_count_exact(postgres, make_agent, approver):
    bot = make_agent("race-bot", envelope=ESCALATING.format(name="race-bot"))
    pending = [
        decide(agent=bot.agent, data=DecideInput(action=PO, resource="vendor:acme", params={"amount": 1}))[0]
        for _ in range(3)
    ]
    assert [r.decision for r in pending] == ["escalate"] * 3
    start = threading.Barrier(14)
    errors: list[BaseException] = []

    def run(job):
        try:
            start.wait()
            job()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def reject(request_id):
        return lambda: approval_decide(request_id=request_id, user=approver, choice="deny")

    def ask():
        decide(agent=bot.agent, data=DecideInput(action=PO, resource="vendor:acme", params={"amount": 1}))

    jobs = [reject(r.id) for r in pending] + [ask] * 11
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    # Whatever the order, never more than three live at once: each decide counted the
    # rejections committed before it, and no request that left is counted.
    assert DecisionRequest.objects.filter(agent=bot.agent, status="rejected").count() == 3
    escalated = DecisionRequest.objects.filter(agent=bot.agent, status="pending").count()
    assert escalated <= 3
    assert DecisionRequest.objects.filter(agent=bot.agent, decision="deny").count() == 11 - escalated
    assert set(DecisionRequest.objects.filter(agent=bot.agent, decision="deny").values_list("reasons__0__code", flat=True)) <= {
        "velocity_exceeded"}
    assert_tallies_match_rows(bot.agent, timezone.now())


BUDGET = """
agent: {name}
capabilities:
  - action: "purchase_order.*"
    resources: ["vendor:*"]
    cumulative: {{param: amount, max: 1000, per: 24h, over: deny{currency}}}
    escalate_when:
      - when: "true"
        code: always
        message: "a person looks at every order"
"""


@pytest.mark.parametrize("budget_currency", [None, "USD"])
def test_budgets_per_currency_after_rejections_and_expiries(postgres, make_agent, approver, budget_currency):
    """Issue 12: a budget never adds currencies; requests that leave (rejected, expired) leave
    their currency's total, through the trigger-kept tallies."""
    currency = f", currency: {budget_currency}" if budget_currency else ""
    bot = make_agent("fx-bot", envelope=BUDGET.format(name="fx-bot", currency=currency))
    now = timezone.now()

    def ask(amount, currency, at=None):
        params = {"amount": amount} if currency is None else {"amount": amount, "currency": currency}
        return decide(agent=bot.agent, data=DecideInput(action=PO, resource="vendor:acme", params=params), now=at or now)[0]

    usd = ask(900, "USD")
    assert usd.decision == "escalate"
    eur = ask(900, "EUR")
    if budget_currency:
        assert eur.reasons[0]["code"] == "currency_mismatch"  # never counted against a USD budget
        assert ask(101, None).reasons[0]["code"] == "cumulative_exceeded"  # no currency: counted as USD
        assert ask(100, None).decision == "escalate"  # 1000 USD
        assert ask(1, "USD").reasons[0]["code"] == "cumulative_exceeded"
        assert ask(10**6, "EUR").reasons[0]["code"] == "currency_mismatch"
    else:
        assert eur.reasons[0]["code"] == "always"  # EUR 900 is not added to USD 900
        over = ask(101, "USD")
        assert over.reasons[0]["code"] == "cumulative_exceeded" and "USD" in over.reasons[0]["message"]
        assert ask(1000, None).decision == "escalate"  # no currency: a total of its own
        assert ask(101, "EUR").reasons[0]["code"] == "cumulative_exceeded"
    approval_decide(request_id=usd.id, user=approver, choice="deny", now=now)
    # The rejected 900 USD left its currency's total.
    assert ask(900 if budget_currency else 1000, "USD").decision == "escalate"
    later = usd.expires_at + timedelta(seconds=1)
    for pending in DecisionRequest.objects.filter(agent=bot.agent, status="pending"):
        assert escalation_expire(request_id=pending.id, now=later)
    # Everything left: each currency's budget is whole again.
    assert ask(1000, "USD", at=later).decision == "escalate"
    assert ask(1, "USD", at=later).reasons[0]["code"] == "cumulative_exceeded"
    state = DatabaseState(bot.agent)
    assert state.total(action="purchase_order.*", param="amount", window=86400, now=later, currencies=("USD",)) == 1000.0
    assert state.total(action="purchase_order.*", param="amount", window=86400, now=later, currencies=("EUR",)) == 0.0
    assert_tallies_match_rows(bot.agent, later)


def test_concurrent_decides_in_two_currencies_keep_each_budget_exact(postgres, make_agent):
    bot = make_agent("fx-race-bot", envelope=BUDGET.format(name="fx-race-bot", currency=""))
    start = threading.Barrier(12)
    errors: list[BaseException] = []

    def ask(currency):
        try:
            start.wait()
            decide(agent=bot.agent, data=DecideInput(action=PO, resource="vendor:acme",
                                                     params={"amount": 300, "currency": currency}))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(c,)) for c in ["USD", "EUR", "GBP"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    # 300 each against 1000: exactly three of the four in each currency got in, whatever the
    # order; a total across currencies would have let in only three in all.
    for currency in ("USD", "EUR", "GBP"):
        rows = DecisionRequest.objects.filter(agent=bot.agent, params__currency=currency)
        assert rows.filter(status="pending").count() == 3, currency
        assert set(rows.filter(decision="deny").values_list("reasons__0__code", flat=True)) == {"cumulative_exceeded"}
    assert_tallies_match_rows(bot.agent, timezone.now())
