"""Tiers and max_pending in the engine alone: no Django, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from governance.policy import (
    EmptyState,
    EnvelopeError,
    MemoryState,
    PolicyRequest,
    compile_envelope,
    evaluate,
)
from governance.policy.state import Recorded

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def envelope(**overrides):
    doc = {
        "agent": "bot",
        "approvers": ["finance"],
        "escalation_ttl": "15m",
        "tiers": [{"after": "10m", "approvers": ["cfo"]}, {"after": "5m", "approvers": ["oncall-sre"]}],
        "capabilities": [
            {"action": "po.create", "escalate_when": ["params.amount > 10"]},
            {"action": "deploy", "tiers": [{"after": "1m", "approvers": ["sre-leads"]}], "escalate_when": ["true"]},
        ],
    }
    doc.update(overrides)
    return compile_envelope(doc, version=1)


def ask(env, action="po.create", amount=50, state=None):
    return evaluate(env, PolicyRequest(action, "", {"amount": amount}, {}, "bot", NOW), state or EmptyState())


def test_tiers_are_inherited_sorted_and_overridable_per_capability():
    env = envelope()
    assert ask(env).escalation.tiers == ((300, ("oncall-sre",)), (600, ("cfo",)))
    assert ask(env, "deploy").escalation.tiers == ((60, ("sre-leads",)),)
    assert ask(env).escalation.ttl_seconds == 900  # tiers never move the deadline


@pytest.mark.parametrize("tiers, where", [
    ([{"after": "15m", "approvers": ["cfo"]}], "tiers[0].after"),
    ([{"after": "5m", "approvers": []}], "tiers[0].approvers"),
    ([{"after": "5m"}], "tiers[0]"),
    ([{"after": "soon", "approvers": ["x"]}], "tiers[0].after"),
])
def test_bad_tiers_are_refused_naming_the_field(tiers, where):
    with pytest.raises(EnvelopeError) as caught:
        envelope(tiers=tiers)
    assert caught.value.field.startswith(where), caught.value


def pending(n: int, *, agent="bot", expired: int = 0) -> MemoryState:
    history = [Recorded(agent, "po.create", "", {}, {}, NOW - timedelta(minutes=1), "pending", NOW + timedelta(minutes=9))
               for _ in range(n)]
    history += [Recorded(agent, "po.create", "", {}, {}, NOW - timedelta(minutes=20), "pending", NOW - timedelta(minutes=5))
                for _ in range(expired)]
    return MemoryState(agent="bot", history=history)  # from bot's point of view


def test_max_pending_denies_a_would_be_escalation_as_a_violation():
    env = envelope(max_pending=3)
    assert ask(env, state=pending(2)).decision == "escalate"
    flood = ask(env, state=pending(3))
    assert flood.decision == "deny" and flood.violation
    assert flood.reasons[0].code == "review_flood" and flood.reasons[0].rule == "max_pending"
    assert "escalate_when" in [r.code for r in flood.reasons[1:]]  # why it would have escalated


def test_max_pending_leaves_allows_alone_and_ignores_other_agents_and_past_deadlines():
    env = envelope(max_pending=1)
    assert ask(env, amount=1, state=pending(5)).decision == "allow"
    assert ask(env, state=pending(3, agent="other-bot")).decision == "escalate"
    assert ask(env, state=pending(0, expired=4)).decision == "escalate"


def test_no_max_pending_never_asks():
    class Asking(EmptyState):
        def pending(self, **kw):
            raise AssertionError("asked")

    assert ask(envelope(), state=Asking()).decision == "escalate"
