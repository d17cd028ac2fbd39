"""Envelopes: validated on apply, versioned, exported and re-imported as YAML."""

import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from governance.errors import InvalidInput, NotFound
from governance.models import AuditEvent, Envelope
from governance.services import agent_create, envelope_apply
from tests.conftest import ENVELOPES

pytestmark = pytest.mark.django_db

DEMO = (ENVELOPES / "procurement-bot.yaml").read_text()


@pytest.fixture
def agent():
    return agent_create(name="procurement-bot")[0]


def test_each_apply_makes_a_new_active_version_and_keeps_the_old(agent):
    v1 = envelope_apply(source=DEMO)
    v2 = envelope_apply(source=DEMO.replace("quorum: 1", "quorum: 2"), comment="two approvers")
    agent.refresh_from_db()
    assert (v1.version, v2.version) == (1, 2)
    assert agent.active_envelope == v2
    assert Envelope.objects.get(pk=v1.pk).document["quorum"] == 1
    event = AuditEvent.objects.filter(kind="envelope.activated", agent=agent).latest("seq")
    assert event.payload["version"] == 2 and event.payload["previous_version"] == 1
    assert event.payload["comment"] == "two approvers"


def test_export_then_apply_round_trips(agent, tmp_path):
    envelope_apply(source=DEMO)
    out = io.StringIO()
    call_command("envelope_export", "procurement-bot", stdout=out)
    exported = out.getvalue()
    assert yaml.safe_load(exported) == yaml.safe_load(DEMO)
    path = tmp_path / "again.yaml"
    path.write_text(exported)
    call_command("envelope_apply", str(path), stdout=io.StringIO())
    latest = Envelope.objects.filter(agent=agent).latest("version")
    assert latest.version == 2
    assert latest.document == Envelope.objects.get(agent=agent, version=1).document


def test_cel_that_does_not_compile_is_rejected_with_the_field_and_nothing_stored(agent, tmp_path):
    bad = DEMO.replace('"params.amount > 10000"', '"params.amount >"')
    with pytest.raises(InvalidInput) as caught:
        envelope_apply(source=bad)
    assert "capabilities[0].escalate_when[0]" in caught.value.message
    assert "CEL does not compile" in caught.value.message
    assert not Envelope.objects.exists()
    assert not AuditEvent.objects.filter(kind="envelope.activated").exists()


def test_invalid_yaml_names_the_line(agent):
    with pytest.raises(InvalidInput) as caught:
        envelope_apply(source="agent: procurement-bot\ncapabilities: [\n  - action: x\n")
    assert "line" in caught.value.message


def test_envelope_for_unknown_agent_is_rejected(db):
    with pytest.raises(NotFound):
        envelope_apply(source=DEMO)


def test_apply_command_exits_non_zero_with_the_reason(agent, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(DEMO.replace("mode: enforce", "mode: yolo"))
    with pytest.raises(CommandError) as caught:
        call_command("envelope_apply", str(path))
    assert "mode" in str(caught.value)
    assert not Envelope.objects.exists()


def test_export_of_a_specific_version(agent):
    envelope_apply(source=DEMO)
    envelope_apply(source=DEMO.replace("quorum: 1", "quorum: 3"))
    out = io.StringIO()
    call_command("envelope_export", "procurement-bot", "--envelope-version", "1", stdout=out)
    assert yaml.safe_load(out.getvalue())["quorum"] == 1


def test_new_version_changes_decisions_at_once(procurement):
    body = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 500}}
    assert procurement.decide(body).json()["decision"] == "allow"
    envelope_apply(source=DEMO.replace("mode: enforce", "mode: supervised"))
    answer = procurement.decide(body).json()
    assert (answer["decision"], answer["envelope_version"]) == ("escalate", 2)
