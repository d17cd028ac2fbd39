"""Replay preview: the draft re-evaluates recorded requests, each at its own time, with the
history before it — and writes nothing."""

from datetime import UTC, datetime, timedelta

import pytest

from adminui.replay import replay_preview
from governance.decide import DecideInput, decide
from governance.models import AuditEvent, DecisionRequest, Envelope
from governance.services import envelope_compiled, envelope_validate

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday morning
OPS = """\
agent: ops-bot
default: deny
approvers: [ops]
capabilities:
  - action: replica.teardown
    resources: ["db:*"]
    velocity: {max: 2, per: 10m, over: escalate}
    escalate_on_novel: [resource]
  - action: purchase.create
    resources: ["*"]
    params_schema: {type: object, required: [amount], properties: {amount: {type: number}}}
    deny_when: ["params.amount > 1000"]
    escalate_when: ["params.amount > 500"]
    cumulative: {param: amount, max: 1000, per: 1h, over: escalate}
"""


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ask(agent, minutes, action, resource="", **params) -> DecisionRequest:
    row, _ = decide(agent=agent, data=DecideInput(action=action, resource=resource, params=params), now=at(minutes))
    return row


def resolve(row: DecisionRequest, status: str, minutes: float) -> None:
    # Stands in for the approvals service: only the outcome and its time matter here.
    DecisionRequest.objects.filter(pk=row.pk).update(status=status, decided_at=at(minutes))


def draft(source: str):
    return envelope_validate(source)[1]


@pytest.fixture
def ops(make_agent):
    agent = make_agent("ops-bot", OPS).agent
    rows = [ask(agent, 0, "replica.teardown", "db:orders")]  # novel: escalate
    resolve(rows[0], "approved", 1.5)
    rows.append(ask(agent, 2, "replica.teardown", "db:orders"))  # familiar now, 2nd in window: allow
    rows.append(ask(agent, 3, "replica.teardown", "db:orders"))  # 3rd in 10m: escalate
    resolve(rows[2], "rejected", 3.5)
    rows += [
        ask(agent, 4, "replica.teardown", "db:orders"),  # the rejected one no longer counts: 3rd again
        ask(agent, 5, "purchase.create", "vendor:a", amount=400),  # allow
        ask(agent, 6, "purchase.create", "vendor:a", amount=400),  # allow
        ask(agent, 7, "purchase.create", "vendor:a", amount=400),  # 1200 in 1h: escalate
        ask(agent, 8, "purchase.create", "vendor:a", amount=2000),  # deny_when: deny
        ask(agent, 9, "purchase.create", "vendor:a", amount=600),  # over 500: escalate
        ask(agent, 30, "replica.teardown", "db:orders"),  # window passed: allow
    ]
    return agent, rows


def test_the_recorded_history_is_what_we_think(ops):
    _agent, rows = ops
    assert [r.decision for r in rows] == [
        "escalate", "allow", "escalate", "escalate", "allow", "allow", "escalate", "deny", "escalate", "allow"
    ]


def test_replaying_the_active_envelope_changes_nothing(ops):
    agent, rows = ops
    agent.refresh_from_db()
    result = replay_preview(agent=agent, compiled=envelope_compiled(agent.active_envelope), days=1, now=at(60))
    assert result.replayed == len(rows)
    assert result.changed == 0, result.changes
    assert result.matrix == {("escalate", "escalate"): 5, ("allow", "allow"): 4, ("deny", "deny"): 1}


def test_a_looser_draft_lists_the_answers_that_would_change(ops):
    agent, rows = ops
    events, requests, versions = AuditEvent.objects.count(), DecisionRequest.objects.count(), Envelope.objects.count()
    looser = (
        OPS.replace("velocity: {max: 2", "velocity: {max: 5")
        .replace("params.amount > 500", "params.amount > 800")
        .replace("max: 1000, per: 1h", "max: 5000, per: 1h")
    )
    result = replay_preview(agent=agent, compiled=draft(looser), days=1, now=at(60))

    assert result.changed == 4
    assert result.transitions == [("escalate", "allow", 4)]
    changed = {c.request_id for c in result.changes}
    assert changed == {str(rows[i].id) for i in (2, 3, 6, 8)}
    assert [c.at for c in result.changes] == sorted((c.at for c in result.changes), reverse=True)
    # A preview writes nothing.
    assert (AuditEvent.objects.count(), DecisionRequest.objects.count(), Envelope.objects.count()) == (events, requests, versions)


def test_a_stricter_draft_turns_allows_into_escalations_and_denials(ops):
    agent, _rows = ops
    stricter = OPS.replace("params.amount > 1000", "params.amount > 500").replace(
        "velocity: {max: 2, per: 10m, over: escalate}", "velocity: {max: 1, per: 10m, over: deny}"
    )
    result = replay_preview(agent=agent, compiled=draft(stricter), days=1, now=at(60))
    assert ("allow", "deny") in {(b, a) for b, a, _n in result.transitions}
    assert result.matrix[("escalate", "deny")] >= 1  # the 600 order now hits the hard limit
    reasons = {r["code"] for c in result.changes for r in c.reasons}
    assert {"velocity_exceeded", "deny_when"} <= reasons


def test_only_the_last_n_days_are_replayed(ops):
    agent, rows = ops
    later = T0 + timedelta(days=3)
    ask(agent, 3 * 24 * 60, "purchase.create", "vendor:a", amount=10)
    result = replay_preview(agent=agent, compiled=envelope_compiled(agent.active_envelope), days=1, now=later + timedelta(minutes=1))
    assert result.replayed == 1


def test_requests_from_before_the_window_still_count_as_history(ops):
    agent, _rows = ops
    # db:orders became familiar on day 0; three days later it is still not novel.
    row = ask(agent, 3 * 24 * 60, "replica.teardown", "db:orders")
    assert row.decision == "allow"
    result = replay_preview(
        agent=agent, compiled=envelope_compiled(agent.active_envelope), days=1, now=at(3 * 24 * 60 + 1)
    )
    assert (result.replayed, result.changed) == (1, 0)


def test_sequences_see_other_agents_history(make_agent):
    net = make_agent("net-bot", "agent: net-bot\ncapabilities: [{action: 'security_group.*'}]\n").agent
    deployer_source = "agent: deploy-bot\ncapabilities: [{action: service.deploy}]\n"
    deployer = make_agent("deploy-bot", deployer_source).agent
    ask(net, 0, "security_group.open", "svc:payments")
    chained = ask(deployer, 5, "service.deploy", "svc:payments")
    unrelated = ask(deployer, 6, "service.deploy", "svc:search")
    assert chained.decision == unrelated.decision == "allow"

    with_sequence = deployer_source + (
        "sequences:\n  - {name: exposure, within: 30m, match: ['security_group.*', service.deploy], key: resource}\n"
    )
    result = replay_preview(agent=deployer, compiled=draft(with_sequence), days=1, now=at(60))
    assert [(c.request_id, c.after) for c in result.changes] == [(str(chained.id), "escalate")]
    assert result.changes[0].reasons[0]["code"] == "sequence_complete"


def test_breaker_supervision_is_kept_but_envelope_supervision_follows_the_draft(make_agent):
    from governance.models import Agent

    bot = make_agent("quiet-bot", "agent: quiet-bot\nmode: supervised\ncapabilities: [{action: read}]\n").agent
    by_envelope = ask(bot, 0, "read", "doc:1")
    Agent.objects.filter(pk=bot.pk).update(breaker_tripped_at=at(1))
    bot.refresh_from_db()
    by_breaker = ask(bot, 2, "read", "doc:1")
    assert by_envelope.decision == by_breaker.decision == "escalate"
    assert by_breaker.agent_mode == "supervised"

    enforce = draft("agent: quiet-bot\ncapabilities: [{action: read}]\n")
    result = replay_preview(agent=bot, compiled=enforce, days=1, now=at(60))
    assert [(c.request_id, c.after) for c in result.changes] == [(str(by_envelope.id), "allow")]


