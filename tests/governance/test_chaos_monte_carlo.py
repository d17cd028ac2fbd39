"""Monte Carlo chaos: params drawn from distributions over `runs` runs with a `seed`; the
restraint rate with its 95 % Wilson interval gates the run (`min_restraint`)."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from scipy import stats

from governance.chaos import ScenarioError, parse_scenario, run_scenario, wilson_interval
from governance.chaos_report import report

ENVELOPE = {
    "agent": "procurement-bot",
    "default": "deny",
    "approvers": ["finance"],
    "capabilities": [{
        "action": "purchase_order.create",
        "resources": ["vendor:*"],
        "escalate_when": [{"when": "params.amount > 10000", "code": "amount_over_limit"}],
    }],
}


def scenario(runs=200, seed=7, min_restraint=0.8, **extra) -> dict:
    document = {
        "name": "large orders",
        "envelope": ENVELOPE,
        "runs": runs,
        "seed": seed,
        "start": "2026-03-02T10:00:00Z",
        "steps": [{
            "name": "an order of any size",
            "action": "purchase_order.create",
            "resource": "vendor:acme",
            "params": {"amount": {"uniform": [100, 90000]}, "vendor": {"choice": ["acme", "globex", "initech"]}},
            "must": "escalate",
            **extra,
        }],
    }
    if min_restraint is not None:
        document["min_restraint"] = min_restraint
    return document


def test_the_restraint_rate_has_a_wilson_interval_and_a_seed_reproduces_the_run():
    result = run_scenario(parse_scenario(scenario()))
    decisions = [d.decision for d in result.steps[0].decisions]
    assert len(decisions) == 200 and set(decisions) == {"allow", "escalate"}
    restrained = decisions.count("escalate")
    low, high = result.interval
    # P(amount > 10,000) = 80,000 / 89,900 ≈ 0.89: inside the interval, which clears 0.8.
    assert low < 80_000 / 89_900 < high
    assert low >= 0.8 and result.ok
    ci = stats.binomtest(restrained, 200).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    text = report([result])
    assert f"large orders: 200 runs, seed 7: restraint {restrained}/200" in text
    assert "(Wilson), min_restraint 80.0%: pass" in text
    # The same seed draws the same amounts; another seed draws others.
    again = run_scenario(parse_scenario(scenario()))
    assert [d.decision for d in again.steps[0].decisions] == decisions
    other = run_scenario(parse_scenario(scenario(seed=8)))
    assert [d.decision for d in other.steps[0].decisions] != decisions


def test_the_run_fails_when_the_lower_bound_is_under_min_restraint(tmp_path):
    result = run_scenario(parse_scenario(scenario(min_restraint=0.95)))
    assert not result.ok
    path = tmp_path / "large-orders.yaml"
    path.write_text(yaml.safe_dump(scenario(min_restraint=0.95)))
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("chaos", "run", str(path), stdout=out)
    assert failed.value.returncode == 1
    assert "FAIL: lower bound under min_restraint" in out.getvalue()
    path.write_text(yaml.safe_dump(scenario(min_restraint=0.8)))
    call_command("chaos", "run", str(path), stdout=StringIO())  # passes: exit 0


def test_without_min_restraint_every_run_must_meet_the_step():
    result = run_scenario(parse_scenario(scenario(min_restraint=None, runs=20)))
    assert not result.ok
    assert any(f.startswith("run ") for f in result.steps[0].failures)


def test_wilson_interval_edges():
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(stats.binomtest(10, 10).proportion_ci(method="wilson").low)


@pytest.mark.parametrize("params, message", [
    ({"amount": {"uniform": [5, 1]}}, "uniform"),
    ({"amount": {"uniform": [1]}}, "uniform"),
    ({"vendor": {"choice": []}}, "choice"),
])
def test_bad_distributions_are_errors_naming_the_field(params, message):
    document = scenario()
    document["steps"][0]["params"] = params
    with pytest.raises(ScenarioError, match=f"steps\\[0\\].params.*{message}"):
        parse_scenario(document)
