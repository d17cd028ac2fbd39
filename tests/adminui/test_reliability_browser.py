"""The reliability views in a real browser: the dashboard's distributions with drift
verdicts, the live shadow matrix, and promoting the shadow (htmx, confirm dialog)."""

from pathlib import Path

import pytest

from governance.decide import DecideInput, decide
from governance.models import Agent, ModelVersionStats
from governance.shadow import shadow_apply
from tests.adminui.test_browser import browser_page  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENVELOPES = Path(__file__).resolve().parents[2] / "examples" / "envelopes"
STRICTER = (ENVELOPES / "procurement-bot.yaml").read_text().replace('"params.amount > 10000"', '"params.amount > 1000"')


def test_dashboard_distributions_and_shadow_promotion(browser_page, procurement):  # noqa: F811
    page = browser_page
    agent = procurement.agent
    shadow = shadow_apply(source=STRICTER)
    for i, amount in enumerate((50, 60, 70, 5000, 15000, 20, 30, 15000, 16000, 17000)):
        decide(agent=agent, data=DecideInput(
            action="purchase_order.create", resource="vendor:staples", params={"amount": amount},
            context={"confidence": 0.95, "input_source": "config", "model_version": "m-1" if i < 6 else "m-2"}))
    now = agent.requests.latest("created_at").created_at
    ModelVersionStats.objects.create(agent=agent, model_version="m-1", verdict="baseline", first_seen_at=now, last_seen_at=now)
    ModelVersionStats.objects.create(
        agent=agent, model_version="m-2", verdict="shifted", first_seen_at=now, last_seen_at=now,
        test={"outcome": {"p_value": 0.0004}, "actions": {"p_value": 0.9}, "shifted": True})

    page.goto(f"{page.base}/admin/")
    section = page.locator("#reliability")
    section.locator('[data-verdict="shifted"]').wait_for()
    assert section.locator('tr[data-version="m-1"] [data-verdict="baseline"]').count() == 1
    page.screenshot(path=page.shots / "dashboard-reliability.png", full_page=True)

    page.goto(f"{page.base}/admin/agents/{agent.name}/")
    matrix = page.get_by_test_id("shadow-matrix")
    assert matrix.locator('[data-cell="allow-escalate"]').inner_text() == "1"  # the 5,000 order
    assert page.get_by_test_id("shadow-changed").inner_text() == "1"
    page.screenshot(path=page.shots / "agent-shadow.png", full_page=True)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("shadow-promote").click()
    page.get_by_text(f"Shadow v{shadow.version} is now the active envelope").wait_for()
    assert Agent.objects.get(pk=agent.pk).active_envelope_id == shadow.pk
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{page.base}/admin/")
    page.locator("#reliability").scroll_into_view_if_needed()
    page.screenshot(path=page.shots / "dashboard-reliability-phone.png", full_page=True)
