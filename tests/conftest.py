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
