"""Migrating a database created at the previous main (commit 0a0d4e2, before the layout
change) keeps every row, and Slack's message references move off the core Escalation model.

How the old database is made: the migration graph is rolled back to the leaves that commit
had (OLD_MAIN: governance 0003, approvals 0002, no Slack app) — the files up to those leaves
are byte-identical to that commit's, which the last test checks when git history is present —
rows are written with the historical models of that state, and then `migrate` runs forward
to today's leaves, exactly as `make run` would on an existing var/airlock.sqlite3.
"""

import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent.parent
PREVIOUS_MAIN = "0a0d4e2"
OLD_MAIN = [
    ("governance", "0003_params_gin"),
    ("approvals", "0002_escalation_groups"),
    ("slack", None),  # integrations.slack did not exist
]
OLD_FILES = [
    "governance/migrations/0001_initial.py",
    "governance/migrations/0002_breaker_reset_and_agent_time.py",
    "governance/migrations/0003_params_gin.py",
    "approvals/migrations/0001_initial.py",
    "approvals/migrations/0002_escalation_groups.py",
]


def migrate_to(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    # The models as the applied migrations define them (the historical models of that state).
    return MigrationExecutor(connection)._create_project_state(with_applied_migrations=True).apps


def latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def request_row(apps, agent, status, now, **extra):
    DecisionRequest = apps.get_model("governance", "DecisionRequest")
    return DecisionRequest.objects.create(
        id=uuid.uuid4(), agent=agent, action="purchase_order.create", resource="vendor:acme",
        params={"amount": 47000}, digest="d" * 64, decision="escalate", status=status,
        reasons=[{"code": "amount_over", "message": "over 10000"}], risk={"score": 40},
        created_at=now, expires_at=now + timedelta(minutes=15), **extra,
    )


@pytest.mark.django_db(transaction=True)
def test_rows_written_at_the_previous_main_survive_migrate():
    old = migrate_to(OLD_MAIN)
    now = timezone.now()
    User = old.get_model("auth", "User")
    Agent = old.get_model("governance", "Agent")
    Escalation = old.get_model("approvals", "Escalation")
    Vote = old.get_model("approvals", "Vote")
    AuditEvent = old.get_model("governance", "AuditEvent")
    alice = User.objects.create(username="alice", password="!")
    agent = Agent.objects.create(name="procurement-bot")
    posted = request_row(old, agent, "approved", now, decided_by=["alice"], decided_at=now)
    waiting = request_row(old, agent, "pending", now)
    Escalation.objects.create(request=posted, deadline=now + timedelta(minutes=15), approver_groups=["finance"],
                              slack_channel="C0APPROVALS", slack_ts="1700000000.000100")
    Escalation.objects.create(request=waiting, deadline=now + timedelta(minutes=15), approver_groups=["finance"])
    Vote.objects.create(escalation_id=posted.pk, user=alice, choice="approve", via="slack")
    AuditEvent.objects.create(chain="agent:procurement-bot", seq=1, prev_hash="0" * 64, hash="a" * 64,
                              kind="escalation.approved", actor="user:alice", agent=agent,
                              request_id=posted.pk, payload={}, created_at=now)

    new = migrate_to(latest())

    assert new.get_model("governance", "DecisionRequest").objects.count() == 2
    events = new.get_model("governance", "AuditEvent").objects
    assert list(events.filter(request_id=posted.pk).values_list("kind", "actor")) == [
        ("escalation.approved", "user:alice")
    ]
    escalations = new.get_model("approvals", "Escalation")
    assert escalations.objects.count() == 2
    assert not {"slack_channel", "slack_ts"} & {f.name for f in escalations._meta.get_fields()}
    vote = new.get_model("approvals", "Vote").objects.get()
    assert (vote.escalation_id, vote.user.username, vote.via) == (posted.pk, "alice", "slack")
    messages = new.get_model("slack", "SlackMessage").objects.all()
    assert [(m.escalation_id, m.channel, m.ts) for m in messages] == [
        (posted.pk, "C0APPROVALS", "1700000000.000100")
    ]


@pytest.mark.django_db(transaction=True)
def test_the_move_can_be_migrated_back_without_losing_the_message_references():
    state = migrate_to(latest())
    now = timezone.now()
    agent = state.get_model("governance", "Agent").objects.create(name="procurement-bot")
    row = request_row(state, agent, "pending", now)
    state.get_model("approvals", "Escalation").objects.create(request=row, deadline=now, approver_groups=[])
    state.get_model("slack", "SlackMessage").objects.create(escalation_id=row.pk, channel="C1", ts="1.2")

    old = migrate_to(OLD_MAIN)
    escalation = old.get_model("approvals", "Escalation").objects.get()
    assert (escalation.slack_channel, escalation.slack_ts) == ("C1", "1.2")
    migrate_to(latest())


def test_the_old_state_is_the_previous_main():
    """The OLD_MAIN leaves and the files up to them are what commit 0a0d4e2 had."""
    try:
        listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", PREVIOUS_MAIN], cwd=ROOT,
                                 capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if listing.returncode != 0:
        pytest.skip(f"commit {PREVIOUS_MAIN} is not in this checkout's history")
    old_migrations = sorted(p for p in listing.stdout.splitlines() if "/migrations/0" in p)
    assert old_migrations == sorted(OLD_FILES)
    for path in OLD_FILES:
        then = subprocess.run(["git", "show", f"{PREVIOUS_MAIN}:{path}"], cwd=ROOT, capture_output=True, timeout=30)
        assert then.stdout == (ROOT / path).read_bytes(), path
