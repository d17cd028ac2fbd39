"""Circuit breaker (SPEC §5): enough violations in the window put the agent in supervised
mode, audited and announced after commit; only an admin resets it."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from governance import signals
from governance.breaker import breaker_reset
from governance.decide import DecideInput, decide
from governance.errors import Conflict, NotEligible
from governance.models import Agent, AuditEvent, DecisionRequest

pytestmark = pytest.mark.django_db

ENVELOPE = """
agent: ops-bot
approvers: [ops]
breaker: {violations: 3, window: 10m}
capabilities:
  - action: service.restart
    resources: ["service:*"]
"""
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def ops(make_agent):
    return make_agent("ops-bot", envelope=ENVELOPE)


@pytest.fixture
def heard():
    """Every breaker signal sent, in order."""
    got = []

    def tripped(sender, **kw):
        got.append(("tripped", kw))

    def reset(sender, **kw):
        got.append(("reset", kw))

    signals.breaker_tripped.connect(tripped)
    signals.breaker_reset.connect(reset)
    yield got
    signals.breaker_tripped.disconnect(tripped)
    signals.breaker_reset.disconnect(reset)


def violate(agent, at):
    row, _ = decide(agent=agent, data=DecideInput(action="db.drop", resource="db:main"), now=at)
    assert row.violation
    return row


def restart(agent, at):
    return decide(agent=agent, data=DecideInput(action="service.restart", resource="service:web"), now=at)[0]


def test_violations_reaching_the_threshold_trip_the_breaker(ops, heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(3):
            body = ops.decide({"action": "db.drop", "resource": f"db:{i}"}).json()
            assert body["decision"] == "deny"
    agent = Agent.objects.get(pk=ops.agent.pk)
    assert agent.breaker_tripped_at is not None
    assert "3 violations within 10m" in agent.breaker_reason
    event = AuditEvent.objects.get(kind="breaker.tripped", agent=agent)
    assert event.actor == "system:breaker"
    assert event.payload["violations"] == 3 and event.payload["threshold"] == 3
    assert heard == [("tripped", {"agent_id": agent.pk, "reason": agent.breaker_reason, "signal": signals.breaker_tripped})]

    # Supervised: what was allowed now needs a human.
    body = ops.decide({"action": "service.restart", "resource": "service:web"}).json()
    assert body["decision"] == "escalate"
    assert "supervised" in {r["code"] for r in body["reasons"]}
    assert DecisionRequest.objects.get(pk=body["id"]).agent_mode == "supervised"


def test_a_tripped_breaker_trips_once(ops, heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(6):
            ops.decide({"action": "db.drop", "resource": f"db:{i}"})
    assert AuditEvent.objects.filter(kind="breaker.tripped").count() == 1
    assert [name for name, _ in heard] == ["tripped"]


def test_violations_outside_the_window_do_not_count(ops):
    violate(ops.agent, T0)
    violate(ops.agent, T0 + timedelta(minutes=1))
    violate(ops.agent, T0 + timedelta(minutes=10, seconds=30))  # the first has left the window
    assert not Agent.objects.get(pk=ops.agent.pk).breaker_tripped
    violate(ops.agent, T0 + timedelta(minutes=10, seconds=45))
    assert Agent.objects.get(pk=ops.agent.pk).breaker_tripped


def test_escalations_are_not_violations(make_agent):
    bot = make_agent("ops-bot", envelope=ENVELOPE + "    escalate_when: ['true']\n")
    for _ in range(5):
        assert bot.decide({"action": "service.restart", "resource": "service:web"}).json()["decision"] == "escalate"
    assert not Agent.objects.get(pk=bot.agent.pk).breaker_tripped


def test_no_breaker_in_the_envelope_means_no_trip(make_agent):
    bot = make_agent("ops-bot", envelope=ENVELOPE.replace("breaker: {violations: 3, window: 10m}\n", ""))
    for i in range(10):
        bot.decide({"action": "db.drop", "resource": f"db:{i}"})
    assert not Agent.objects.get(pk=bot.agent.pk).breaker_tripped
    assert not AuditEvent.objects.filter(kind="breaker.tripped").exists()


def test_breaker_reset_command_ends_supervision(ops, heard, django_capture_on_commit_callbacks):
    for i in range(3):
        violate(ops.agent, T0 + timedelta(seconds=i))
    assert restart(ops.agent, T0 + timedelta(seconds=5)).decision == "escalate"
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("breaker_reset", "ops-bot", stdout=out)
    assert "reset" in out.getvalue()
    agent = Agent.objects.get(pk=ops.agent.pk)
    assert agent.breaker_tripped_at is None and agent.breaker_reason == "" and agent.breaker_reset_at is not None
    event = AuditEvent.objects.get(kind="breaker.reset", agent=agent)
    assert event.actor == "system:cli"
    assert "3 violations" in event.payload["reason"]
    assert heard[-1] == ("reset", {"agent_id": agent.pk, "by": "cli", "signal": signals.breaker_reset})


def test_violations_before_a_reset_no_longer_count(ops):
    start = timezone.now() - timedelta(minutes=2)
    for i in range(3):
        violate(ops.agent, start + timedelta(seconds=i))
    breaker_reset(agent=ops.agent, by=None)
    agent = Agent.objects.get(pk=ops.agent.pk)
    later = agent.breaker_reset_at + timedelta(seconds=1)
    assert restart(agent, later).decision == "allow"
    violate(agent, later + timedelta(seconds=1))
    assert not Agent.objects.get(pk=agent.pk).breaker_tripped


def test_breaker_reset_needs_a_tripped_breaker(ops):
    with pytest.raises(CommandError, match="not tripped"):
        call_command("breaker_reset", "ops-bot", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no agent"):
        call_command("breaker_reset", "ghost-bot", stdout=io.StringIO())
    assert not AuditEvent.objects.filter(kind="breaker.reset").exists()


def test_only_an_admin_resets_a_breaker(ops, alice, admin_user):
    for i in range(3):
        violate(ops.agent, T0 + timedelta(seconds=i))
    with pytest.raises(NotEligible):
        breaker_reset(agent=ops.agent, by=alice)
    assert Agent.objects.get(pk=ops.agent.pk).breaker_tripped
    breaker_reset(agent=ops.agent, by=admin_user)
    assert AuditEvent.objects.get(kind="breaker.reset").actor == "user:admin"
    with pytest.raises(Conflict):
        breaker_reset(agent=ops.agent, by=admin_user)


def test_the_count_stops_at_the_threshold(make_agent):
    """The breaker only asks whether the threshold is reached: the count reads at most that
    many violations, however many the window holds."""
    from governance.breaker import breaker_violations

    bot = make_agent("ops-bot", envelope=ENVELOPE.replace("breaker: {violations: 3, window: 10m}\n", ""))
    for i in range(6):
        violate(bot.agent, T0 + timedelta(seconds=i))
    now = T0 + timedelta(minutes=1)
    assert breaker_violations(agent=bot.agent, window=600, now=now, limit=3) == 3
    assert breaker_violations(agent=bot.agent, window=600, now=now, limit=10) == 6
    assert breaker_violations(agent=bot.agent, window=58, now=now, limit=10) == 3  # T0 + 3 s to + 5 s
