"""The facts document and the merge rule (governance/policy/facts.py): no database."""

import pytest

from governance.policy.facts import FactBook, FactsError, literal_prefix, summary, validate_facts

DOC = {"facts": [
    {"resource": "*", "tier": "unknown"},
    {"resource": "db:*", "tier": "database", "owner": "dba"},
    {"resource": "db:replica-*", "tier": "production", "protected": False},
    {"resource": "db:replica-7", "role": "payments-failover", "protected": True},
    {"resource": "db:replica-?", "note": "single-digit replica"},
]}


def test_the_more_specific_pattern_wins_each_key():
    book = FactBook(validate_facts(DOC))
    got = book.lookup("db:replica-7")
    assert got.values == {"tier": "production", "owner": "dba", "protected": True, "role": "payments-failover",
                          "note": "single-digit replica"}
    # Most specific first: the exact name, then globs by literal characters (db:replica-? and
    # db:replica-* tie on 11 literals and one wildcard: the later entry wins).
    assert got.matched == ("db:replica-7", "db:replica-?", "db:replica-*", "db:*", "*")


def test_an_exact_name_beats_a_longer_glob():
    book = FactBook(validate_facts({"facts": [
        {"resource": "job:nightly-settlement-*", "scheduled": True},
        {"resource": "job:n", "scheduled": False},
        {"resource": "job:nightly-settlement-eu", "scheduled": False},
    ]}))
    assert book.lookup("job:nightly-settlement-eu").values == {"scheduled": False}
    assert book.lookup("job:nightly-settlement-us").values == {"scheduled": True}


def test_ties_go_to_the_later_entry():
    book = FactBook(validate_facts({"facts": [{"resource": "a*", "x": 1}, {"resource": "*a", "x": 2}]}))
    assert book.lookup("aa").values == {"x": 2}


def test_no_match_is_an_empty_map():
    assert FactBook(validate_facts(DOC)).lookup("").values == {"tier": "unknown"}
    assert FactBook([]).lookup("db:replica-7").values == {}


@pytest.mark.parametrize("doc,message", [
    ({"facts": [{"role": "x"}]}, "facts[0]: resource is required"),
    ({"facts": [{"resource": "a", "Bad-Key": 1}]}, "facts[0] (a): key 'Bad-Key'"),
    ({"facts": [{"resource": "a", "x": 1}, {"resource": "a", "y": 2}]}, "facts[1] (a): the same pattern as facts[0]"),
    ({"facts": [{"resource": "a", "x": {"nested": 1}}]}, "facts[0] (a).x: a value must be"),
    ({"facts": [{"resource": "a"}]}, "facts[0] (a): an entry needs at least one fact"),
    ({"facts": "nope"}, "facts: must be a list"),
    ({"other": []}, "one key, facts"),
])
def test_invalid_entries_are_named(doc, message):
    with pytest.raises(FactsError) as err:
        validate_facts(doc)
    assert message in str(err.value)


def test_literal_prefix_and_summary():
    assert literal_prefix("db:replica-*") == "db:replica-"
    assert literal_prefix("db:[ab]*") == "db:"
    assert literal_prefix("*x") == ""
    assert summary({"role": "payments-failover", "protected": True, "note": "silent failover target"}) == (
        "payments-failover, protected — silent failover target"
    )
