"""Risk score (SPEC §5 step 8): factors in [0,1] returned with every decision; the envelope's
risk_threshold escalates; a confident agent bypasses nothing (seed incident 1: a batch job
rolled back at 0.87 confidence)."""

from datetime import UTC, datetime

import pytest
import time_machine

from governance.models import DecisionRequest

pytestmark = pytest.mark.django_db

ROLLBACK = {"action": "job.rollback", "resource": "job:nightly-reconcile"}


def factors(body) -> dict[str, float]:
    return {f["name"]: f["weight"] for f in body["risk"]["factors"]}


def codes(body):
    return {r["code"] for r in body["reasons"]}


def test_high_confidence_on_a_novel_target_still_escalates(make_agent):
    ops = make_agent("ops-remediator", "ops-remediator.yaml")
    for confidence in (0.87, 1.0):
        body = ops.decide({**ROLLBACK, "context": {"confidence": confidence, "input_source": "model",
                                                   "reasoning": "anomaly score 0.87 on job throughput"}}).json()
        assert body["decision"] == "escalate", confidence
        assert "novel_value" in codes(body)
        assert "novel_resource" in factors(body)
    # ... and stays escalated while nobody has approved it: asking again is not familiarity.
    assert DecisionRequest.objects.filter(agent=ops.agent, status="pending").count() == 2


def test_factors_are_returned_and_add_up_to_the_score(make_agent):
    ops = make_agent("ops-remediator", "ops-remediator.yaml")
    body = ops.decide({**ROLLBACK, "context": {"confidence": 0.5, "input_source": "user"}}).json()
    got = factors(body)
    assert got["novel_resource"] == 0.3
    assert got["low_confidence"] == pytest.approx(0.2)
    assert got["input_source_user"] == 0.2
    assert got.get("velocity", 0) == 0  # the first request in the window
    assert body["risk"]["score"] == pytest.approx(min(1.0, sum(got.values())), abs=1e-3)
    assert 0 <= body["risk"]["score"] <= 1


RISKY = """
agent: risky-bot
risk_threshold: 0.5
capabilities:
  - action: report.send
    hours: {allow: "Mon-Fri 09:00-17:00", tz: UTC, outside: escalate}
    velocity: {max: 4, per: 1h, over: escalate}
"""
WEDNESDAY_NOON = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def test_risk_threshold_escalates_and_low_risk_is_allowed(make_agent):
    bot = make_agent("risky-bot", envelope=RISKY)
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        calm = bot.decide({"action": "report.send", "resource": "",
                           "context": {"confidence": 0.95, "input_source": "system"}}).json()
        assert calm["decision"] == "allow"
        assert calm["risk"]["score"] < 0.5
        body = bot.decide({"action": "report.send", "resource": "team:finance",
                           "context": {"confidence": 0.4, "input_source": "user"}}).json()
    assert body["decision"] == "escalate"
    assert codes(body) == {"risk_threshold"}
    assert body["risk"]["score"] >= 0.5


def test_off_hours_and_velocity_raise_the_score(make_agent):
    bot = make_agent("risky-bot", envelope=RISKY.replace("risk_threshold: 0.5", "risk_threshold: 1"))
    context = {"confidence": 1.0, "input_source": "system"}
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        scores = [bot.decide({"action": "report.send", "context": context}).json()["risk"]["score"] for _ in range(3)]
    assert scores == sorted(scores) and scores[0] < scores[-1]
    with time_machine.travel(datetime(2026, 11, 18, 3, 0, tzinfo=UTC), tick=False):
        night = bot.decide({"action": "report.send", "context": context}).json()
    assert factors(night)["off_hours"] == 0.2
    assert "outside_hours" in codes(night)


def test_missing_confidence_and_source_count_as_risk(make_agent):
    bot = make_agent("risky-bot", envelope=RISKY.replace("risk_threshold: 0.5", "risk_threshold: 1"))
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        body = bot.decide({"action": "report.send"}).json()
    assert factors(body) == {"confidence_unknown": 0.1, "input_source_unknown": 0.05}
