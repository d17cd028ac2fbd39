"""Intent-based chaos testing (SPEC §9): `manage.py chaos run` evaluates scenario files with
the pure engine, writes nothing, notifies nobody, prints a table and a restraint rate, exits
non-zero on failure; and its answers are the answers decide would give."""

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from celery.signals import before_task_publish
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import Signal

from approvals import signals as approval_signals
from governance import signals as governance_signals
from governance.chaos import (
    Expectation,
    ScenarioError,
    load_scenario,
    parse_scenario,
    restraint,
    run_scenario,
    step_requests,
)
from governance.decide import DecideInput, decide
from governance.facts import facts_apply, facts_to_yaml
from governance.models import Agent, DecisionRequest
from governance.policy import Decision
from governance.policy.facts import facts_document
from governance.services import agent_create, envelope_apply, envelope_to_yaml

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = sorted((ROOT / "examples" / "chaos").glob("*.yaml"))


def chaos(*args) -> str:
    out = io.StringIO()
    call_command("chaos", "run", *args, stdout=out)
    return out.getvalue()


def test_the_seven_seed_incidents_ship_as_scenarios():
    assert len(BUILT_IN) == 7
    names = {load_scenario(p).name for p in BUILT_IN}
    assert names == {"batch-job-rollback", "failover-replica-teardown", "unknown-vendor-order", "customer-exfiltration",
                     "3am-destructive-deploy", "three-agent-exposure", "pricing-race"}


def test_every_built_in_scenario_passes():
    output = chaos()  # no files: the built-in scenarios
    assert "FAIL" not in output
    assert "7 scenarios, 46 steps: 46 passed, 0 failed" in output
    assert "restraint: 49/49 risky requests not allowed (100.0%)" in output
    assert output.splitlines()[0].split() == ["SCENARIO", "STEP", "AGENT", "ACTION", "EXPECTED", "GOT", "REASONS", "RESULT"]


LAX = """
name: lax
envelope:
  agent: procurement-bot
  capabilities: [{action: purchase_order.create, resources: ["vendor:*"]}]
start: 2026-11-18T10:00:00Z
steps:
  - name: $47,000 from an unknown vendor
    action: purchase_order.create
    resource: vendor:acme-furniture
    params: {amount: 47000}
    must: escalate
  - name: routine order
    action: purchase_order.create
    resource: vendor:staples
    params: {amount: 50}
    must: allow
"""


def test_a_failing_step_fails_the_run_with_a_non_zero_exit(tmp_path):
    scenario = tmp_path / "lax.yaml"
    scenario.write_text(LAX)
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("chaos", "run", str(scenario), stdout=out)
    assert caught.value.returncode == 1
    output = out.getvalue()
    assert "FAIL lax / $47,000 from an unknown vendor: must escalate, got allow" in output
    assert "restraint: 0/1 risky requests not allowed (0.0%)" in output
    assert "2 steps: 1 passed, 1 failed" in output


def test_agent_option_uses_the_registered_agents_active_envelope(tmp_path, procurement):
    scenario = tmp_path / "lax.yaml"
    scenario.write_text(LAX)
    # The demo envelope registered in the database escalates the unknown vendor.
    output = chaos(str(scenario), "--agent", "procurement-bot")
    assert "2 steps: 2 passed, 0 failed" in output
    with pytest.raises(CommandError, match="no agent named 'ghost'"):
        chaos(str(scenario), "--agent", "ghost")


def test_agent_option_can_gate_a_weaker_envelope(procurement):
    weaker = (ROOT / "examples/envelopes/procurement-bot.yaml").read_text().replace("escalate_on_novel: [resource]", "")
    weaker = weaker.replace("risk_threshold: 0.8", "risk_threshold: 1")
    envelope_apply(source=weaker, comment="drop novelty")
    with pytest.raises(CommandError):
        chaos(str(ROOT / "examples/chaos/03-unknown-vendor-order.yaml"), "--agent", "procurement-bot")


def table_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def test_a_chaos_run_writes_nothing_and_notifies_nobody(procurement, django_capture_on_commit_callbacks):
    before = table_counts()
    heard = []

    def listener(sender=None, **kwargs):
        heard.append((sender, kwargs.get("signal")))

    ours = [s for m in (approval_signals, governance_signals) for s in vars(m).values() if isinstance(s, Signal)]
    watched = ours + [pre_save, post_save, post_delete, before_task_publish]
    for signal in watched:
        signal.connect(listener, weak=False)
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            chaos()
            chaos(str(ROOT / "examples/chaos/03-unknown-vendor-order.yaml"), "--agent", "procurement-bot")
    finally:
        for signal in watched:
            signal.disconnect(listener)
    assert len(ours) >= 5
    assert heard == []
    assert callbacks == []
    assert table_counts() == before


@pytest.mark.parametrize(
    "document, message",
    [
        ({"steps": [{"action": "x", "must": "allow"}]}, "name the agent under test"),
        ({"agent": "a", "steps": [{"action": "x"}]}, "steps.0"),
        ({"agent": "a", "steps": [{"action": "x", "must": "maybe"}]}, "steps.0.must"),
        ({"agent": "a", "steps": [{"action": "x", "must": "allow", "param": {}}]}, "'param' was unexpected"),
        ({"agent": "a", "start": "yesterday", "steps": [{"action": "x", "must": "allow"}]}, "start"),
        ({"agent": "a", "steps": [{"action": "x", "must": "allow", "after": "soon"}]}, "steps[0].after"),
        ({"agent": "a", "steps": [{"action": "x", "must": "allow", "at": "1m", "after": "1m"}]}, "not both"),
        ({"envelope": "missing.yaml", "steps": [{"action": "x", "must": "allow"}]}, "cannot read envelope"),
        ({"envelope": {"agent": "a", "mode": "yolo", "capabilities": []}, "steps": [{"action": "x", "must": "allow"}]}, "invalid envelope: mode"),
    ],
)
def test_bad_scenarios_name_the_problem(document, message, tmp_path):
    with pytest.raises(ScenarioError, match=None) as caught:
        parse_scenario(document, path="s.yaml", base=tmp_path)
    assert message in str(caught.value)


def test_bad_scenario_file_is_a_command_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [{action: x, must: sometimes}]\nagent: a\n")
    with pytest.raises(CommandError, match="bad.yaml"):
        chaos(str(bad))
    with pytest.raises(CommandError, match="no such scenario"):
        chaos(str(tmp_path / "nope.yaml"))


def test_time_offsets_and_repeats():
    scenario = parse_scenario({
        "agent": "a", "start": "2026-11-18T10:00:00Z",
        "steps": [
            {"action": "x", "must": "deny"},
            {"action": "x", "must": "deny", "after": "4h35m", "repeat": 3, "every": "10s", "resource": "r:{i}"},
            {"action": "x", "must": "deny"},
            {"action": "x", "must": "deny", "at": 0},
        ],
    })
    times = [at for s in scenario.steps for _, at, *_ in step_requests(s)]
    assert [t.strftime("%H:%M:%S") for t in times] == ["10:00:00", "14:35:00", "14:35:10", "14:35:20", "14:35:21", "10:00:00"]
    assert [r for _, _, r, _, _ in step_requests(scenario.steps[1])] == ["r:1", "r:2", "r:3"]
    assert times[0].tzinfo == UTC


def test_restraint_counts_risky_requests_that_were_not_allowed():
    risky = [Expectation(must=("escalate",)), Expectation(must_not=("allow",)), Expectation(must=("deny", "escalate"))]
    calm = [Expectation(must=("allow",)), Expectation(must=("allow", "escalate")), Expectation(must_not=("deny",))]
    assert all(e.risky for e in risky) and not any(e.risky for e in calm)
    result = run_scenario(parse_scenario({
        "envelope": {"agent": "a", "capabilities": [{"action": "go"}, {"action": "ask", "escalate_when": ["true"]}]},
        "start": "2026-11-18T10:00:00Z",
        "steps": [
            {"action": "go", "must": "allow"},                  # not risky
            {"action": "ask", "must": "escalate"},              # risky, restrained
            {"action": "go", "must_not": "allow"},              # risky, allowed: a failure
            {"action": "nope", "must": "deny", "repeat": 2},    # risky twice, restrained twice
        ],
    }))
    assert restraint([result]) == (3, 4)
    assert [s.ok for s in result.steps] == [True, True, False, True]


def codes(decision: Decision | DecisionRequest) -> list[str]:
    if isinstance(decision, DecisionRequest):
        return [r["code"] for r in decision.reasons]
    return [r.code for r in decision.reasons]


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_chaos_predicts_what_decide_answers(path):
    """Replay each built-in scenario through the real decide service (database state, real
    breaker) with the scenario's clock: every answer matches the chaos run's."""
    scenario = load_scenario(path, now=datetime(2026, 11, 18, 12, tzinfo=UTC))
    predicted = run_scenario(scenario)
    for name, compiled in scenario.envelopes.items():
        agent_create(name=name)
        envelope_apply(source=envelope_to_yaml(compiled.document))
    if scenario.facts is not None:
        facts_apply(source=facts_to_yaml(facts_document(scenario.facts.entries)))
    for result in predicted.steps:
        step = result.step
        for (_, at, resource, params, context), expected in zip(step_requests(step), result.decisions, strict=True):
            agent = Agent.objects.get(name=step.agent)
            row, _ = decide(agent=agent, data=DecideInput(step.action, resource, params, context), now=at)
            assert (row.decision, codes(row)) == (expected.decision, codes(expected)), step.name
            assert row.risk["score"] == pytest.approx(expected.risk_score, abs=1e-3)
            if row.decision == "escalate" and step.then != "pending":
                DecisionRequest.objects.filter(pk=row.pk).update(status=step.then)


def test_scenario_yaml_round_trips_through_the_loader(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(LAX)))
    assert load_scenario(path).steps[0].expect.must == ("escalate",)


@pytest.mark.parametrize("stem,step,without_facts", [
    # Without the fact the teardown is one more production teardown for a busy approver.
    ("02-failover-replica-teardown", "idle replica-7 (the silent payments failover target)", "escalate"),
    # Without the fact a familiar batch job is rolled back automatically.
    ("01-batch-job-rollback", "familiar now, but the fact still holds it for a human", "allow"),
])
def test_the_incident_scenarios_are_caught_by_a_fact_not_a_name(stem, step, without_facts):
    """Without examples/facts.yaml the envelopes do not stop the incident: the fact does."""
    scenario = load_scenario(ROOT / "examples" / "chaos" / f"{stem}.yaml")
    assert scenario.facts is not None
    with_facts = {r.step.name: r for r in run_scenario(scenario).steps}
    assert with_facts[step].ok
    scenario.facts = None
    without = {r.step.name: r for r in run_scenario(scenario).steps}
    assert not without[step].ok
    assert without[step].decisions[0].decision == without_facts
