"""Drift between model versions: a version whose outcome or action mix differs from the
baseline's (chi-square / Fisher, scipy) is flagged; one that behaves alike is not."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from scipy import stats

from governance.decide import DecideInput, decide
from governance.drift import contingency_test
from governance.models import Agent, Anomaly, AuditEvent, ModelVersionStats

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENVELOPE = """\
agent: buyer-bot
default: deny
approvers: [finance]
drift: {{min_requests: 60, p_value: 0.01, on_shift: {on_shift}}}
capabilities:
  - action: purchase_order.create
    escalate_when: ["params.amount > 1000"]
  - action: catalogue.read
"""


def feed(agent: Agent, version: str, n: int, *, every_escalates: int, start: datetime) -> None:
    """n requests of one model version: every k-th order is large (escalates), and every
    third request is a catalogue read. Deterministic, so the tables are exact."""
    for i in range(n):
        if i % 3 == 2:
            action, params = "catalogue.read", {}
        else:
            action, params = "purchase_order.create", {"amount": 5000 if i % every_escalates == 0 else 10}
        decide(agent=agent, now=start + timedelta(seconds=i), data=DecideInput(
            action=action, resource="", params=params,
            context={"model_version": version, "confidence": 0.9, "input_source": "config"}))


@pytest.fixture
def buyer(make_agent):
    def make(on_shift: str) -> Agent:
        return make_agent("buyer-bot", ENVELOPE.format(on_shift=on_shift)).agent
    return make


def test_exactly_the_shifted_model_version_is_flagged_and_supervised(buyer):
    agent = buyer("supervise")
    feed(agent, "m-1", 150, every_escalates=10, start=T0)  # the baseline: ~10 % of orders escalate
    feed(agent, "m-2", 90, every_escalates=10, start=T0 + timedelta(hours=1))  # the same distribution
    agent.refresh_from_db()
    assert not agent.breaker_tripped
    feed(agent, "m-3", 90, every_escalates=2, start=T0 + timedelta(hours=2))  # half the orders escalate

    versions = {v.model_version: v for v in ModelVersionStats.objects.filter(agent=agent)}
    assert {k: v.verdict for k, v in versions.items()} == {"m-1": "retired", "m-2": "baseline", "m-3": "shifted"}
    assert versions["m-2"].test["shifted"] is False
    anomaly = Anomaly.objects.get(code="distribution_shift")  # exactly one
    assert anomaly.tag == "reliability"
    drift = anomaly.details["drift"]
    assert (drift["candidate"]["model_version"], drift["baseline"]["model_version"]) == ("m-3", "m-2")
    assert drift["candidate"]["outcomes"] == {"allow": 40, "escalate": 20}  # at the 60th request
    assert drift["outcome"]["p_value"] < 0.005 and drift["outcome"]["statistic"] > 0
    # The version was tested when it reached min_requests; the agent is supervised since.
    agent.refresh_from_db()
    assert agent.breaker_tripped and "distribution_shift" in agent.breaker_reason
    assert versions["m-3"].requests == 90
    assert AuditEvent.objects.filter(kind="breaker.tripped", agent=agent).count() == 1
    assert AuditEvent.objects.filter(kind="anomaly.recorded", payload__code="distribution_shift").count() == 1
    assert sorted(AuditEvent.objects.filter(kind="drift.tested").values_list("payload__verdict", flat=True)) == [
        "baseline", "shifted"]


def test_flag_records_the_anomaly_without_supervising(buyer):
    agent = buyer("flag")
    feed(agent, "m-1", 120, every_escalates=10, start=T0)
    feed(agent, "m-2", 60, every_escalates=2, start=T0 + timedelta(hours=1))
    agent.refresh_from_db()
    assert not agent.breaker_tripped
    assert Anomaly.objects.filter(code="distribution_shift").count() == 1
    # After review an admin accepts the new version as the baseline (service or command).
    with pytest.raises(CommandError, match="no requests with model_version 'm-9'"):
        call_command("drift_baseline", "buyer-bot", "m-9")
    call_command("drift_baseline", "buyer-bot", "m-2", stdout=StringIO())
    assert dict(ModelVersionStats.objects.values_list("model_version", "verdict")) == {"m-1": "retired", "m-2": "baseline"}
    assert AuditEvent.objects.filter(kind="drift.baseline_accepted").exists()


def test_a_version_under_min_requests_is_not_tested(buyer):
    agent = buyer("supervise")
    feed(agent, "m-1", 100, every_escalates=10, start=T0)
    feed(agent, "m-2", 59, every_escalates=1, start=T0 + timedelta(hours=1))
    assert ModelVersionStats.objects.get(model_version="m-2").verdict == "pending"
    assert not Anomaly.objects.exists()


def test_the_contingency_test_is_scipys():
    baseline, candidate = {"allow": 90, "escalate": 30, "deny": 10}, {"allow": 40, "escalate": 50, "deny": 10}
    result = contingency_test(baseline, candidate)
    expected = stats.chi2_contingency([[90, 30, 10], [40, 50, 10]])
    assert result["test"] == "chi2"
    assert result["p_value"] == pytest.approx(expected.pvalue)
    # A 2 × 2 table with a small expected count uses Fisher's exact test.
    small = contingency_test({"allow": 20, "deny": 1}, {"allow": 5, "deny": 6})
    assert small["test"] == "fisher_exact"
    assert small["p_value"] == pytest.approx(stats.fisher_exact([[20, 1], [5, 6]]).pvalue)
    # A zero cell makes the odds ratio infinite: stored as null (jsonb has no Infinity).
    zero = contingency_test({"allow": 20, "deny": 0}, {"allow": 5, "deny": 6})
    assert zero["test"] == "fisher_exact" and zero["statistic"] is None and zero["p_value"] < 0.01
    # Rare categories are pooled; one category left means nothing to test.
    assert contingency_test({"a": 50, "b": 1}, {"a": 40, "c": 1})["columns"] == ["a", "(other)"]
    assert contingency_test({"a": 50}, {"a": 40})["p_value"] == 1.0


def test_the_anomaly_page_shows_both_distributions_and_the_test(buyer, admin_user, client):
    agent = buyer("flag")
    feed(agent, "m-1", 120, every_escalates=10, start=T0)
    feed(agent, "m-2", 60, every_escalates=2, start=T0 + timedelta(hours=1))
    anomaly = Anomaly.objects.get(code="distribution_shift")
    client.force_login(admin_user)
    page = client.get(f"/admin/anomalies/{anomaly.pk}/").content.decode()
    assert 'data-testid="drift"' in page
    assert "m-1 <span class=\"badge ok\">baseline</span>" in page
    assert f"p = {anomaly.details['drift']['outcome']['p_value']:.3g}" in page


def test_a_failing_test_leaves_the_version_pending_and_the_decisions_recorded(buyer, monkeypatch):
    import governance.drift

    agent = buyer("supervise")
    feed(agent, "m-1", 60, every_escalates=10, start=T0)
    monkeypatch.setattr(governance.drift, "drift_compare", mock.Mock(side_effect=ValueError("bad table")))
    feed(agent, "m-2", 61, every_escalates=2, start=T0 + timedelta(hours=1))
    assert agent.requests.count() == 121
    assert ModelVersionStats.objects.get(model_version="m-2").verdict == "pending"
    monkeypatch.undo()
    feed(agent, "m-2", 1, every_escalates=2, start=T0 + timedelta(hours=2))  # tested at the next request
    assert ModelVersionStats.objects.get(model_version="m-2").verdict == "shifted"
