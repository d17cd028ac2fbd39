"""DatabaseState answers the engine's questions from recorded decisions, exactly as
MemoryState does from a list (the chaos runner relies on the two agreeing)."""

from datetime import UTC, datetime, timedelta

import pytest

from governance.models import DecisionRequest
from governance.policy.state import MemoryState, Recorded
from governance.services import agent_create
from governance.state import DatabaseState, action_filter

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def record(agent, action, resource="", params=None, context=None, status="allowed", ago=60):
    context = context or {}
    return DecisionRequest.objects.create(
        agent=agent, action=action, resource=resource, params=params or {}, context=context,
        session=str(context.get("session", ""))[:200], digest="x", decision="allow", status=status,
        created_at=NOW - timedelta(seconds=ago),
    )


@pytest.fixture
def crm_bot():
    return agent_create(name="crm-bot")[0]


@pytest.fixture
def other_bot():
    return agent_create(name="other-bot")[0]


def test_count_covers_live_requests_of_this_agent_in_the_window(crm_bot, other_bot):
    for status in ("allowed", "approved", "pending", "denied", "rejected", "expired"):
        record(crm_bot, "crm.read", status=status)
    record(crm_bot, "crm.read", ago=601)  # outside a 10-minute window
    record(crm_bot, "crm.export")
    record(other_bot, "crm.read")
    state = DatabaseState(crm_bot)
    assert state.count(action="crm.read", window=600, now=NOW) == 3
    assert state.count(action="crm.*", window=600, now=NOW) == 4
    assert state.count(action="crm.*", window=3600, now=NOW) == 5
    assert state.count(action="crm.*", window=3600, now=NOW, limit=2) == 2
    assert state.count(action="crm.*", window=3600, now=NOW, limit=9) == 5
    assert state.count(action="crm.*", window=3600, now=NOW, limit=0) == 0


@pytest.mark.parametrize(
    "pattern, matches, misses",
    [
        ("crm.read", ["crm.read"], ["crm.reads", "crmxread"]),
        ("crm.*", ["crm.read", "crm.export.all"], ["crm", "crmxread", "hr.crm.read"]),
        ("crm.re?d", ["crm.read", "crm.reed"], ["crm.rd", "crm.reaad"]),
        ("db_[ab].drop", ["db_a.drop", "db_b.drop"], ["db_c.drop", "dbxa.drop"]),
        ("db_[!ab].drop", ["db_c.drop"], ["db_a.drop"]),
        ("price:update", ["price:update"], ["price-update"]),
    ],
)
def test_action_globs_match_like_fnmatch(crm_bot, pattern, matches, misses):
    for action in matches + misses:
        record(crm_bot, action)
    found = set(DecisionRequest.objects.filter(action_filter(pattern)).values_list("action", flat=True))
    assert found == set(matches)


def test_total_sums_positive_numbers_and_ignores_everything_else(crm_bot):
    for amount in (100, 250.5, "9999", {"value": 5}, [1, 2], True, None, -400, 0):
        record(crm_bot, "purchase_order.create", params={"amount": amount})
    record(crm_bot, "purchase_order.create", params={"currency": "USD"})  # key absent
    record(crm_bot, "purchase_order.create", params={"amount": 5000}, status="denied")
    state = DatabaseState(crm_bot)
    assert state.total(action="purchase_order.create", param="amount", window=600, now=NOW) == pytest.approx(350.5)


def test_total_survives_numbers_too_large_for_a_float(crm_bot):
    record(crm_bot, "pay", params={"amount": 10**400})
    record(crm_bot, "pay", params={"amount": 5})
    assert DatabaseState(crm_bot).total(action="pay", param="amount", window=600, now=NOW) == pytest.approx(1e300)


def test_total_of_nothing_is_zero(crm_bot):
    assert DatabaseState(crm_bot).total(action="x", param="amount", window=600, now=NOW) == 0.0


def test_param_names_that_look_like_lookups_are_keys(crm_bot):
    # "contains", "gt" and "exact" are Django lookup names; they must still be read as keys.
    record(crm_bot, "pay", params={"gt": 10, "contains": "vendor:a", "exact": 1})
    state = DatabaseState(crm_bot)
    assert state.total(action="pay", param="gt", window=600, now=NOW) == 10
    assert state.seen(field="params.contains", value="vendor:a")
    assert not state.seen(field="params.contains", value="vendor:b")
    assert state.total(action="pay", param="exact", window=600, now=NOW) == 1


def test_seen_needs_a_request_that_went_ahead(crm_bot, other_bot):
    record(crm_bot, "deploy", resource="service:web", status="pending")
    record(crm_bot, "deploy", resource="service:db", status="denied")
    record(other_bot, "deploy", resource="service:api")
    record(crm_bot, "deploy", resource="service:cache", status="approved", ago=90 * 86400)
    state = DatabaseState(crm_bot)
    assert not state.seen(field="resource", value="service:web")
    assert not state.seen(field="resource", value="service:db")
    assert not state.seen(field="resource", value="service:api")
    assert state.seen(field="resource", value="service:cache")


def test_seen_params_compares_json_values(crm_bot):
    record(crm_bot, "pay", params={"vendor": "acme", "count": 3, "code": "42", "tags": ["a"]})
    state = DatabaseState(crm_bot)
    assert state.seen(field="params.code", value="42")
    assert not state.seen(field="params.code", value=42)
    assert not state.seen(field="params.count", value="3")
    assert state.seen(field="params.tags", value=["a"])
    assert not state.seen(field="params.tags", value=[])  # equality, not containment
    record(crm_bot, "pay", params={"flag": True, "none": None, "tags": ["a", "b"]})
    assert not state.seen(field="params.tags", value=["b"])
    assert state.seen(field="params.flag", value=True) and not state.seen(field="params.flag", value=False)
    assert state.seen(field="params.none", value=None)
    assert not state.seen(field="params.absent", value=None)
    assert state.seen(field="params.vendor", value="acme")
    assert state.seen(field="params.count", value=3)
    assert not state.seen(field="params.vendor", value="acme-2")
    assert not state.seen(field="params.missing", value="acme")


def test_recent_actions_span_agents_oldest_first(crm_bot, other_bot):
    record(crm_bot, "security_group.update", resource="service:billing", ago=300)
    record(other_bot, "service.deploy", resource="service:billing", ago=200)
    record(other_bot, "service.deploy", resource="service:billing", ago=100, status="denied")
    record(other_bot, "dns.record.create", resource="service:other", ago=50)
    got = DatabaseState(crm_bot).recent_actions(key="resource", value="service:billing", within=1800, now=NOW)
    assert [a for a, _ in got] == ["security_group.update", "service.deploy"]
    assert got[0][1] < got[1][1]


def test_recent_actions_by_session_and_other_context_keys(crm_bot, other_bot):
    long_session = "trace-" + "x" * 300
    record(crm_bot, "a", context={"session": long_session, "ticket": "T-1"}, ago=30)
    record(other_bot, "b", context={"session": long_session, "ticket": "T-2"}, ago=20)
    state = DatabaseState(crm_bot)
    assert [a for a, _ in state.recent_actions(key="context.session", value=long_session, within=60, now=NOW)] == ["a", "b"]
    assert [a for a, _ in state.recent_actions(key="context.ticket", value="T-2", within=60, now=NOW)] == ["b"]
    assert state.recent_actions(key="context.session", value=long_session, within=25, now=NOW) == [(
        "b", NOW - timedelta(seconds=20)
    )]


def test_database_and_memory_state_agree(crm_bot, other_bot):
    rows = [
        (crm_bot, "crm.read", "customer:1", {"amount": 5}, {"session": "s1"}, "allowed", 30),
        (crm_bot, "crm.read", "customer:2", {"amount": "7"}, {"session": "s1"}, "pending", 40),
        (crm_bot, "crm.export", "customer:3", {"amount": 11.5}, {}, "approved", 50),
        (crm_bot, "crm.read", "customer:4", {"amount": 13}, {}, "denied", 60),
        (crm_bot, "crm.read", "customer:5", {"amount": 17}, {}, "expired", 70),
        (crm_bot, "crm.read", "customer:6", {"amount": 19}, {}, "allowed", 4000),
        (other_bot, "crm.read", "customer:1", {"amount": 23}, {"session": "s1"}, "allowed", 35),
    ]
    memory = MemoryState("crm-bot")
    for agent, action, resource, params, context, status, ago in rows:
        record(agent, action, resource, params, context, status, ago)
        memory.history.append(Recorded(agent.name, action, resource, params, context, NOW - timedelta(seconds=ago), status))
    db = DatabaseState(crm_bot)
    for pattern in ("crm.read", "crm.*", "hr.*"):
        for window in (45, 600, 5000):
            assert db.count(action=pattern, window=window, now=NOW) == memory.count(action=pattern, window=window, now=NOW)
            assert db.total(action=pattern, param="amount", window=window, now=NOW) == memory.total(
                action=pattern, param="amount", window=window, now=NOW
            )
    for value in ("customer:1", "customer:2", "customer:3", "customer:4", "customer:6"):
        assert db.seen(field="resource", value=value) == memory.seen(field="resource", value=value)
    for value in (5, 7, "7", 11.5, 23):
        assert db.seen(field="params.amount", value=value) == memory.seen(field="params.amount", value=value), value
    assert db.recent_actions(key="context.session", value="s1", within=600, now=NOW) == memory.recent_actions(
        key="context.session", value="s1", within=600, now=NOW
    )
    assert db.recent_actions(key="resource", value="customer:1", within=600, now=NOW) == memory.recent_actions(
        key="resource", value="customer:1", within=600, now=NOW
    )


@pytest.mark.postgres
def test_param_novelty_is_answered_by_an_index_on_postgresql(postgres):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'req_params_gin'")
        (definition,) = cursor.fetchone()
    assert "gin (params jsonb_path_ops)" in definition


def test_total_per_currency_group_agrees_with_memory(crm_bot, other_bot):
    """Cumulative budgets per currency (issue 12): the database sums only the asked currency
    groups (on PostgreSQL from the `amount@<currency>` tallies and the edge rows)."""
    rows = [
        (crm_bot, {"amount": 100, "currency": "USD"}, "allowed", 30),
        (crm_bot, {"amount": 200, "currency": "USD"}, "pending", 86399.5),  # in the 24 h window's edge second
        (crm_bot, {"amount": 400, "currency": "EUR"}, "approved", 50),
        (crm_bot, {"amount": 800}, "allowed", 70),
        (crm_bot, {"amount": 1600, "currency": None}, "allowed", 3700),
        (crm_bot, {"amount": 3200, "currency": "usd"}, "allowed", 90),
        (crm_bot, {"amount": 6400, "currency": 840}, "allowed", 90),
        (crm_bot, {"amount": 12800, "currency": "USD"}, "rejected", 40),
        (crm_bot, {"amount": 25600, "currency": "USD"}, "expired", 40),
        (crm_bot, {"amount@USD": 51200, "currency": "USD"}, "allowed", 40),  # not an amount
        (other_bot, {"amount": 102400, "currency": "USD"}, "allowed", 35),
    ]
    memory = MemoryState("crm-bot")
    for agent, params, status, ago in rows:
        record(agent, "po.create", params=params, status=status, ago=ago)
        memory.history.append(Recorded(agent.name, "po.create", "", params, {}, NOW - timedelta(seconds=ago), status))
    db = DatabaseState(crm_bot)
    expected = {("USD",): 300, ("EUR",): 400, ("",): 2400, ("?",): 9600, ("USD", ""): 2700, ("GBP",): 0}
    for currencies, total in expected.items():
        for pattern in ("po.create", "po.*", "po.[c]reate"):
            assert db.total(action=pattern, param="amount", window=86400, now=NOW, currencies=currencies) == total, currencies
            assert memory.total(action=pattern, param="amount", window=86400, now=NOW, currencies=currencies) == total
    assert db.total(action="po.*", param="amount", window=600, now=NOW, currencies=("", "USD")) == 900
    assert db.total(action="po.*", param="amount", window=86400, now=NOW) == 12700  # all currencies: as before
