"""The live queue in a real browser (Debian's Chromium through Playwright) against the real
ASGI server: two approvers, each in their own browser context, never reloading."""

import os
import threading

import pytest
from django.db import connection

from approvals.services import escalation_expire
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.asgi_server import asgi_server, decide_over_http
from tests.approvals.conftest import LARGE_ORDER, envelope_with
from tests.embedded_services import missing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def server(django_db_setup, redis_url, tmp_path_factory):
    """One server for the module: each test's rows are committed, then flushed after it."""
    with asgi_server(log=tmp_path_factory.mktemp("uvicorn") / "uvicorn.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls are
    # still plain blocking calls.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def open_queue(browser, server):
    """A person's own browser (a fresh context): log in through the form, land on the live
    queue. Contexts are closed after the test."""
    from playwright.sync_api import expect

    opened = []

    def open_as(username: str):
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        opened.append(context)
        page = context.new_page()
        # Approving a large amount asks first (issue 12); these approvers mean it.
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{server}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", f"{username}-pw-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/")
        expect(page.locator("#live")).to_have_attribute("data-state", "open")
        # Survives only if the page is never reloaded.
        page.evaluate("window.__sameDocument = true")
        return page

    yield open_as
    for context in opened:
        context.close()


def expand(page, rid):
    """Rows are compact (issue 12): open one in place to answer it."""
    page.locator(f"#esc-{rid} .esc-toggle").click()


def same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def off_the_loop(fn, **kwargs):
    """Run a service in a plain thread: its after-commit push uses async_to_sync, which cannot
    run in this thread while Playwright's event loop lives here."""
    errors: list[BaseException] = []

    def run():
        try:
            fn(**kwargs)
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]


def test_escalation_appears_in_both_browsers_and_approval_updates_the_other(server, open_queue, procurement, alice, bob):
    from playwright.sync_api import expect

    pages = open_queue("alice"), open_queue("bob")
    rid = decide_over_http(server, procurement.token, LARGE_ORDER)["id"]
    for page in pages:
        card = page.locator(f"#esc-{rid}")
        expect(card).to_be_visible()
        expect(card.locator(".amount-value")).to_have_text("$47,000")
        expect(card).to_contain_text("amount over the 10,000 auto-approval limit")
        expect(card).to_contain_text("desks for the new floor")
        expect(page.locator("#queue-count")).to_have_text("1")
        # The "Showing" line follows the live rows, as the badge does.
        expect(page.locator("#queue-shown")).to_have_text("Showing 1–1 of 1")

    alice_page, bob_page = pages
    expand(alice_page, rid)
    alice_page.locator(f"#esc-{rid} .comment").fill("budgeted in Q3")
    # A click that never reaches the server says so, and changes nothing.
    alice_page.route("**/vote", lambda route: route.abort())
    alice_page.locator(f"#esc-{rid} .btn-approve").click()
    expect(alice_page.locator(f"#esc-{rid} .flash-send")).to_contain_text("Not recorded")
    expect(alice_page.locator(f"#esc-{rid}")).to_have_attribute("data-state", "pending")
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    alice_page.unroute("**/vote")
    alice_page.locator(f"#esc-{rid} .btn-approve").click()
    for page in pages:
        card = page.locator(f"#esc-{rid}")
        expect(card).to_have_attribute("data-state", "approved")
        expect(card.locator(".resolution")).to_contain_text("Approved by alice")
        expect(card).to_contain_text("budgeted in Q3")
    # Resolved cards leave after showing their outcome for a moment.
    for page in pages:
        expect(page.locator(f"#esc-{rid}")).to_have_count(0, timeout=15_000)
        expect(page.locator("#queue-count")).to_have_text("0")
        expect(page.locator("#queue-shown")).to_have_text("")
        expect(page.locator("#queue-empty")).to_be_visible()
        assert same_document(page)

    request = DecisionRequest.objects.get(pk=rid)
    assert (request.status, request.decided_by, request.comment) == ("approved", ["alice"], "budgeted in Q3")
    approved = AuditEvent.objects.get(request_id=rid, kind="escalation.approved")
    assert approved.actor == "user:alice" and approved.payload["via"] == "web"


def test_partial_vote_updates_progress_and_keyboard_can_answer(server, open_queue, make_agent, alice, bob):
    from playwright.sync_api import expect

    capex = make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))
    alice_page, bob_page = open_queue("alice"), open_queue("bob")
    rid = decide_over_http(server, capex.token, LARGE_ORDER)["id"]
    expect(bob_page.locator(f"#esc-{rid} .progress-label")).to_contain_text("0 of 2")

    # Keyboard only: Enter on the row opens it; type a comment; Enter does not answer; Tab to
    # Deny, Tab to Approve, Enter.
    alice_page.locator(f"#esc-{rid} .esc-toggle").focus()
    alice_page.keyboard.press("Enter")
    comment = alice_page.locator(f"#esc-{rid} .comment")
    comment.focus()
    alice_page.keyboard.type("fine by me")
    alice_page.keyboard.press("Enter")
    alice_page.keyboard.press("Tab")
    expect(alice_page.locator(f"#esc-{rid} .btn-deny")).to_be_focused()
    alice_page.keyboard.press("Tab")
    expect(alice_page.locator(f"#esc-{rid} .btn-approve")).to_be_focused()
    alice_page.keyboard.press("Enter")
    expect(alice_page.locator(f"#esc-{rid} .voted")).to_contain_text("You approved. Waiting for 1 more approval.")

    # bob sees alice's vote arrive, without a reload, and still has his buttons.
    progress = bob_page.locator(f"#esc-{rid} .progress")
    expect(progress).to_contain_text("1 of 2")
    expect(progress).to_contain_text("alice approved: fine by me")
    expect(bob_page.locator(f"#esc-{rid} .btn-approve")).to_be_enabled()
    expand(bob_page, rid)
    bob_page.locator(f"#esc-{rid} .btn-approve").click()
    for page in (alice_page, bob_page):
        expect(page.locator(f"#esc-{rid}")).to_have_attribute("data-state", "approved")
        assert same_document(page)
    assert DecisionRequest.objects.get(pk=rid).decided_by == ["alice", "bob"]
    assert AuditEvent.objects.filter(request_id=rid, kind="escalation.vote").count() == 2
    assert AuditEvent.objects.filter(request_id=rid, kind="escalation.approved").exists()


def test_expiry_shows_at_the_deadline_and_the_server_push_removes_it(server, open_queue, make_agent, alice, bob):
    from playwright.sync_api import expect

    hasty = make_agent("hasty-bot", envelope_with(agent="hasty-bot", escalation_ttl="4s"))
    pages = open_queue("alice"), open_queue("bob")
    rid = decide_over_http(server, hasty.token, LARGE_ORDER)["id"]
    for page in pages:
        expect(page.locator(f"#esc-{rid}")).to_have_attribute("data-state", "pending")
    # No worker runs here: at the deadline each browser shows the expiry on its own.
    for page in pages:
        card = page.locator(f"#esc-{rid}")
        expect(card).to_have_attribute("data-state", "expired", timeout=15_000)
        expect(card.locator(".countdown")).to_have_text("Expired")
        expect(card.locator(".btn-approve")).to_be_disabled()
        expect(card.locator(".btn-deny")).to_be_disabled()
        expect(card.locator("form[hx-post]")).to_be_hidden()
        expect(card.locator(".resolution")).to_contain_text("Expired — treated as deny")
    assert DecisionRequest.objects.get(pk=rid).status == "pending"

    # The sweep persists the expiry; its push replaces the card in both browsers, then it leaves.
    off_the_loop(escalation_expire, request_id=rid)
    for page in pages:
        card = page.locator(f"#esc-{rid}")
        expect(card).to_have_attribute("data-final", "1")
        expect(card.locator(".resolution")).to_contain_text("Expired — treated as deny")
    for page in pages:
        expect(page.locator(f"#esc-{rid}")).to_have_count(0, timeout=15_000)
        assert same_document(page)
    assert DecisionRequest.objects.get(pk=rid).status == "expired"
    assert AuditEvent.objects.get(request_id=rid, kind="escalation.expired").actor == "system:expiry"
