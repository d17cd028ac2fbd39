"""The admin pages in a real browser (Debian's Chromium through Playwright)."""

import os
import re
from pathlib import Path

import pytest
from django.db import connections

from governance.models import Agent, AuditEvent, Envelope
from tests.adminui.conftest import PASSWORD
from tests.conftest import AgentClient
from tests.embedded_services import missing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = re.compile(r"alk_[0-9a-f]{12}_[A-Za-z0-9_-]+")


@pytest.fixture
def browser_page(live_server, admin_user, tmp_path):
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing(f"playwright not importable: {exc}")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(10_000)
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", admin_user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        page.base = live_server.url
        page.shots = Path(os.environ.get("AIRLOCK_SCREENSHOTS", tmp_path))
        page.shots.mkdir(parents=True, exist_ok=True)
        yield page
        browser.close()
        # Django's connections are context-local, and Playwright's greenlets have their own
        # context: close what the test body opened here, or PostgreSQL keeps a session open.
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_editor_rejects_invalid_yaml_then_activates_a_previewed_change(browser_page, procurement):
    page = browser_page
    order = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 15000},
             "context": {"confidence": 1, "input_source": "config"}}
    assert procurement.decide(order).json()["decision"] == "escalate"
    page.goto(f"{page.base}/admin/agents/procurement-bot/envelope/")
    page.locator(".cm-airlock .cm-content").wait_for()  # the code editor is mounted
    original = page.locator("#id_source").input_value()

    def paste(text: str) -> None:
        # Replace the whole document as a paste would, through the code editor.
        page.evaluate("t => AirlockEditor.setValue(document.getElementById('id_source'), t)", text)

    # Invalid YAML: the error shows up while typing, marked in the editor, and saving
    # (even on purpose without a preview) activates nothing.
    paste(original.replace("mode: enforce", "mode: [enforce"))
    check = page.get_by_test_id("check")
    check.get_by_role("heading", name="Not valid").wait_for()
    assert "The YAML cannot be read here" in page.get_by_test_id("check-error").inner_text()
    page.locator(".cm-lint-marker-error").first.wait_for()
    page.screenshot(path=page.shots / "editor-invalid.png", full_page=True)
    check.get_by_role("button", name=re.compile(r"Go to line 4, column 7")).click()  # where "[" opened
    assert "mode: [enforce" in page.locator(".cm-activeLine").inner_text()
    assert page.get_by_test_id("activate").is_disabled()  # no preview of this draft
    page.get_by_test_id("skip-preview").locator("summary").click()
    page.fill("#id_skip_reason", "testing a broken draft")
    page.get_by_test_id("activate-unpreviewed").click()
    page.get_by_test_id("save-error").wait_for()
    assert "mode: [enforce" in page.locator("#id_source").input_value()  # the draft is still there
    assert Envelope.objects.filter(agent=procurement.agent).count() == 1

    # A valid change: the diff and the replay preview show what it does, then activate.
    page.locator(".cm-airlock .cm-content").wait_for()
    paste(original.replace('"params.amount > 10000"', '"params.amount > 20000"'))
    page.get_by_test_id("check").get_by_role("heading", name="Valid", exact=True).wait_for()
    diff = page.get_by_test_id("diff")
    assert "params.amount > 20000" in diff.inner_text()
    page.get_by_test_id("replay").click()
    result = page.get_by_test_id("replay-result")
    result.get_by_text("would change").wait_for()
    assert "1 of 1 answer would change" in " ".join(result.inner_text().split())
    page.screenshot(path=page.shots / "editor-preview.png", full_page=True)
    page.fill("#id_comment", "auto-approve up to 20k")
    page.get_by_test_id("activate").click()
    page.get_by_test_id("active-badge").wait_for()
    assert page.url.endswith("/admin/agents/procurement-bot/envelopes/2/")

    agent = Agent.objects.select_related("active_envelope").get(pk=procurement.agent.pk)
    assert agent.active_envelope.version == 2 and agent.active_envelope.created_via == "ui"
    event = AuditEvent.objects.filter(kind="envelope.activated").order_by("-id").first()
    assert event.actor == "user:admin" and event.payload["comment"] == "auto-approve up to 20k"
    assert procurement.decide(order).json()["decision"] == "allow"


def test_agents_page_creates_an_agent_shows_its_token_once_and_rotates_it(browser_page):
    page = browser_page
    page.goto(f"{page.base}/admin/agents/")
    page.get_by_text("New agent").click()
    page.fill("#id_name", "deploy-bot")
    page.fill("#id_description", "Ships services to production")
    page.fill("#id_callback_url", "https://agents.example.com/airlock")
    page.get_by_role("button", name="Create agent").click()
    page.get_by_text("Agent deploy-bot created").wait_for()
    token = page.locator("#agent-token").input_value()
    assert TOKEN.fullmatch(token)
    assert len(page.locator("#callback-secret").input_value()) == 64
    page.screenshot(path=page.shots / "agent-created.png", full_page=True)
    agent = Agent.objects.get(name="deploy-bot")
    assert AgentClient(agent, token).decide({"action": "deploy"}).status_code == 200

    page.get_by_role("link", name="Go to deploy-bot").click()
    assert token not in page.content()  # shown once
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("rotate").click()
    page.get_by_text("New token — copy it now").wait_for()
    rotated = page.locator("#agent-token").input_value()
    assert TOKEN.fullmatch(rotated) and rotated != token
    page.screenshot(path=page.shots / "agent-rotated.png", full_page=True)
    assert AgentClient(agent, token).decide({"action": "deploy"}).status_code == 401
    assert AgentClient(agent, rotated).decide({"action": "deploy"}).status_code == 200
    assert AuditEvent.objects.filter(kind="agent.token_rotated", actor="user:admin", agent=agent).count() == 1

    page.goto(f"{page.base}/admin/agents/")
    row = page.get_by_role("row").filter(has_text="deploy-bot")
    assert "active" in row.inner_text() and "none — write one" in row.inner_text()
    page.screenshot(path=page.shots / "agents.png", full_page=True)
