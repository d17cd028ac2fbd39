"""A real SMTP server (aiosmtpd) on 127.0.0.1, and Airlock's email channel pointed at it.

Named people: alice and bob (finance, with email), oscar (oncall-sre, the tier after the first),
charlie (engineering: eligible nowhere)."""

import email
import email.policy
import re
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from shared.email_url import email_settings
from tests.approvals.conftest import person

ROUTED = """
agent: procurement-bot
approvers: [finance]
quorum: 1
escalation_ttl: 15m
tiers:
  - {after: 5m, approvers: [oncall-sre]}
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
    escalate_when: ["params.amount > 10000"]
"""
ORDER = {"action": "purchase_order.create", "resource": "vendor:acme", "params": {"amount": 47000, "currency": "USD"},
         "context": {"reasoning": "desks for the new floor", "input_source": "user"}}


class Inbox:
    """What the SMTP server received, parsed."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list:
        with self.lock:
            return [m for m in self.messages if address in m["To"]]

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "mail") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; got {[m['Subject'] for m in self.messages]}")


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def links_in(message) -> dict[str, str]:
    """{"approve": path, "deny": path, "page": url} from the plain-text part."""
    body = text_of(message)
    approve = re.search(r"Approve: (\S+)", body).group(1)
    deny = re.search(r"Deny:\s+(\S+)", body).group(1)
    page = re.search(r"See it in Airlock: (\S+)", body).group(1)
    strip = re.compile(r"^https?://[^/]+")
    return {"approve": strip.sub("", approve), "deny": strip.sub("", deny), "page": page}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{port}"
    yield inbox
    controller.stop()


@pytest.fixture
def mail(smtp_server, settings, redis_url):
    """The email channel on, against the local SMTP server; Celery eager; receivers connected."""
    from django.apps import apps

    from approvals.receivers import schedule_expiry_on_open
    from approvals.signals import escalation_opened

    for key, value in email_settings(smtp_server.url).items():
        setattr(settings, key, value)
    settings.DEFAULT_FROM_EMAIL = "airlock@example.com"
    settings.EMAIL_ENABLED = True
    settings.AIRLOCK_BASE_URL = "http://airlock.test"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = True
    config = apps.get_app_config("email")
    config.connect()
    # As in the Slack fixture: eager Celery ignores ETAs, so the expiry task would recurse.
    escalation_opened.disconnect(dispatch_uid="approvals.schedule_expiry")
    yield smtp_server
    escalation_opened.connect(schedule_expiry_on_open, dispatch_uid="approvals.schedule_expiry")
    config.disconnect()


@pytest.fixture
def team(db):
    people = {
        "alice": person("alice", "finance"),
        "bob": person("bob", "finance"),
        "oscar": person("oscar", "oncall-sre"),
        "charlie": person("charlie", "engineering"),
    }
    for user in people.values():
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
    return people


from tests.worker import celery_worker  # noqa: E402,F401  (a real Celery worker + beat, tests/worker.py)
