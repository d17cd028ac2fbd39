"""An admin who writes no YAML: a new agent's envelope built from rule templates in a real
browser (Debian's Chromium through Playwright), previewed, activated, and then in force."""

import pytest

from governance.models import AuditEvent, Envelope
from tests.adminui.test_browser import browser_page  # noqa: F401 - the shared fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_rule(page, slug: str, **fields) -> None:
    form = page.get_by_test_id(f"template-{slug}")
    page.locator(f"details[data-template={slug}] > summary").click()
    for name, value in fields.items():
        field = form.locator(f"[name={slug}-{name}]")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button", name="Add to draft").click()
    page.get_by_test_id("inserted").wait_for()
    page.locator(".cm-airlock .cm-content").wait_for()


def test_an_admin_builds_an_envelope_from_templates_previews_activates_and_decide_obeys(browser_page, make_agent):  # noqa: F811
    page = browser_page
    supply = make_agent("supply-bot", envelope=None)
    small = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 500},
             "context": {"confidence": 1, "input_source": "config"}}
    assert supply.decide(small).json()["reasons"][0]["code"] == "no_envelope"

    page.goto(f"{page.base}/admin/agents/supply-bot/envelope/")
    page.locator(".cm-airlock .cm-content").wait_for()
    assert "Capability envelope of supply-bot" in page.locator(".cm-airlock .cm-content").inner_text()

    add_rule(page, "allow-list", action="purchase_order.create", resources="vendor:staples, vendor:acme-office")
    add_rule(page, "spending-limit", action="purchase_order.create", param="amount", ask_over="2000", hard_cap="50000")
    add_rule(page, "protected", action="*", resources="vendor:acme-office")
    add_rule(page, "approvers", approvers="finance", quorum="1")
    page.get_by_test_id("check").get_by_role("heading", name="Valid", exact=True).wait_for()
    text = page.locator("#id_source").input_value()  # CodeMirror renders only visible lines
    assert "params.amount > 2000" in text and "protected_resource" in text

    # Activate waits for the preview of exactly this draft.
    activate = page.get_by_test_id("activate")
    assert activate.is_disabled()
    assert "Run the replay preview" in page.get_by_test_id("gate-hint").inner_text()
    page.get_by_test_id("replay").click()
    page.get_by_test_id("gate-hint").get_by_text("Previewed").wait_for()
    assert activate.is_enabled()
    page.screenshot(path=page.shots / "authoring-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=page.shots / "authoring-phone.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.fill("#id_comment", "first envelope, from templates")
    activate.click()
    page.get_by_test_id("active-badge").wait_for()
    assert page.url.endswith("/admin/agents/supply-bot/envelopes/1/")
    assert Envelope.objects.get(agent=supply.agent).created_via == "ui"
    assert not AuditEvent.objects.filter(kind="envelope.activated_without_preview").exists()

    # The decide API answers by it.
    assert supply.decide(small).json()["decision"] == "allow"
    assert supply.decide({**small, "params": {"amount": 5000}}).json()["decision"] == "escalate"
    assert supply.decide({**small, "params": {"amount": 60000}}).json()["decision"] == "deny"
    assert supply.decide({**small, "resource": "vendor:acme-office"}).json()["reasons"][0]["code"] == "protected_resource"
    assert supply.decide({**small, "resource": "vendor:unknown"}).json()["decision"] == "deny"

    # A person approves a 5,000 order; "Always allow this" on the agent page opens a narrow
    # draft with its preview already run, and activates nothing.
    from django.contrib.auth.models import Group, User

    from approvals.services import approval_decide

    alice = User.objects.create_user("alice")
    alice.groups.add(Group.objects.get_or_create(name="finance")[0])
    asked = supply.decide({**small, "params": {"amount": 5000}}).json()
    approval_decide(request_id=asked["id"], user=alice, choice="approve")
    page.goto(f"{page.base}/admin/agents/supply-bot/")
    page.get_by_test_id("always-allow").first.click()
    page.get_by_test_id("draft-origin").wait_for()
    page.get_by_test_id("gate-hint").get_by_text("Previewed").wait_for()
    assert "always-allow-" in page.locator("#id_source").input_value()
    page.screenshot(path=page.shots / "always-allow-desktop.png", full_page=True)
    assert Envelope.objects.filter(agent=supply.agent).count() == 1

    # People keep approving 3,000 orders from staples: the suggestions page proposes a rule,
    # which opens as a draft with its replay preview already run; nothing is activated.
    from tests.adminui.test_authoring import seed

    seed(supply.agent, action="purchase_order.create", resource="vendor:staples", status="approved", n=6, amount=3000)
    page.goto(f"{page.base}/admin/suggestions/")
    row = page.get_by_test_id("suggest-allow").get_by_role("row").filter(has_text="vendor:staples")
    assert "7 of 7" in row.inner_text() and "≤ 5,000" in row.inner_text()  # with the one approved above
    page.screenshot(path=page.shots / "suggestions-desktop.png", full_page=True)
    row.get_by_test_id("draft-allow").click()
    page.get_by_test_id("draft-origin").wait_for()
    page.get_by_test_id("gate-hint").get_by_text("Previewed").wait_for()  # the preview ran by itself
    assert "would change" in page.get_by_test_id("replay-result").inner_text()
    page.screenshot(path=page.shots / "suggestion-draft-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=page.shots / "suggestion-draft-phone.png", full_page=True)
    assert Envelope.objects.filter(agent=supply.agent).count() == 1
