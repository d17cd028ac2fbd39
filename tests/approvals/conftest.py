"""Named people for escalation tests: alice and bob (finance approvers), charlie (engineering,
not an approver of the procurement bot), dave (finance leads), and an admin (superuser)."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.conftest import ENVELOPES, AgentClient
from tests.worker import celery_worker  # noqa: F401  (a real Celery worker: see tests/worker.py)

LARGE_ORDER = {
    "action": "purchase_order.create",
    "resource": "vendor:acme-furniture",
    "params": {"amount": 47000, "currency": "USD"},
    "context": {"reasoning": "desks for the new floor", "confidence": 0.91, "input_source": "user"},
}


def person(username: str, *groups: str):
    args = [username, "--password", f"{username}-pw-123"]
    for group in groups:
        args += ["--group", group]
    call_command("approver_add", *args, stdout=io.StringIO())
    return get_user_model().objects.get(username=username)


@pytest.fixture
def alice(db):
    return person("alice", "finance")


@pytest.fixture
def bob(db):
    return person("bob", "finance")


@pytest.fixture
def charlie(db):
    return person("charlie", "engineering")


@pytest.fixture
def dave(db):
    return person("dave", "finance-leads")


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pw-123")


def envelope_with(**changes) -> str:
    """The demo envelope with top-level keys replaced, e.g. quorum=2."""
    source = (ENVELOPES / "procurement-bot.yaml").read_text()
    for key, value in changes.items():
        lines = source.splitlines()
        lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line for line in lines]
        source = "\n".join(lines) + "\n"
    return source


@pytest.fixture
def escalate(procurement):
    """Ask for a large order from a new vendor (escalates); returns the request id."""

    def make(client=None, **overrides) -> str:
        client = client or procurement
        body = client.decide({**LARGE_ORDER, **overrides}).json()
        assert body["status"] == "pending", body
        return body["id"]

    return make


@pytest.fixture
def callback_agent(db, settings):
    """make(url, ttl="15m") -> an AgentClient whose agent calls back to `url` (a local receiver:
    private addresses allowed here; the worker's settings allow them too)."""
    settings.AIRLOCK_CALLBACK_ALLOW_PRIVATE = True
    from governance.services import agent_create, envelope_apply

    def make(url: str, ttl: str = "15m", name: str = "callback-bot") -> AgentClient:
        agent, token = agent_create(name=name, callback_url=url)
        envelope_apply(source=envelope_with(agent=name, escalation_ttl=ttl))
        agent.refresh_from_db()
        return AgentClient(agent, token)

    return make


@pytest.fixture(scope="session", autouse=True)
def _close_longpoll_connections(django_db_setup):
    """The long-poll read threads keep their DB connections; close them before the test
    database is dropped (PostgreSQL refuses to drop a database in use)."""
    yield
    from api.longpoll import longpoll_close_connections

    longpoll_close_connections()
