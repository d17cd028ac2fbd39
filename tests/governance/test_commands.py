"""Management commands of SPEC §4: fixed names and outputs that scripts rely on."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from approvals.models import ApproverProfile
from governance.models import Agent, AgentToken, AuditEvent
from tests.conftest import AgentClient

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()


def test_agent_create_prints_a_working_token_last():
    lines = run("agent_create", "ops-bot")
    token = lines[-1]
    agent = Agent.objects.get(name="ops-bot")
    assert token.startswith("alk_")
    assert not AgentToken.objects.filter(digest=token).exists()  # stored hashed, never in clear
    assert AgentClient(agent, token).decide({"action": "x"}).status_code == 200
    assert AuditEvent.objects.filter(kind="agent.created", agent=agent).exists()


def test_agent_create_with_callback_prints_the_secret_before_the_token():
    lines = run("agent_create", "hook-bot", "--callback-url", "https://example.test/airlock")
    agent = Agent.objects.get(name="hook-bot")
    assert lines[-2] == f"callback_secret={agent.callback_secret}"
    assert len(agent.callback_secret) >= 32
    assert lines[-1].startswith("alk_")


def test_agent_create_rejects_bad_and_duplicate_names():
    with pytest.raises(CommandError):
        run("agent_create", "Bad Name!")
    run("agent_create", "dup-bot")
    with pytest.raises(CommandError):
        run("agent_create", "dup-bot")


def test_token_rotate_revokes_the_old_token():
    old = run("agent_create", "ops-bot")[-1]
    new = run("agent_token_rotate", "ops-bot")[-1]
    agent = Agent.objects.get(name="ops-bot")
    assert AgentClient(agent, old).decide({"action": "x"}).status_code == 401
    assert AgentClient(agent, new).decide({"action": "x"}).status_code == 200


def test_token_rotate_unknown_agent_fails():
    with pytest.raises(CommandError):
        run("agent_token_rotate", "ghost")


def test_approver_add_creates_then_updates():
    run("approver_add", "alice", "--group", "finance", "--password", "s3cret-pass", "--email", "alice@example.test", "--slack-id", "U123")
    alice = User.objects.get(username="alice")
    assert alice.check_password("s3cret-pass")
    assert list(alice.groups.values_list("name", flat=True)) == ["finance"]
    assert ApproverProfile.objects.get(user=alice).slack_user_id == "U123"
    run("approver_add", "alice", "--group", "finance-leads")
    assert set(alice.groups.values_list("name", flat=True)) == {"finance", "finance-leads"}
    assert AuditEvent.objects.filter(kind="approver.created").count() == 1
    assert AuditEvent.objects.filter(kind="approver.updated").count() == 1


def test_audit_verify_alias_exists():
    run("agent_create", "ops-bot")
    assert "intact" in run("verify_audit")[-1]
