"""Tiers and reminders end to end, driven by a real Celery worker with beat (tests/worker.py):
the beat's routing sweep opens the on-call tier and later sends the reminder, and each channel
tells the right people: email (a real SMTP server, aiosmtpd) and Slack (the local fake of its
Web API, a reply in the escalation's thread mentioning them). Then the on-call person answers
from the email, and Slack shows the outcome."""

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client

from approvals.models import EscalationStep
from governance.models import AuditEvent, DecisionRequest
from integrations.slack import receivers as slack_receivers
from integrations.slack.models import SlackMessage
from tests.conftest import SLACK_SIGNING_SECRET
from tests.integrations.email.conftest import links_in, text_of
from tests.integrations.slack.conftest import texts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAST = """
agent: procurement-bot
approvers: [finance]
escalation_ttl: 20s
tiers:
  - {after: 3s, approvers: [oncall-sre]}
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
    escalate_when: ["params.amount > 10000"]
"""


@pytest.fixture
def channels_on(settings, fake_slack, smtp_server, redis_url):
    """Slack and email configured in this process (to enqueue) and in the worker (to send)."""
    from shared.email_url import email_settings

    env = {
        "SLACK_BOT_TOKEN": fake_slack.token, "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "SLACK_CHANNEL": "#approvals", "SLACK_API_URL": fake_slack.url, "SLACK_TEAM_ID": "T0AIRLOCK",
        "EMAIL_URL": smtp_server.url, "DEFAULT_FROM_EMAIL": "airlock@example.com",
        "AIRLOCK_BASE_URL": "http://airlock.test",
    }
    settings.SLACK_BOT_TOKEN, settings.SLACK_SIGNING_SECRET = env["SLACK_BOT_TOKEN"], SLACK_SIGNING_SECRET
    settings.SLACK_CHANNEL, settings.SLACK_API_URL, settings.SLACK_TEAM_ID = "#approvals", fake_slack.url, "T0AIRLOCK"
    settings.SLACK_ENABLED = True
    for key, value in email_settings(smtp_server.url).items():
        setattr(settings, key, value)
    settings.DEFAULT_FROM_EMAIL, settings.EMAIL_ENABLED = env["DEFAULT_FROM_EMAIL"], True
    settings.AIRLOCK_BASE_URL = env["AIRLOCK_BASE_URL"]
    settings.AIRLOCK_REMINDER_BEFORE = 8  # deadline at 20 s: remind at 12 s
    settings.CELERY_TASK_ALWAYS_EAGER = False
    email_config = apps.get_app_config("email")
    slack_receivers.connect()
    email_config.connect()
    yield env
    email_config.disconnect()
    slack_receivers.disconnect()


def test_the_on_call_tier_and_the_reminder_reach_every_channel(channels_on, celery_worker, fake_slack, smtp_server, make_agent):
    for name, group in (("alice", "finance"), ("oscar", "oncall-sre")):
        call_command("approver_add", name, "--group", group, "--email", f"{name}@example.com",
                     "--slack-id", f"U0{name.upper()}", stdout=open("/dev/null", "w"))
    celery_worker(beat=True, env=channels_on)
    agent = make_agent(envelope=FAST)
    response = agent.decide({"action": "purchase_order.create", "resource": "vendor:acme", "params": {"amount": 47000}})
    assert response.json()["decision"] == "escalate"
    request_id = response.json()["id"]

    # Opened: finance is mailed, the Slack message is posted; on-call hears nothing yet.
    smtp_server.wait_for(lambda: smtp_server.to("alice@example.com"), what="alice's first mail")
    fake_slack.wait_for(lambda: SlackMessage.objects.filter(pk=request_id).exists(), what="the Slack message")
    thread = SlackMessage.objects.get(pk=request_id).ts

    # 3 s in: the beat's sweep opens the tier. Oscar gets a mail and a mention in the thread.
    smtp_server.wait_for(lambda: smtp_server.to("oscar@example.com"), what="oscar's tier mail")
    tier_mail = smtp_server.to("oscar@example.com")[0]
    assert "escalated to you" in tier_mail["Subject"] and " left)" in tier_mail["Subject"]

    def replies():
        return [c.args for c in fake_slack.calls_to("chat.postMessage", ok_only=True) if c.args.get("thread_ts") == thread]

    fake_slack.wait_for(lambda: replies(), what="the tier notice in the thread")
    tier_notice = texts(replies()[0]["blocks"])
    assert "Tier 1 is now eligible" in tier_notice and "<@U0OSCAR>" in tier_notice and "<@U0ALICE>" not in tier_notice
    assert " left" in tier_notice
    assert AuditEvent.objects.filter(kind="escalation.tier_opened", request_id=request_id).exists()

    # 12 s in: the reminder, to both, in Slack (time left) and by mail.
    fake_slack.wait_for(lambda: len(replies()) >= 2, what="the reminder in the thread")
    reminder = texts(replies()[1]["blocks"])
    assert "Reminder:" in reminder and "s left" in reminder
    assert "<@U0ALICE>" in reminder and "<@U0OSCAR>" in reminder
    smtp_server.wait_for(lambda: any(m["Subject"].startswith("[Airlock] Reminder") for m in smtp_server.to("oscar@example.com")),
                         what="oscar's reminder mail")
    assert EscalationStep.objects.filter(pk__isnull=False, sent_at__isnull=True).count() == 0

    # Oscar answers from his tier mail before the deadline; Slack's message shows it.
    link = links_in(tier_mail)["approve"]
    client = Client()
    assert client.get(link).status_code == 200
    response = client.post(link, {"comment": "on call: go"})
    assert response.status_code == 200, response.content.decode()[:500]
    assert DecisionRequest.objects.get(pk=request_id).status == "approved"
    channel = SlackMessage.objects.get(pk=request_id).channel
    fake_slack.wait_for(
        lambda: "*Approved* by oscar" in texts(fake_slack.messages[(channel, thread)].blocks),
        what="the Slack message showing oscar's approval",
    )
    assert "expires to deny in" in text_of(smtp_server.to("alice@example.com")[-1])
