"""Facts and incidents in a real browser: an admin fixes an invalid facts draft, sees the diff,
applies it; the fact then denies the teardown; the admin records the outage, marks the agent
action that caused it, and the dashboard counts an agent-attributed incident."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from governance.decide import DecideInput, decide
from governance.knowledge_models import FactSet, IncidentContribution
from governance.models import Agent
from governance.services import agent_create, envelope_apply
from tests.adminui.test_browser import browser_page  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def test_admin_applies_a_fact_then_traces_an_incident(browser_page):  # noqa: F811
    page = browser_page
    agent_create(name="infra-optimizer")
    envelope_apply(source=(ROOT / "examples/envelopes/infra-optimizer.yaml").read_text())
    agent = Agent.objects.get(name="infra-optimizer")
    earlier, _ = decide(agent=agent, data=DecideInput("db.replica.teardown", "db:replica-staging-9", {},
                                                      {"reasoning": "idle for 30 days"}),
                        now=timezone.now() - timedelta(hours=1))

    page.goto(f"{page.base}/admin/facts/")
    page.fill("#id_source", "facts:\n  - resource: db:replica-7\n    Protected: true\n")
    page.click("[data-testid=check-facts]")
    assert "facts[0] (db:replica-7): key 'Protected'" in page.inner_text("[data-testid=check-error]")
    page.fill("#id_source", (ROOT / "examples/facts.yaml").read_text())
    page.click("[data-testid=check-facts]")
    assert "payments-failover, protected" in page.inner_text("[data-testid=check]")
    assert page.locator("[data-testid=diff] tr.add").count() > 5
    page.fill("#id_comment", "replica-7 is the payments failover")
    page.click("[data-testid=apply-facts]")
    page.wait_for_url(f"{page.base}/admin/facts/")
    assert "Facts v1 are in force" in page.inner_text(".messages")
    assert FactSet.objects.get().comment == "replica-7 is the payments failover"
    page.screenshot(path=str(page.shots / "facts-applied.png"), full_page=True)

    row, _ = decide(agent=agent, data=DecideInput("db.replica.teardown", "db:replica-7", {}, {}))
    assert row.decision == "deny" and row.reasons[0]["code"] == "protected_resource"

    page.goto(f"{page.base}/admin/incidents/")
    page.fill("#id_occurred_at", (timezone.now() + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("#id_resources", "db:replica-*")
    page.fill("#id_summary", "search went down: its staging replica was gone")
    page.click("[data-testid=record-incident]")
    page.wait_for_selector("[data-testid=trace]")
    trace = page.inner_text("[data-testid=trace]")
    assert "db:replica-staging-9" in trace and "idle for 30 days" in trace and "protected_resource" in trace
    page.click(f"[data-testid=mark-{earlier.id}]")
    page.wait_for_selector("[data-testid=attributed]")
    assert IncidentContribution.objects.filter(request=earlier).exists()
    page.screenshot(path=str(page.shots / "incident.png"), full_page=True)
    page.goto(f"{page.base}/admin/")
    assert page.inner_text("[data-testid=incidents-tile] .tile-n") == "1"
