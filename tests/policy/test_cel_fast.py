"""cel_fast answers exactly as CEL does whenever it answers at all (checked against the CEL
interpreter itself over many conditions and values), and hands everything else to CEL."""

import itertools
import random

import cel
import pytest

from governance.policy.cel_bounds import cel_compile
from governance.policy.cel_fast import UNKNOWN, compile_fast, convertible

CONDITIONS = [
    "params.amount > 10000",
    "params.amount >= 10000",
    "params.amount < 0",
    "params.amount <= 5",
    "params.amount == 5",
    "params.amount != 5",
    "params.to.endsWith('@competitor.example')",
    "params.to.startsWith('ali')",
    "params.sql.contains('DROP') || params.sql.contains('DELETE')",
    "has(context.input_source) && context.input_source == 'user'",
    "has(params.overwrite) && params.overwrite",
    "params.cidr == '0.0.0.0/0'",
    "'ssn' in params.fields",
    "'a' in params",
    "!has(params.amount)",
    "!(params.amount > 3) && params.to == \"x\"",
    "params.flag || params.amount > 2",
    "params.flag && false",
    "params.missing || true",
    "params.nested.deep == 'v'",
    "has(params.nested.deep)",
    "params.to < 'm'",
    "action == 'deploy' && resource.startsWith('svc:')",
    "params.flag == true",
    "params.amount == params.other",
    "(params.amount > 1 || params.flag) && !(params.to == 'x')",
]

NOT_FAST = [
    "params.amount + 1 > 2",
    "size(params.fields) > 2",
    "params['amount'] > 2",
    "params.amount > 1.5",
    "params.amount > -1",
    "params.amount > 10u",
    "now.getDayOfWeek() == 1",
    "facts.owner == 'x'",
    "agent.name == 'x'",
    "params.to.matches('a.*')",
    "params.to.contains(params.cidr)",
    "r'raw' == params.to",
    "'a\\'b' == params.to",
    "params.amount > 0 ? true : false",
    "params.fields[0] == 'ssn'",
    "has(params)",
]

VALUES = [
    None, True, False, 0, 1, 5, 10000, 10001, -3, 2**63 - 1, 2**63, -(2**63), 10**30, 1.0, 5.0, 10000.5, -0.0,
    float("nan"), "", "x", "user", "alice@corp.example", "eve@competitor.example", "DROP TABLE", "0.0.0.0/0", "é", "m",
    ["ssn"], ["name", "ssn"], ["name", 1], [], {}, {"deep": "v"}, {"deep": 1}, "svc:web",
]
KEYS = ["amount", "to", "sql", "overwrite", "cidr", "fields", "flag", "missing", "nested", "other", "a"]


def cel_answer(program, activation):
    try:
        return program.execute(cel.Context(activation))
    except Exception:
        return "error"


def requests(n: int, seed: int = 16):
    rng = random.Random(seed)
    for _ in range(n):
        params = {k: rng.choice(VALUES) for k in rng.sample(KEYS, rng.randint(0, len(KEYS)))}
        context = {k: rng.choice(VALUES) for k in rng.sample(["input_source", "environment"], rng.randint(0, 2))}
        yield {"params": params, "context": context, "action": rng.choice(["deploy", "x"]), "resource": rng.choice(["svc:web", ""])}


@pytest.mark.parametrize("source", CONDITIONS)
def test_a_fast_answer_is_always_cels_answer(source):
    fast = compile_fast(source)
    assert fast is not None
    program, _ = cel_compile(source)
    answered = 0
    for activation in requests(1500):
        got = fast(activation)
        if got is UNKNOWN:
            continue
        answered += 1
        assert got is cel_answer(program, activation), (source, activation)
    assert answered > 10  # the fast path does answer


@pytest.mark.parametrize("source", NOT_FAST)
def test_conditions_outside_the_grammar_are_left_to_cel(source):
    assert compile_fast(source) is None


def test_errors_are_never_answered():
    # A missing key, a type CEL has no overload for, an int literal against a float: CEL
    # errors or compares in its own way; the fast path says UNKNOWN and CEL decides.
    checks = {
        "params.amount > 10000": [{}, {"amount": "10"}, {"amount": 10000.5}, {"amount": True}, {"amount": 2**64}],
        "params.to.endsWith('x')": [{}, {"to": 1}, {"to": None}],
        "'ssn' in params.fields": [{"fields": "ssn"}, {"fields": ["ssn", 1]}, {}],
        "params.flag == true": [{"flag": 1}],
    }
    for source, cases in checks.items():
        fast = compile_fast(source)
        for params in cases:
            assert fast({"params": params}) is UNKNOWN, (source, params)


def test_false_and_true_absorb_what_cannot_be_decided_as_in_cel():
    program_and, _ = cel_compile("params.missing && false")
    program_or, _ = cel_compile("params.missing || true")
    assert compile_fast("params.missing && false")({"params": {}}) is False is cel_answer(program_and, {"params": {}})
    assert compile_fast("params.missing || true")({"params": {}}) is True is cel_answer(program_or, {"params": {}})
    assert compile_fast("params.missing && true")({"params": {}}) is UNKNOWN


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ({"a": ["x", 1, 1.5, None, True, {"b": "é"}]}, True),
        ({"a": "\ud800"}, False),  # CEL cannot convert a lone surrogate
        ({"a": [{"b": "\udfff"}]}, False),
        ({1: "x"}, False),
        ({"a": (1, 2)}, False),
    ],
)
def test_convertible_vouches_only_for_what_cel_takes(value, ok):
    assert convertible(value) is ok
    if ok:
        cel.Context({"params": value})


def test_every_pair_of_conditions_joined_still_agrees():
    for left, right in itertools.islice(itertools.combinations(CONDITIONS[:10], 2), 20):
        for op in ("&&", "||"):
            source = f"({left}) {op} ({right})"
            fast = compile_fast(source)
            program, _ = cel_compile(source)
            for activation in requests(200, seed=len(source)):
                got = fast(activation)
                if got is not UNKNOWN:
                    assert got is cel_answer(program, activation), (source, activation)
