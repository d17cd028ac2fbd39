"""`manage.py replay`: the CI gate. Recorded requests re-evaluated against a candidate
envelope, each with the history before it; exit 1 on --fail-on any / looser."""

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from governance.decide import DecideInput, decide
from governance.models import AuditEvent, DecisionRequest, Envelope

pytestmark = pytest.mark.django_db

ENVELOPES = Path(__file__).resolve().parents[2] / "examples" / "envelopes"
ACTIVE = (ENVELOPES / "procurement-bot.yaml").read_text()
LOOSER = ACTIVE.replace('"params.amount > 10000"', '"params.amount > 20000"')
STRICTER = ACTIVE.replace('"params.amount > 10000"', '"params.amount > 1000"')


@pytest.fixture
def history(procurement):
    """Three orders two days ago: 50 (allow), 5,000 (allow), 15,000 (escalate)."""
    agent = procurement.agent
    start = timezone.now() - timedelta(days=2)
    for i, amount in enumerate((50, 5000, 15000)):
        decide(agent=agent, now=start + timedelta(minutes=i), data=DecideInput(
            action="purchase_order.create", resource="vendor:staples", params={"amount": amount},
            context={"confidence": 0.95, "input_source": "config"}))
    assert [r.decision for r in DecisionRequest.objects.order_by("created_at")] == ["allow", "allow", "escalate"]
    return agent


def replay(tmp_path, source: str, *args) -> tuple[int, str]:
    path = tmp_path / "candidate.yaml"
    path.write_text(source)
    out = StringIO()
    try:
        call_command("replay", str(path), *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def test_a_looser_candidate_fails_the_looser_gate_with_the_json_matrix(history, tmp_path):
    events, envelopes = AuditEvent.objects.count(), Envelope.objects.count()
    code, out = replay(tmp_path, LOOSER, "--fail-on", "looser", "--format", "json")
    assert code == 1
    result = json.loads(out)
    assert (result["total"], result["changed"]) == (3, 1)
    assert result["matrix"]["escalate"] == {"allow": 1, "escalate": 0, "deny": 0}
    assert result["matrix"]["allow"] == {"allow": 2, "escalate": 0, "deny": 0}
    assert result["matrix"]["deny"] == {"allow": 0, "escalate": 0, "deny": 0}
    # Nothing is written.
    assert (AuditEvent.objects.count(), Envelope.objects.count(), DecisionRequest.objects.count()) == (events, envelopes, 3)


def test_a_stricter_candidate_passes_looser_and_fails_any(history, tmp_path):
    code, out = replay(tmp_path, STRICTER, "--fail-on", "looser")
    assert code == 0
    assert "1 of 3 answers change, 0 more permissive" in out
    assert "allow → escalate" in out
    code, _ = replay(tmp_path, STRICTER, "--fail-on", "any")
    assert code == 1


def test_the_same_envelope_changes_nothing_and_since_bounds_the_replay(history, tmp_path):
    assert replay(tmp_path, ACTIVE, "--fail-on", "any")[0] == 0
    code, out = replay(tmp_path, LOOSER, "--fail-on", "any", "--since", "1d", "--format", "json")
    assert code == 0
    assert json.loads(out)["total"] == 0


def test_agent_option_and_bad_input(history, tmp_path):
    code, out = replay(tmp_path, STRICTER.replace("agent: procurement-bot", "agent: other-bot"),
                       "--agent", "procurement-bot", "--format", "json")
    assert (code, json.loads(out)["changed"]) == (0, 1)
    with pytest.raises(CommandError, match="no agent named 'nobody'"):
        call_command("replay", str(tmp_path / "candidate.yaml"), "--agent", "nobody")
    with pytest.raises(CommandError, match="--since"):
        call_command("replay", str(tmp_path / "candidate.yaml"), "--since", "soon")
    (tmp_path / "bad.yaml").write_text("agent: procurement-bot\ncapabilities: 3\n")
    with pytest.raises(CommandError, match="capabilities"):
        call_command("replay", str(tmp_path / "bad.yaml"))
