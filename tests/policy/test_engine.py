"""The policy engine alone: no Django, no database. Data in, decision out."""

import os
import subprocess
import sys
from datetime import UTC, datetime

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

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SUNDAY_3AM = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def envelope(**overrides):
    doc = {
        "agent": "bot",
        "approvers": ["ops"],
        "capabilities": [
            {
                "action": "deploy.*",
                "resources": ["service:*"],
                "params_schema": {"type": "object", "required": ["replicas"], "properties": {"replicas": {"type": "integer"}}},
                "deny_when": [{"when": "params.replicas > 50", "code": "too_many_replicas"}],
                "escalate_when": ["resource == 'service:payments'"],
                "hours": {"allow": "Mon-Fri 07:00-19:00", "tz": "Europe/London", "outside": "escalate"},
                "quorum": 2,
            },
            {"action": "crm.read", "resources": ["customer:*"]},
        ],
    }
    doc.update(overrides)
    return compile_envelope(doc, version=7)


def ask(env, action="deploy.run", resource="service:web", params=None, now=MONDAY_NOON, state=None, **kw):
    request = PolicyRequest(action, resource, {"replicas": 3} if params is None else params, kw.pop("context", {}), "bot", now, **kw)
    return evaluate(env, request, state or EmptyState())


def codes(decision):
    return [r.code for r in decision.reasons]


def test_the_engine_imports_no_django():
    code = "import sys, governance.policy; print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery')))"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_matching_capability_allows():
    decision = ask(envelope())
    assert decision.decision == "allow"
    assert decision.capability == 0
    assert decision.envelope_version == 7


def test_no_envelope_denies():
    assert codes(evaluate(None, PolicyRequest("x", "", {}, {}, "bot", MONDAY_NOON), EmptyState())) == ["no_envelope"]


def test_suspended_agent_is_denied_before_anything_else():
    assert codes(ask(envelope(), agent_suspended=True)) == ["agent_suspended"]


def test_unmatched_action_or_resource_is_a_violation():
    for action, resource in [("payroll.run", "service:web"), ("deploy.run", "db:main")]:
        decision = ask(envelope(), action=action, resource=resource)
        assert (decision.decision, codes(decision), decision.violation) == ("deny", ["outside_envelope"], True)


def test_default_escalate_sends_unmatched_actions_to_a_human():
    decision = ask(envelope(default="escalate"), action="payroll.run")
    assert decision.decision == "escalate"
    assert decision.violation is False


def test_params_schema_failure_denies_and_names_the_field():
    decision = ask(envelope(), params={"replicas": "lots"})
    assert codes(decision) == ["invalid_params"]
    assert "replicas" in decision.reasons[0].message
    assert decision.violation


def test_deny_when_wins_over_escalations():
    decision = ask(envelope(), resource="service:payments", params={"replicas": 99}, now=SUNDAY_3AM)
    assert (decision.decision, codes(decision)) == ("deny", ["too_many_replicas"])


def test_escalate_when_and_hours_escalate_with_capability_quorum():
    decision = ask(envelope(), resource="service:payments", now=SUNDAY_3AM)
    assert decision.decision == "escalate"
    assert set(codes(decision)) == {"outside_hours", "escalate_when"}
    assert decision.escalation.quorum == 2
    assert decision.escalation.approvers == ("ops",)
    assert "off_hours" in {f.name for f in decision.risk_factors}


def test_hours_use_the_envelope_time_zone():
    # 06:30 UTC in summer is 07:30 in London: inside Mon-Fri 07:00-19:00.
    summer_morning = datetime(2026, 6, 1, 6, 30, tzinfo=UTC)
    assert ask(envelope(), now=summer_morning).decision == "allow"
    winter_morning = datetime(2026, 12, 7, 6, 30, tzinfo=UTC)  # 06:30 in London
    assert ask(envelope(), now=winter_morning).decision == "escalate"


def test_cel_runtime_error_denies():
    env = compile_envelope({"agent": "bot", "capabilities": [{"action": "pay", "deny_when": ["params.amount > 5"]}]})
    decision = evaluate(env, PolicyRequest("pay", "", {}, {}, "bot", MONDAY_NOON), EmptyState())
    assert (decision.decision, codes(decision)) == ("deny", ["governance_error"])


def test_non_boolean_condition_denies():
    env = compile_envelope({"agent": "bot", "capabilities": [{"action": "pay", "escalate_when": ["params.amount"]}]})
    decision = evaluate(env, PolicyRequest("pay", "", {"amount": 5}, {}, "bot", MONDAY_NOON), EmptyState())
    assert codes(decision) == ["governance_error"]


def test_a_failing_state_view_denies():
    class Broken(EmptyState):
        def seen(self, **kw):
            raise ConnectionError("db gone")

    decision = ask(envelope(), state=Broken())
    assert (decision.decision, codes(decision)) == ("deny", ["governance_error"])


def test_supervised_mode_turns_allow_into_escalate():
    assert ask(envelope(), agent_mode="supervised").decision == "escalate"
    assert ask(envelope(mode="supervised")).decision == "escalate"


def test_velocity_and_novelty_read_the_state_view():
    env = compile_envelope({
        "agent": "bot",
        "capabilities": [{"action": "crm.read", "velocity": {"max": 2, "per": "10m", "over": "deny"}, "escalate_on_novel": ["resource"]}],
    })
    state = MemoryState("bot")
    for _ in range(2):
        state.history.append(Recorded("bot", "crm.read", "customer:1", {}, {}, MONDAY_NOON))
    decision = evaluate(env, PolicyRequest("crm.read", "customer:1", {}, {}, "bot", MONDAY_NOON), state)
    assert codes(decision) == ["velocity_exceeded"]
    fresh = MemoryState("bot")
    decision = evaluate(env, PolicyRequest("crm.read", "customer:9", {}, {}, "bot", MONDAY_NOON), fresh)
    assert codes(decision) == ["novel_value"]


def test_high_confidence_never_removes_an_escalation():
    decision = ask(envelope(), resource="service:payments", context={"confidence": 1.0, "input_source": "system"})
    assert decision.decision == "escalate"


def test_risk_threshold_escalates_and_factors_are_returned():
    env = envelope(risk_threshold=0.3)
    decision = ask(env, context={"confidence": 0.2, "input_source": "user"})
    assert decision.decision == "escalate"
    assert "risk_threshold" in codes(decision)
    assert 0 <= decision.risk_score <= 1
    assert {"low_confidence", "input_source_user"} <= {f.name for f in decision.risk_factors}


@pytest.mark.parametrize(
    "doc, field",
    [
        ({"agent": "bot"}, "(envelope)"),
        ({"agent": "bot", "capabilities": [{"action": "x", "deny_when": ["params.amount >"]}]}, "capabilities[0].deny_when[0]"),
        ({"agent": "bot", "capabilities": [{"action": "x", "escalate_when": ["secret > 1"]}]}, "capabilities[0].escalate_when[0]"),
        ({"agent": "bot", "capabilities": [{"action": "x", "velocity": {"max": 1, "per": "soon"}}]}, "capabilities[0].velocity.per"),
        ({"agent": "bot", "capabilities": [{"action": "x", "hours": {"allow": "Mon-Fri 7-19"}}]}, "capabilities[0].hours"),
        ({"agent": "bot", "capabilities": [{"action": "x", "hours": {"allow": "Mon 07:00-19:00", "tz": "Mars/Base"}}]}, "capabilities[0].hours"),
        ({"agent": "bot", "capabilities": [{"action": "x", "params_schema": {"type": "nope"}}]}, "capabilities[0].params_schema"),
        ({"agent": "bot", "mode": "yolo", "capabilities": []}, "mode"),
        ({"agent": "bot", "default": "allow", "capabilities": []}, "default"),
        ({"agent": "bot", "capabilities": [{"action": "x", "limit": 5}]}, "capabilities[0]"),
    ],
)
def test_invalid_envelopes_name_the_field(doc, field):
    with pytest.raises(EnvelopeError) as caught:
        compile_envelope(doc)
    assert caught.value.field == field, str(caught.value)
