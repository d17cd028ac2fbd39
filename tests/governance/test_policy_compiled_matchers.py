"""What compile_envelope derives once for the decide path (glob matchers, the CEL variables
each capability reads) answers exactly as the plain definitions would."""

from datetime import UTC, datetime
from fnmatch import fnmatchcase

import pytest

from governance.policy import EmptyState, PolicyRequest, compile_envelope, evaluate
from governance.policy.envelope import glob_matcher

NOW = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)

PATTERNS = ["*", "vendor:*", "vendor:staples", "crm.*.read", "s3://reports/*", "file.?", "db:[ab]*", "[", "a*b*c", ""]
VALUES = [
    "", "vendor:", "vendor:staples", "vendor:staples2", "Vendor:staples", "crm.contact.read", "crm..read",
    "crm.contact.write", "s3://reports/q3.csv", "s3://reports/a\nb", "file.x", "file.xy", "db:a1", "db:c", "[",
    "abc", "aXbYc", "ab",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_glob_matcher_agrees_with_fnmatchcase(pattern):
    match = glob_matcher(pattern)
    for value in VALUES:
        assert bool(match(value)) is fnmatchcase(value, pattern), (pattern, value)


def request(action="deploy", resource="service:web", params=None, context=None, **kw) -> PolicyRequest:
    return PolicyRequest(action, resource, params or {}, context or {}, "ops-bot", NOW, **kw)


def envelope(*capabilities):
    return compile_envelope({"agent": "ops-bot", "capabilities": list(capabilities)}, version=1)


def test_capability_knows_the_cel_variables_its_rules_read():
    env = envelope(
        {"action": "deploy", "deny_when": ["params.force && resource == 'service:db'"], "escalate_when": ["agent.mode == 'x'"]},
        {"action": "read"},
    )
    assert env.capabilities[0].cel_variables == {"params", "resource", "agent"}
    assert env.capabilities[1].cel_variables == frozenset()


def test_rules_over_every_variable_still_see_their_values():
    env = envelope(
        {
            "action": "deploy",
            "resources": ["service:*"],
            "deny_when": [{"when": "action == 'deploy' && resource.endsWith(':db')", "code": "db"}],
            "escalate_when": [
                {"when": "has(context.environment) && context.environment == 'production'", "code": "prod"},
                {"when": "now > timestamp('2026-11-18T10:00:00Z')", "code": "late"},
                {"when": "agent.name == 'ops-bot' && agent.mode == 'supervised'", "code": "watched"},
                {"when": "params.replicas > 3", "code": "big"},
            ],
        }
    )
    denied = evaluate(env, request(resource="service:db", params={"replicas": 1}), EmptyState())
    assert (denied.decision, denied.reasons[0].code) == ("deny", "db")
    escalated = evaluate(
        env,
        request(params={"replicas": 5}, context={"environment": "production"}, agent_mode="supervised"),
        EmptyState(),
    )
    codes = [r.code for r in escalated.reasons]
    assert escalated.decision == "escalate"
    assert codes[:4] == ["prod", "late", "watched", "big"]


def test_a_rule_that_errors_still_denies():
    env = envelope({"action": "deploy", "escalate_when": ["params.replicas > 3"]})
    decision = evaluate(env, request(params={}), EmptyState())
    assert decision.decision == "deny"
    assert decision.reasons[0].code == "governance_error"
    assert "escalate_when[0]" in decision.reasons[0].message


def test_a_value_cel_cannot_take_denies():
    env = envelope({"action": "deploy", "escalate_when": ["params.replicas > 3"]})
    decision = evaluate(env, request(params={"replicas": object()}), EmptyState())
    assert decision.decision == "deny"
    assert decision.reasons[0].code == "governance_error"
