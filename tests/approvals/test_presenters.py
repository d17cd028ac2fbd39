"""How a card shows money, risk and time: the things people misjudge at 3 AM."""

from datetime import UTC, datetime, timedelta

import pytest

from webqueue.presenters import ago, format_amount, risk_level


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (47000, "USD", "$47,000"),
        (12500.5, "EUR", "€12,500.50"),
        ("300", "chf", "300 CHF"),
        (1234567, None, "1,234,567"),
        (-20, "GBP", "-£20"),
        (0.1, "USD", "$0.10"),
    ],
)
def test_amounts_are_grouped_and_carry_their_currency(value, currency, shown):
    assert format_amount(value, currency) == shown


@pytest.mark.parametrize("value", [True, None, "lots", float("nan"), float("inf"), [1], {"a": 1}])
def test_things_that_are_not_amounts_are_not_shown_as_amounts(value):
    assert format_amount(value, "USD") is None


def test_risk_levels():
    assert [risk_level(s) for s in (0.0, 0.39, 0.4, 0.69, 0.7, 1.0)] == ["low", "low", "medium", "medium", "high", "high"]


def test_ago_is_coarse():
    now = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    assert [ago(now - timedelta(seconds=s), now) for s in (5, 90, 7200, 3 * 86400)] == [
        "just now", "1 min ago", "2 h ago", "3 d ago",
    ]
