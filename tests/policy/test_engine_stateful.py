"""The engine's stateful checks over MemoryState: plain Python, no database."""

from datetime import UTC, datetime, timedelta

from governance.policy import MemoryState, PolicyRequest, compile_envelope, evaluate
from governance.policy.state import Recorded

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def env(**cap):
    return compile_envelope({"agent": "bot", "capabilities": [{"action": "crm.*", **cap}]})


def ask(envelope, state, action="crm.read", resource="customer:1", params=None, context=None, at=NOW):
    return evaluate(envelope, PolicyRequest(action, resource, params or {}, context or {}, "bot", at), state)


def codes(decision):
    return [r.code for r in decision.reasons]


def test_velocity_counts_every_action_the_capability_matches():
    state = MemoryState("bot", [Recorded("bot", a, "customer:1", {}, {}, NOW - timedelta(seconds=5)) for a in ("crm.read", "crm.export")])
    decision = ask(env(velocity={"max": 2, "per": "1m", "over": "deny"}), state)
    assert codes(decision) == ["velocity_exceeded"]
    assert decision.violation  # a limit that denies is a violation
    assert "limit of 2 crm.* per 1m reached" in decision.reasons[0].message


def test_velocity_escalation_is_not_a_violation_and_leaves_the_window():
    envelope = env(velocity={"max": 1, "per": "1m"})
    state = MemoryState("bot", [Recorded("bot", "crm.read", "customer:1", {}, {}, NOW - timedelta(seconds=30))])
    decision = ask(envelope, state)
    assert (decision.decision, decision.violation) == ("escalate", False)
    assert ask(envelope, state, at=NOW + timedelta(seconds=31)).decision == "allow"


def test_denied_rejected_and_expired_requests_do_not_count():
    state = MemoryState("bot", [
        Recorded("bot", "crm.read", "customer:1", {}, {}, NOW - timedelta(seconds=5), status)
        for status in ("denied", "rejected", "expired")
    ])
    assert ask(env(velocity={"max": 1, "per": "1m", "over": "deny"}), state).decision == "allow"


def test_cumulative_sums_the_window_and_refuses_negative_amounts():
    envelope = env(cumulative={"param": "amount", "max": 100, "per": "1h", "over": "deny"})
    state = MemoryState("bot", [Recorded("bot", "crm.read", "c", {"amount": 60}, {}, NOW - timedelta(minutes=5))])
    assert ask(envelope, state, params={"amount": 40}).decision == "allow"
    over = ask(envelope, state, params={"amount": 41})
    assert (over.decision, codes(over), over.violation) == ("deny", ["cumulative_exceeded"], True)
    negative = ask(envelope, state, params={"amount": -1000})
    assert codes(negative) == ["invalid_params"]
    assert codes(ask(envelope, state, params={"amount": "40"})) == ["invalid_params"]
    huge = ask(envelope, state, params={"amount": 10**400})
    assert codes(huge) == ["cumulative_exceeded"]


def test_novelty_needs_a_request_that_went_ahead():
    envelope = env(escalate_on_novel=["resource", "params.region"])
    pending = MemoryState("bot", [Recorded("bot", "crm.read", "customer:1", {"region": "eu"}, {}, NOW - timedelta(days=3), "pending")])
    assert set(codes(ask(envelope, pending, params={"region": "eu"}))) == {"novel_value"}
    assert len(ask(envelope, pending, params={"region": "eu"}).reasons) == 2
    done = MemoryState("bot", [Recorded("bot", "crm.read", "customer:1", {"region": "eu"}, {}, NOW - timedelta(days=300), "approved")])
    assert ask(envelope, done, params={"region": "eu"}).decision == "allow"
    assert ask(envelope, done, params={"region": "us"}).reasons[0].message == "first time this agent uses params.region=us"


def test_novelty_is_per_agent():
    envelope = env(escalate_on_novel=["resource"])
    other = MemoryState("bot", [Recorded("other-bot", "crm.read", "customer:1", {}, {}, NOW - timedelta(days=1))])
    assert codes(ask(envelope, other)) == ["novel_value"]


def test_sequences_complete_in_order_within_the_window_across_agents():
    envelope = compile_envelope({
        "agent": "bot",
        "capabilities": [{"action": "*"}],
        "sequences": [{"name": "chain", "within": "30m", "match": ["a.*", "b", "c"], "key": "resource"}],
    })

    def state(*steps):
        return MemoryState("bot", [Recorded(agent, action, "svc", {}, {}, NOW - timedelta(minutes=ago)) for agent, action, ago in steps])

    complete = ask(envelope, state(("x", "a.open", 20), ("y", "b", 10)), action="c", resource="svc")
    assert codes(complete) == ["sequence_complete"]
    assert ask(envelope, state(("y", "b", 20), ("x", "a.open", 10)), action="c", resource="svc").decision == "allow"
    assert ask(envelope, state(("x", "a.open", 31), ("y", "b", 10)), action="c", resource="svc").decision == "allow"
    assert ask(envelope, state(("x", "a.open", 20), ("y", "b", 10)), action="c", resource="other").decision == "allow"
    assert ask(envelope, state(("x", "a.open", 20), ("y", "b", 10)), action="b", resource="svc").decision == "allow"
