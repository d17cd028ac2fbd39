"""The inbox in a real browser (issue 12): 100 pending escalations at 1366×768 (true total,
paging, filter, search, keyboard, the escalation's page with extend and approve-with-edits,
batch, live updates in a second browser), and on a phone at 390×844 (key factors above the
buttons, confirmation with the amount, a signed-out tab's vote). Screenshots go to
$AIRLOCK_SCREENSHOTS (default /tmp/airlock-inbox) for a person to look at."""

import os
from pathlib import Path

import pytest

from approvals.models import Vote
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.asgi_server import decide_over_http
from tests.approvals.conftest import LARGE_ORDER, envelope_with
from tests.approvals.test_queue_browser import browser, off_the_loop, same_document, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(os.environ.get("AIRLOCK_SCREENSHOTS", "/tmp/airlock-inbox"))


@pytest.fixture
def sign_in(browser, server):  # noqa: F811
    from playwright.sync_api import expect

    contexts = []

    def open_as(username: str, viewport: dict, dialogs: list | None = None, accept: bool = True):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()

        def answer(dialog):
            if dialogs is not None:
                dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.on("dialog", answer)
        page.goto(f"{server}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", f"{username}-pw-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/")
        expect(page.locator("#live")).to_have_attribute("data-state", "open")
        return page

    yield open_as
    for context in contexts:
        context.close()


def synced(page) -> None:
    """Live, and the catch-up fetch after connecting has replaced the list."""
    from playwright.sync_api import expect

    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    expect(page.locator("#queue")).to_have_attribute("data-synced", "1")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def many(procurement, capex, n: int = 100) -> list[str]:
    ids: list[str] = []

    def make():
        for i in range(n):
            client = capex if i % 10 == 0 else procurement
            ids.append(client.decide({**LARGE_ORDER, "resource": f"vendor:v{i:03d}"}).json()["id"])

    off_the_loop(make)
    return ids


def test_inbox_with_100_pending_on_a_laptop(server, sign_in, make_agent, procurement, alice, bob):  # noqa: F811
    from playwright.sync_api import expect

    capex = make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))
    ids = many(procurement, capex)
    dialogs: list[str] = []
    page = sign_in("alice", DESKTOP, dialogs)
    other = sign_in("bob", DESKTOP)

    # The true total, compact rows, paging.
    expect(page.locator("#queue-count")).to_have_text("100")
    rows = page.locator("#queue-list > article.esc")
    synced(page)
    expect(rows).to_have_count(25)
    assert rows.first.bounding_box()["height"] < 90
    assert page.evaluate("document.documentElement.scrollHeight") < 25 * 90 + 800
    expect(page.locator("#queue-shown")).to_contain_text("Showing 1–25 of 100")
    shot(page, "desktop-inbox")
    page.click("a[rel=next]")
    expect(page.locator("#queue-shown")).to_contain_text("Showing 26–50 of 100")
    page.goto(f"{server}/?page=4")
    expect(rows).to_have_count(25)
    expect(page.locator("a[rel=next]")).to_have_count(0)

    # Filter and search.
    page.goto(f"{server}/")
    page.select_option("#f-agent", "capex-bot")
    page.click(".filters button[type=submit]")
    expect(page.locator("#queue-count")).to_have_text("10")
    expect(rows).to_have_count(10)
    page.fill("#f-q", "v050")
    page.click(".filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("capex-bot")
    shot(page, "desktop-filtered")

    # Keyboard: j to the first row, Enter expands in place, o opens its page.
    page.goto(f"{server}/?agent=procurement-bot")
    synced(page)
    page.keyboard.press("j")
    first = rows.first
    expect(first.locator(".esc-toggle")).to_be_focused()
    page.keyboard.press("Enter")
    expect(first.locator(".esc-body")).to_be_visible()
    expect(first.locator(".reasons")).to_contain_text("amount over the 10,000 auto-approval limit")
    shot(page, "desktop-expanded")  # the details were fetched on expand (compact rows)
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(first.locator(".esc-toggle")).to_be_focused()
    rid = first.get_attribute("id").removeprefix("esc-")
    page.keyboard.press("o")
    page.wait_for_url(f"{server}/escalations/{rid}/")
    expect(page.locator("#audit")).to_contain_text("escalation.opened")
    expect(page.locator("#history")).to_contain_text("purchase_order.create")

    # bob has the inbox open; alice extends from the page: his row's deadline moves, live.
    before = other.locator(f"#esc-{rid}").get_attribute("data-deadline")
    page.fill("#extend-comment", "asking the vendor")
    page.click(".btn-extend")
    expect(page.locator(".flash-success")).to_contain_text("extended")
    expect(other.locator(f"#esc-{rid}")).not_to_have_attribute("data-deadline", before)
    assert AuditEvent.objects.filter(request_id=rid, kind="escalation.extended").exists()

    # Approve with edits from the page: a smaller amount; the page then shows what was approved.
    page.fill("#edit-amount", "30000")
    page.fill("#edit-comment", "only the first floor")
    page.click(".btn-edit")
    expect(page.locator(f"#esc-{rid}")).to_have_attribute("data-state", "approved")
    expect(page.locator("#votes")).to_contain_text("edited")
    expect(page.locator(".approved-params")).to_contain_text("30000")
    shot(page, "desktop-escalation-page")
    assert DecisionRequest.objects.get(pk=rid).approved_params == {"amount": 30000, "currency": "USD"}
    expect(other.locator(f"#esc-{rid}")).to_have_attribute("data-final", "1")

    # Batch: select two rows with x, approve them (confirmed), and see the flash.
    page.goto(f"{server}/?agent=procurement-bot")
    synced(page)
    picked = []
    for i in range(2):
        row = rows.nth(i)
        row.locator(".esc-toggle").focus()
        page.keyboard.press("x")
        picked.append(row.get_attribute("id").removeprefix("esc-"))
    page.fill("#batch-comment", "batch ok")
    expect(page.locator("#queue-list input.pick:checked")).to_have_count(2)
    page.click(".batch .btn-approve")
    assert any("Approve 2 selected" in d for d in dialogs), dialogs
    expect(page.locator(".flash-success")).to_contain_text("Approved 2 of 2")
    for pk in picked:
        assert Vote.objects.get(escalation_id=pk, user__username="alice").comment == "batch ok"
    # Back on the whole inbox: 100, less the one approved with edits, less these two.
    expect(page.locator("#queue-count")).to_have_text("97")

    # Still live: a new escalation arrives without a reload and the total follows.
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    page.evaluate("window.__sameDocument = true")
    decide_over_http(server, procurement.token, {**LARGE_ORDER, "resource": "vendor:late"})
    expect(page.locator("#queue-count")).to_have_text("98")
    assert same_document(page)
    assert len(ids) == 100


def test_inbox_on_a_phone(server, sign_in, procurement, alice):  # noqa: F811
    from playwright.sync_api import expect

    rid = decide_over_http(server, procurement.token, LARGE_ORDER)["id"]
    dialogs: list[str] = []
    page = sign_in("alice", PHONE, dialogs, accept=False)
    row = page.locator(f"#esc-{rid}")
    expect(row.locator(".why-pill")).to_be_visible()
    expect(row.locator(".row-headline")).to_have_text("$47,000")
    shot(page, "phone-inbox")
    row.locator(".esc-toggle").click()
    factors, buttons = row.locator(".key-factors"), row.locator(".buttons")
    expect(factors).to_be_visible()
    assert factors.bounding_box()["y"] < buttons.bounding_box()["y"]
    shot(page, "phone-expanded")

    # A stray tap is not an approval: it asks, naming the amount; cancelling records nothing.
    row.locator(".btn-approve").click()
    expect(row).to_have_attribute("data-state", "pending")
    assert dialogs == ["Approve $47,000 for procurement-bot?"]
    assert not Vote.objects.filter(escalation_id=rid).exists()

    # Signed out in another tab: the vote says it was not recorded and records nothing.
    other = page.context.new_page()
    other.goto(f"{server}/")
    other.locator("form[action='/accounts/logout/'] button").click()
    row.locator(".comment").fill("from the phone")
    row.locator(".btn-deny").click()
    expect(row.locator(".flash-send")).to_contain_text("Not recorded — sign in again")
    shot(page, "phone-signed-out")
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    assert not Vote.objects.filter(escalation_id=rid).exists()
