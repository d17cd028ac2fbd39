"""Cumulative budgets are counted per currency, never added across currencies (issue 12):
the engine over MemoryState, and the card's sentence for a budget reason."""

from datetime import UTC, datetime, timedelta

import pytest

from governance.policy import MemoryState, PolicyRequest, compile_envelope, evaluate
from governance.policy.envelope import EnvelopeError
from governance.policy.state import Recorded, currency_group
from webqueue.impact import reason_sentence

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def env(**cumulative):
    return compile_envelope({"agent": "bot", "capabilities": [{
        "action": "po.*", "cumulative": {"param": "amount", "max": 50000, "per": "1d", "over": "deny", **cumulative},
    }]})


def history(*rows, status="allowed"):
    return MemoryState("bot", [
        Recorded("bot", "po.create", "", params, {}, NOW - timedelta(minutes=5 + i), status) for i, params in enumerate(rows)
    ])


def ask(envelope, state, params):
    return evaluate(envelope, PolicyRequest("po.create", "", params, {}, "bot", NOW), state)


def codes(decision):
    return [r.code for r in decision.reasons]


def test_currency_groups():
    assert [currency_group(p) for p in ({}, {"currency": None}, {"currency": "USD"}, {"currency": "usd"},
                                        {"currency": "EURO"}, {"currency": 978}, "not a dict")] == [
        "", "", "USD", "?", "?", "?", ""]


def test_without_a_currency_each_currency_has_its_own_total():
    state = history({"amount": 40000, "currency": "USD"}, {"amount": 45000, "currency": "EUR"}, {"amount": 30000})
    envelope = env()
    # USD 40,000 + 10,000 = 50,000: EUR's 45,000 and the 30,000 without a currency are not added.
    assert ask(envelope, state, {"amount": 10000, "currency": "USD"}).decision == "allow"
    over = ask(envelope, state, {"amount": 10001, "currency": "USD"})
    assert (over.decision, codes(over)) == ("deny", ["cumulative_exceeded"])
    assert over.reasons[0].message == "amount 50001 USD in 1d > 50000 USD"
    assert ask(envelope, state, {"amount": 5000, "currency": "EUR"}).decision == "allow"
    assert codes(ask(envelope, state, {"amount": 5001, "currency": "EUR"})) == ["cumulative_exceeded"]
    # Requests without a currency are a group of their own.
    assert ask(envelope, state, {"amount": 20000}).decision == "allow"
    no_currency = ask(envelope, state, {"amount": 20001})
    assert no_currency.reasons[0].message == "amount 50001 in 1d > 50000"
    assert ask(envelope, state, {"amount": 49999, "currency": "GBP"}).decision == "allow"


def test_a_budget_in_one_currency_counts_it_and_requests_without_one():
    state = history({"amount": 30000, "currency": "USD"}, {"amount": 15000}, {"amount": 900000, "currency": "EUR"})
    envelope = env(currency="USD")
    assert ask(envelope, state, {"amount": 5000, "currency": "USD"}).decision == "allow"
    assert ask(envelope, state, {"amount": 5000}).decision == "allow"  # no currency: the budget's
    over = ask(envelope, state, {"amount": 5001})
    assert (codes(over), over.reasons[0].message) == (["cumulative_exceeded"], "amount 50001 USD in 1d > 50000 USD")


@pytest.mark.parametrize("currency", ["EUR", "usd", "US", 840, True])
def test_another_currency_escalates_and_is_never_allowed_by_the_budget(currency):
    envelope = env(currency="USD")
    decision = ask(envelope, history(), {"amount": 1, "currency": currency})  # far within the budget
    assert (decision.decision, codes(decision), decision.violation) == ("escalate", ["currency_mismatch"], False)
    assert "USD" in decision.reasons[0].message and decision.reasons[0].rule == "capabilities[0].cumulative"


def test_an_unreadable_currency_escalates_without_a_budget_currency_too():
    decision = ask(env(), history({"amount": 1, "currency": "usd"}), {"amount": 1, "currency": "usd"})
    assert (decision.decision, codes(decision)) == ("escalate", ["currency_mismatch"])


def test_left_requests_do_not_count_in_any_currency():
    state = history({"amount": 50000, "currency": "USD"}, status="rejected")
    assert ask(env(currency="USD"), state, {"amount": 50000, "currency": "USD"}).decision == "allow"


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", 840, ""])
def test_the_budget_currency_is_three_uppercase_letters(currency):
    with pytest.raises(EnvelopeError):
        env(currency=currency)


def test_the_card_names_the_currency_of_the_budget():
    reason = {"code": "cumulative_exceeded", "message": "amount 65750 USD in 1d > 50000 USD"}
    assert reason_sentence(reason, {"currency": "USD"}) == "$65,750 today against a $50,000 daily budget"
    assert reason_sentence(reason, {}) == "$65,750 today against a $50,000 daily budget"  # counted as the budget's
    euro = {"code": "cumulative_exceeded", "message": "amount 51000 EUR in 1h > 50000 EUR"}
    assert reason_sentence(euro, {"currency": "EUR"}) == "€51,000 this hour against a €50,000 hourly budget"
    plain = {"code": "cumulative_exceeded", "message": "amount 51000 in 3d > 50000"}
    assert reason_sentence(plain, {}) == "51,000 in 3d against a 50,000 budget per 3d"
