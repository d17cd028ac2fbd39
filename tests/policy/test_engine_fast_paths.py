"""The engine's shortcuts change no answer: the capability index (first match wins across
exact and globbed actions, in envelope order), the compiled params_schema check and the
CEL fast path give the decisions of the plain procedure."""

import random
from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator

from governance.policy import EmptyState, PolicyRequest, compile_envelope, evaluate
from governance.policy import envelope as envelope_module
from governance.policy.params_check import compile_params_check

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def compiled(capabilities, **extra):
    return compile_envelope({"agent": "bot", "capabilities": capabilities, **extra}, version=1)


def linear(env, action, resource):
    """SPEC §5 step 4 as written: the first capability matching both, in envelope order."""
    return next((c for c in env.capabilities if c.matches(action, resource)), None)


def index_of(env, action, resource):
    cap = env.capability_for(action, resource)
    return None if cap is None else cap.index


def test_first_match_wins_across_globs_and_exact_actions_in_envelope_order():
    env = compiled([
        {"action": "crm.*", "resources": ["account:*"]},
        {"action": "crm.read", "resources": ["*"]},
        {"action": "crm.*"},
        {"action": "crm.read", "resources": ["customer:*"]},
        {"action": "a.b", "resources": ["x:*"]},
        {"action": "a.?"},
    ])
    assert index_of(env, "crm.read", "account:1") == 0  # a glob ahead of the exact action
    assert index_of(env, "crm.read", "customer:1") == 1  # the exact one, ahead of a later glob
    assert index_of(env, "crm.write", "customer:1") == 2
    assert index_of(env, "a.b", "x:1") == 4  # exact ahead of a later glob
    assert index_of(env, "a.b", "y:1") == 5  # its resources miss: the next candidate
    assert index_of(env, "a.bc", "x:1") is None
    assert index_of(env, "other", "") is None


ACTIONS = ["crm.read", "crm.write", "crm.*", "crm.r*", "*", "c?m.read", "[ab].x", "a.x", "b.x", "*.x", "db.query", "db.*"]
RESOURCES = ["*", "account:*", "customer:1", "db:[!p]*", "s3://r/*", "?"]
PROBES_A = ["crm.read", "crm.write", "crm.", "cxm.read", "a.x", "b.x", "c.x", "db.query", "db.migrate", "", "crm.read.more"]
PROBES_R = ["account:1", "customer:1", "db:analytics", "db:payroll", "s3://r/k", "x", "", "customer:2"]


def test_the_index_agrees_with_the_linear_scan_on_random_envelopes():
    rng = random.Random(16)
    for _ in range(300):
        caps = [
            {"action": rng.choice(ACTIONS), "resources": rng.sample(RESOURCES, rng.randint(1, 2))}
            for _ in range(rng.randint(1, 8))
        ]
        env = compiled(caps)
        for action in PROBES_A:
            for resource in PROBES_R:
                expected = linear(env, action, resource)
                assert env.capability_for(action, resource) is expected, (caps, action, resource)


def test_the_per_action_cache_is_bounded_and_answers_past_its_bound(monkeypatch):
    monkeypatch.setattr(envelope_module, "_CANDIDATE_CACHE", 3)
    env = compiled([{"action": "x.*"}, {"action": "y"}])
    for i in range(10):
        assert index_of(env, f"x.{i}", "r") == 0
    assert len(env._by_action) == 3
    assert index_of(env, "y", "r") == 1 and index_of(env, "x.9", "r") == 0


SCHEMAS = [
    {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer", "minimum": 0},
                                                            "currency": {"enum": ["USD", "EUR"]}}},
    {"type": "object", "required": ["to", "n"], "properties": {"to": {"type": "string", "maxLength": 5},
                                                             "n": {"type": "integer", "minimum": 1, "maximum": 9}}},
    {"type": "object", "properties": {"fields": {"type": "array", "items": {"type": "string"}},
                                      "x": {"type": "number", "exclusiveMaximum": 3}, "flag": {"type": "boolean"}}},
    {"required": ["a"], "properties": {"a": {"minLength": 2, "description": "any type, strings at least 2 long"}}},
    {"type": "object", "properties": {"n": {"type": "null"}, "o": {"type": "object"}, "any": {}}},
]
PARAM_VALUES = [None, True, 0, 1, 5, 10, -1, 2.0, 2.5, float("nan"), "", "a", "USD", "abcdef", "GBP", [], ["a"], ["a", 1], {}, {"k": 1}]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_compiled_params_check_never_passes_what_jsonschema_rejects(schema):
    check = compile_params_check(schema)
    assert check is not None
    validator = Draft202012Validator(schema)
    keys = sorted({*schema.get("properties", {}), *schema.get("required", []), "extra"})
    rng = random.Random(len(repr(schema)))
    passed = 0
    for _ in range(3000):
        params = {k: rng.choice(PARAM_VALUES) for k in rng.sample(keys, rng.randint(0, len(keys)))}
        valid = not list(validator.iter_errors(params))
        if check(params):
            passed += 1
            assert valid, (schema, params)
    assert passed > 0
    assert check([]) is False and check("x") is False  # not an object: jsonschema decides


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "additionalProperties": False},
        {"type": "object", "properties": {"a": {"type": ["string", "null"]}}},
        {"type": "object", "properties": {"a": {"enum": [1, "x"]}}},
        {"type": "object", "properties": {"a": {"pattern": "^x"}}},
        {"type": "array"},
        {"oneOf": [{"type": "object"}]},
    ],
)
def test_schemas_beyond_the_compiled_subset_always_go_to_jsonschema(schema):
    assert compile_params_check(schema) is None


DOCUMENT = {
    "agent": "bot",
    "risk_threshold": 0.8,
    "capabilities": [
        {"action": "po.create", "resources": ["vendor:staples"],
         "params_schema": SCHEMAS[0], "deny_when": ["params.amount > 100000"], "escalate_when": ["params.amount > 10000"]},
        {"action": "po.*", "resources": ["vendor:*"],
         "params_schema": SCHEMAS[0], "deny_when": ["params.amount > 500"],
         "escalate_when": ["has(context.input_source) && context.input_source == 'user'"]},
        {"action": "mail.send", "params_schema": SCHEMAS[1],
         "deny_when": ["params.to.endsWith('@x.example') || params.to.contains('DROP')"],
         "escalate_when": ["'ssn' in params.fields", "params.n + 1 > 5"]},
        {"action": "db.*", "deny_when": [{"when": "!has(params.sql) || params.sql.startsWith('DROP')", "code": "no_drop"}],
         "escalate_when": ["action == 'db.migrate' && resource.startsWith('db:prod')"]},
    ],
}


def without_shortcuts(env):
    """The same envelope, every capability taking the plain path (jsonschema, CEL)."""
    slow = compile_envelope(env.document, version=env.version)
    for cap in slow.capabilities:
        object.__setattr__(cap, "params_check", None)
        object.__setattr__(cap, "fast_variables", None)
    return slow


def random_params(rng):
    keys = ["amount", "currency", "to", "n", "fields", "sql", "extra"]
    values = [*PARAM_VALUES, 50, 600, 20000, 200000, "x@x.example", "DROP t", "ok", ["ssn"], 2**70, "\ud800"]
    return {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, len(keys)))}


def test_decisions_with_and_without_the_shortcuts_are_identical():
    fast = compile_envelope(DOCUMENT, version=1)
    assert all(c.fast_variables for c in fast.capabilities) and fast.capabilities[0].params_check is not None
    assert fast.capabilities[2].escalate_when[1].fast is None  # `+`: this one always runs in CEL
    slow = without_shortcuts(fast)
    rng = random.Random(1616)
    for _ in range(3000):
        request = PolicyRequest(
            action=rng.choice(["po.create", "po.cancel", "mail.send", "db.query", "db.migrate", "other"]),
            resource=rng.choice(["vendor:staples", "vendor:x", "db:prod-1", "db:dev", "", "customer:1"]),
            params=random_params(rng),
            context=rng.choice([{}, {"input_source": "user"}, {"input_source": 1}, {"confidence": 0.9, "input_source": "system"}]),
            agent="bot",
            now=NOW,
        )
        assert asdict(evaluate(fast, request, EmptyState())) == asdict(evaluate(slow, request, EmptyState())), request
