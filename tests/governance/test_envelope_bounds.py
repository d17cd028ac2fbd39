"""Applying an envelope is bounded everywhere envelopes are parsed (issue 9, point 6): the
envelope_apply command, the admin editor, chaos scenarios; and an escalation_ttl that would
break every escalation is refused up front."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.urls import reverse

from governance.chaos import ScenarioError, load_scenario
from governance.errors import InvalidInput
from governance.models import AuditEvent, Envelope
from governance.policy.limits import MAX_ENVELOPE_BYTES, MAX_NODES
from governance.services import agent_create, envelope_apply
from tests.conftest import ENVELOPES

pytestmark = pytest.mark.django_db

# 488 bytes: nine levels of nine aliases, 9**9 = 387,420,489 strings once expanded.
# Before: yaml.safe_load expanded it lazily and applying it cost ~20 s of CPU (the document
# was walked by validation, JSON storage and the audit hash).
BOMB = """agent: procurement-bot
capabilities:
  - action: x
    params_schema:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
      i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
DEMO = (ENVELOPES / "procurement-bot.yaml").read_text()


@pytest.fixture
def agent():
    return agent_create(name="procurement-bot")[0]


def nothing_applied():
    return not Envelope.objects.exists() and not AuditEvent.objects.filter(kind="envelope.activated").exists()


def test_a_yaml_alias_bomb_is_refused_while_parsing(agent):
    with pytest.raises(InvalidInput) as caught:
        envelope_apply(source=BOMB)
    assert caught.value.code == "invalid_yaml"
    assert f"more than {MAX_NODES} values (YAML aliases counted in full)" in caught.value.message
    assert "at line" in caught.value.message
    assert nothing_applied()


def test_anchors_that_expand_to_a_small_document_still_work(agent):
    # The demo envelope shares params_schema and rules between capabilities with &anchors.
    assert "&po_schema" in DEMO and "*po_schema" in DEMO
    envelope = envelope_apply(source=DEMO)
    assert envelope.document["capabilities"][0]["params_schema"] == envelope.document["capabilities"][1]["params_schema"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("agent: procurement-bot\ncapabilities: []\nx: " + "[" * 40 + "]" * 40, "nests deeper than 32 levels at line 3"),
        ("agent: procurement-bot\ncapabilities: []\n#" + "x" * MAX_ENVELOPE_BYTES, f"the limit is {MAX_ENVELOPE_BYTES} bytes"),
        ("agent: procurement-bot\ncapabilities: &c [*c]\n", "YAML alias *c refers to itself"),
    ],
    ids=["deep", "large", "recursive"],
)
def test_oversized_and_overdeep_yaml_is_refused(agent, source, message):
    with pytest.raises(InvalidInput) as caught:
        envelope_apply(source=source)
    assert caught.value.code == "invalid_yaml"
    assert message in caught.value.message
    assert nothing_applied()


def test_the_command_exits_non_zero_naming_the_reason(agent, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    with pytest.raises(CommandError) as caught:
        call_command("envelope_apply", str(path), stdout=io.StringIO())
    assert str(caught.value).startswith(f"{path}: the envelope has more than {MAX_NODES} values")
    ttl = tmp_path / "ttl.yaml"
    ttl.write_text(DEMO.replace("escalation_ttl: 15m", "escalation_ttl: 999999999d"))
    with pytest.raises(CommandError) as caught:
        call_command("envelope_apply", str(ttl), stdout=io.StringIO())
    assert "escalation_ttl: '999999999d' is longer than the limit of 7d" in str(caught.value)
    assert nothing_applied()


def test_escalations_work_at_the_longest_allowed_ttl(make_agent):
    # Before: escalation_ttl: 999999999d was accepted and every escalation answered 500
    # (the deadline overflowed). Now the longest ttl accepted is 7d, and it escalates.
    bot = make_agent(envelope=DEMO.replace("escalation_ttl: 15m", "escalation_ttl: 7d"))
    response = bot.decide({"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 20000}})
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] == "escalate"
    request = bot.agent.requests.get()
    assert request.expires_at - request.created_at == timedelta(days=7)


def test_the_escalation_ttl_setting_is_capped(monkeypatch):
    from airlock.settings import envduration

    monkeypatch.setenv("AIRLOCK_ESCALATION_TTL", "999999999d")
    with pytest.raises(ImproperlyConfigured, match="AIRLOCK_ESCALATION_TTL: '999999999d' is longer than the limit of 7d"):
        envduration("AIRLOCK_ESCALATION_TTL", "15m", maximum=7 * 86400)
    monkeypatch.setenv("AIRLOCK_ESCALATION_TTL", "7d")
    assert envduration("AIRLOCK_ESCALATION_TTL", "15m", maximum=7 * 86400) == 7 * 86400


def test_the_editor_shows_why_a_bomb_is_refused(admin_client, procurement):
    validate = reverse("adminui:envelope_validate", args=["procurement-bot"])
    response = admin_client.post(validate, {"source": BOMB}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f"the envelope has more than {MAX_NODES} values" in response.content.decode()
    edit = reverse("adminui:envelope_edit", args=["procurement-bot"])
    response = admin_client.post(edit, {"source": BOMB, "comment": ""})
    assert response.status_code == 400
    assert f"the envelope has more than {MAX_NODES} values" in response.content.decode()
    assert Envelope.objects.filter(agent=procurement.agent).count() == 1


def test_the_editor_does_not_diff_a_huge_paste(admin_client, procurement):
    validate = reverse("adminui:envelope_validate", args=["procurement-bot"])
    response = admin_client.post(validate, {"source": "x\n" * 200_000}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "too large to compare" in html and f"the limit is {MAX_ENVELOPE_BYTES} bytes" in html


def test_chaos_scenarios_share_the_bounded_loader(tmp_path):
    scenario = tmp_path / "bomb.yaml"
    scenario.write_text("name: bomb\n" + BOMB.split("\n", 1)[1].replace("capabilities:", "steps:"))
    with pytest.raises(ScenarioError, match="values \\(YAML aliases counted in full\\)"):
        load_scenario(scenario)
    envelope = tmp_path / "env.yaml"
    envelope.write_text(BOMB)
    scenario.write_text("envelopes: [env.yaml]\nsteps: [{action: x, must: deny}]\n")
    with pytest.raises(ScenarioError, match="cannot read envelope env.yaml: the envelope has more than"):
        load_scenario(scenario)
