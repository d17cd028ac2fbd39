"""Shadow envelopes: evaluated beside the active version on every decide, never answering,
never acting; each difference recorded; the transition matrix; promotion."""

import json
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

import governance.shadow
from governance.decide import DecideInput, decide
from governance.errors import Conflict
from governance.models import (
    Agent,
    Anomaly,
    AuditEvent,
    DecisionRequest,
    Envelope,
    ShadowDifference,
)
from governance.shadow import shadow_apply, shadow_promote

pytestmark = pytest.mark.django_db

ENVELOPES = Path(__file__).resolve().parents[2] / "examples" / "envelopes"
ACTIVE = (ENVELOPES / "procurement-bot.yaml").read_text()
# The candidate: orders above 1,000 (not 10,000) need a human.
STRICTER = ACTIVE.replace('"params.amount > 10000"', '"params.amount > 1000"')
# A candidate that denies every order (outside its only capability) and whose breaker
# would trip at the first violation: none of that may happen for real.
DENY_ALL = """\
agent: procurement-bot
default: deny
breaker: {violations: 1, window: 1h}
capabilities:
  - action: catalogue.*
"""


def order(agent, amount, vendor="vendor:staples") -> DecisionRequest:
    data = DecideInput(action="purchase_order.create", resource=vendor, params={"amount": amount, "currency": "USD"},
                       context={"confidence": 0.95, "input_source": "config"})
    return decide(agent=agent, data=data)[0]


def report(name: str) -> dict:
    out = StringIO()
    call_command("shadow_report", name, "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def test_envelope_apply_shadow_keeps_the_active_version_and_records_each_difference(procurement, tmp_path):
    agent = procurement.agent
    active_id = agent.active_envelope_id
    path = tmp_path / "candidate.yaml"
    path.write_text(STRICTER)
    out = StringIO()
    call_command("envelope_apply", str(path), "--shadow", stdout=out)
    assert out.getvalue().strip() == "applied procurement-bot envelope v2 (shadow)"
    agent.refresh_from_db()
    assert agent.active_envelope_id == active_id
    assert agent.shadow_envelope.version == 2
    assert AuditEvent.objects.filter(kind="envelope.shadow_applied", agent=agent).get().payload["active_version"] == 1

    small, large = order(agent, 50), order(agent, 5000)
    # The answers are the active version's.
    assert (small.decision, large.decision) == ("allow", "allow")
    assert large.envelope_version == 1
    difference = ShadowDifference.objects.get()
    assert (difference.request_id, difference.active_decision, difference.shadow_decision) == (large.id, "allow", "escalate")
    assert difference.shadow_reasons[0]["code"] == "amount_over_limit"

    result = report("procurement-bot")
    assert (result["total"], result["changed"], result["shadow_version"], result["active_version"]) == (2, 1, 2, 1)
    assert result["matrix"]["allow"] == {"allow": 1, "escalate": 1, "deny": 0}
    text = StringIO()
    call_command("shadow_report", "procurement-bot", stdout=text)
    assert "2 requests, 1 answered differently by the shadow" in text.getvalue()


def test_the_shadow_has_no_side_effects(procurement):
    agent = procurement.agent
    shadow_apply(source=DENY_ALL)
    rows = [order(procurement.agent, 20 + i) for i in range(6)]
    assert {r.decision for r in rows} == {"allow"}
    agent.refresh_from_db()
    # The shadow's violations trip no breaker, capture no anomaly, open no escalation.
    assert not agent.breaker_tripped
    assert not Anomaly.objects.exists()
    assert not AuditEvent.objects.filter(kind__in=["breaker.tripped", "anomaly.recorded", "escalation.opened"]).exists()
    assert DecisionRequest.objects.count() == 6
    assert report("procurement-bot")["matrix"]["allow"] == {"allow": 0, "escalate": 0, "deny": 6}


def test_a_failing_shadow_never_changes_the_answer(procurement):
    shadow_apply(source=STRICTER)
    with mock.patch.object(governance.shadow, "envelope_compiled_by_pk", side_effect=RuntimeError("boom")):
        row = order(procurement.agent, 50)
    assert row.decision == "allow"
    difference = ShadowDifference.objects.get()
    assert difference.shadow_decision == "deny"
    assert difference.shadow_reasons[0]["code"] == "governance_error"


def test_shadow_adds_one_evaluation_and_no_sql_when_it_asks_what_the_active_version_asked(procurement):
    agent = procurement.agent
    order(agent, 10)
    order(agent, 11)  # warm: compiled envelope, last_seen_at
    with CaptureQueriesContext(connection) as without:
        order(agent, 12)
    shadow_apply(source=STRICTER)  # same stateful questions, different thresholds
    order(agent, 13)  # warm: the shadow's compiled form
    with (
        CaptureQueriesContext(connection) as with_shadow,
        mock.patch.object(governance.shadow, "evaluate", wraps=governance.shadow.evaluate) as shadow_eval,
    ):
        order(agent, 14)
    assert shadow_eval.call_count == 1
    assert len(with_shadow.captured_queries) == len(without.captured_queries)


def test_promote_makes_the_shadow_active(procurement, admin_user, alice):
    agent = procurement.agent
    shadow = shadow_apply(source=STRICTER)
    order(agent, 5000)
    with pytest.raises(Exception, match="not an admin"):
        shadow_promote(agent=agent, by=alice)
    promoted = shadow_promote(agent=agent, by=admin_user)
    assert promoted == shadow
    agent.refresh_from_db()
    assert (agent.active_envelope_id, agent.shadow_envelope_id, agent.shadow_since) == (shadow.pk, None, None)
    event = AuditEvent.objects.filter(kind="envelope.activated", agent=agent).order_by("-seq").first()
    assert event.payload["via"] == "shadow_promote"
    assert event.payload["shadow_matrix"]["changed"] == 1
    assert order(agent, 5000).decision == "escalate"  # the promoted version answers now
    with pytest.raises(Conflict):
        shadow_promote(agent=agent, by=admin_user)
    with pytest.raises(CommandError, match="has no shadow"):
        report("procurement-bot")


def test_shadow_apply_refuses_an_unknown_agent_and_a_bad_envelope(procurement, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DENY_ALL.replace("procurement-bot", "nobody"))
    with pytest.raises(CommandError, match="no agent named 'nobody'"):
        call_command("envelope_apply", str(bad), "--shadow")
    bad.write_text(DENY_ALL.replace("default: deny", "default: maybe"))
    with pytest.raises(CommandError, match="default"):
        call_command("envelope_apply", str(bad), "--shadow")
    assert Envelope.objects.count() == 1
    assert Agent.objects.get(name="procurement-bot").shadow_envelope_id is None
