"""Named actors and helpers shared by the whole suite."""

import os
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from governance.services import agent_create, envelope_apply
from tests.embedded_services import REDIS_PROBLEM, missing
from tests.integrations.slack.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
ENVELOPES = ROOT / "examples" / "envelopes"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture
def postgres():
    """Races and locks are only real on PostgreSQL: those tests run in the PostgreSQL pass."""
    if not is_postgres():
        if os.environ.get("AIRLOCK_REQUIRE_POSTGRES"):
            pytest.fail("this run must use PostgreSQL (DATABASE_URL)", pytrace=False)
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://... (.ci/run does)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    if REDIS_PROBLEM:
        missing(REDIS_PROBLEM)
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        missing(f"redis at {settings.REDIS_URL} unreachable: {exc}")
    return settings.REDIS_URL


@pytest.fixture(autouse=True)
def _audit_checkpoints_per_test(settings, tmp_path):
    """Each test writes and reads its own audit checkpoints: checkpoints of one test's
    (rolled back) database would otherwise be "truncated" chains to the next test."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "audit-checkpoints")


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


class AgentClient:
    """An agent talking to the API with its bearer token."""

    def __init__(self, agent, token: str):
        self.agent, self.token = agent, token
        self.client = APIClient()

    def decide(self, body, **extra):
        return self.client.post("/api/v1/decide", body, format="json", **bearer(self.token), **extra)

    def get(self, path, **extra):
        return self.client.get(path, **bearer(self.token), **extra)

    def post(self, path, body, **extra):
        return self.client.post(path, body, format="json", **bearer(self.token), **extra)


@pytest.fixture
def make_agent(db):
    def make(name: str = "procurement-bot", envelope: str | None = "procurement-bot.yaml") -> AgentClient:
        agent, token = agent_create(name=name)
        if envelope is not None:
            source = (ENVELOPES / envelope).read_text() if envelope.endswith(".yaml") else envelope
            envelope_apply(source=source.replace("agent: procurement-bot", f"agent: {name}", 1))
        agent.refresh_from_db()
        return AgentClient(agent, token)

    return make


@pytest.fixture
def procurement(make_agent) -> AgentClient:
    """The procurement agent with the demo envelope."""
    return make_agent()


# Slack against a local fake of its Web API (tests/integrations/slack/fake_slack.py): used by
# the Slack tests and by the race through every channel (tests/approvals/test_races.py).
SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def fake_slack():
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def slack(fake_slack, settings, redis_url):
    """Slack configured against the fake, receivers connected, Celery eager."""
    settings.SLACK_BOT_TOKEN = fake_slack.token
    settings.SLACK_SIGNING_SECRET = SLACK_SIGNING_SECRET
    settings.SLACK_CHANNEL = "#approvals"
    settings.SLACK_API_URL = fake_slack.url
    settings.SLACK_TEAM_ID = "T0AIRLOCK"  # tests of the auth.test fallback unset it
    settings.SLACK_ENABLED = True
    settings.SLACK_TIMEOUT = 2
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    from approvals.receivers import schedule_expiry_on_open
    from approvals.signals import escalation_opened
    from integrations.slack import interactions, receivers

    interactions._teams.clear()  # the team learned through auth.test, per process
    receivers.connect()
    # Eager Celery ignores ETAs, so the expiry task scheduled at open would run at once, find
    # the escalation not yet due and reschedule itself until RecursionError (harmless but ~10 s
    # per test). Expiry is driven explicitly in these tests (escalation_expire(now=...)).
    escalation_opened.disconnect(dispatch_uid="approvals.schedule_expiry")
    yield fake_slack
    escalation_opened.connect(schedule_expiry_on_open, dispatch_uid="approvals.schedule_expiry")
    receivers.disconnect()
