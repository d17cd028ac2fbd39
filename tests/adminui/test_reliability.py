"""The shadow card on an agent's page (live matrix, promote, discard) and the dashboard's
reliability section (outcomes per day and per model version, drift verdicts marked)."""

from pathlib import Path

import pytest

from governance.decide import DecideInput, decide
from governance.models import Agent, AuditEvent, ModelVersionStats
from governance.shadow import shadow_apply
from tests.adminui.conftest import client_for, htmx

pytestmark = pytest.mark.django_db

ENVELOPES = Path(__file__).resolve().parents[2] / "examples" / "envelopes"
STRICTER = (ENVELOPES / "procurement-bot.yaml").read_text().replace('"params.amount > 10000"', '"params.amount > 1000"')


def order(agent, amount, version="m-1"):
    return decide(agent=agent, data=DecideInput(
        action="purchase_order.create", resource="vendor:staples", params={"amount": amount},
        context={"confidence": 0.95, "input_source": "config", "model_version": version}))[0]


def test_agent_page_shows_the_shadow_matrix_live_and_promotes_it(procurement, admin_client):
    agent = procurement.agent
    page = admin_client.get(f"/admin/agents/{agent.name}/").content.decode()
    assert 'data-testid="shadow-card"' not in page  # no shadow, no card
    shadow = shadow_apply(source=STRICTER)
    order(agent, 50)
    order(agent, 5000)
    page = admin_client.get(f"/admin/agents/{agent.name}/").content.decode()
    assert 'hx-trigger="every 10s"' in page
    assert 'data-cell="allow-escalate">1<' in page and 'data-cell="allow-allow">1<' in page
    order(agent, 6000)
    partial = admin_client.get(f"/admin/agents/{agent.name}/shadow/").content.decode()
    assert 'data-cell="allow-escalate">2<' in partial  # the poll sees the new difference

    response = admin_client.post(f"/admin/agents/{agent.name}/shadow/promote/", **htmx())
    assert response.status_code == 200
    assert f"Shadow v{shadow.version} is now the active envelope" in response.content.decode()
    agent.refresh_from_db()
    assert (agent.active_envelope_id, agent.shadow_envelope_id) == (shadow.pk, None)
    assert AuditEvent.objects.filter(kind="envelope.activated", actor="user:admin").exists()
    again = admin_client.post(f"/admin/agents/{agent.name}/shadow/promote/", **htmx())
    assert again.status_code == 409 and "has no shadow envelope" in again.content.decode()


def test_shadow_actions_are_for_admins_only(procurement, alice):
    shadow_apply(source=STRICTER)
    client = client_for(alice)
    assert client.post(f"/admin/agents/{procurement.agent.name}/shadow/promote/").status_code in (302, 403)
    assert client.get(f"/admin/agents/{procurement.agent.name}/shadow/").status_code in (302, 403)
    assert Agent.objects.get(pk=procurement.agent.pk).shadow_envelope_id is not None


def test_dashboard_shows_outcomes_per_model_version_with_drift_verdicts(procurement, admin_client):
    agent = procurement.agent
    for amount in (50, 60, 15000):
        order(agent, amount, "m-1")
    for amount in (15000, 16000):
        order(agent, amount, "m-2")
    now = agent.requests.latest("created_at").created_at
    test = {"outcome": {"p_value": 0.0004}, "actions": {"p_value": 1.0}, "shifted": True}
    ModelVersionStats.objects.create(agent=agent, model_version="m-1", verdict="baseline", first_seen_at=now, last_seen_at=now)
    ModelVersionStats.objects.create(agent=agent, model_version="m-2", verdict="shifted", test=test,
                                     first_seen_at=now, last_seen_at=now)
    page = admin_client.get("/admin/").content.decode()
    assert 'id="reliability"' in page
    assert 'data-version="m-2"' in page and 'data-verdict="shifted"' in page and 'data-verdict="baseline"' in page
    assert "outcome p=0.0004" in page
    assert "1 shifted" in page
    # m-1: two allows and an escalation, as a stacked bar.
    assert 'title="allow 2 (66.7%), escalate 1 (33.3%), deny 0 (0.0%)"' in page
