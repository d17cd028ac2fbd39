"""manage.py incident_trace: every agent action on matching resources, oldest first, with who
approved it and what it did; JSON lines or Markdown; keyset pages; an index on PostgreSQL."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from approvals.services import approval_decide
from governance.decide import DecideInput, decide
from governance.incidents import TRACE_FIELDS, trace
from governance.models import DecisionRequest
from governance.outcomes import outcome_report
from governance.services import agent_create, envelope_apply

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
ENVELOPE = """
agent: {name}
default: deny
approvers: [finance]
escalation_ttl: 1h
capabilities:
  - action: db.replica.teardown
    resources: ["db:*"]
    escalate_when: [{{when: "resource == 'db:replica-7'", code: looks_idle, message: idle replica}}]
  - action: job.rollback
    resources: ["job:*"]
"""


def agent(name):
    row, _token = agent_create(name=name)
    envelope_apply(source=ENVELOPE.format(name=name))
    row.refresh_from_db()
    return row


def ask(who, action, resource, minutes, reasoning=""):
    row, _ = decide(agent=who, data=DecideInput(action, resource, {}, {"reasoning": reasoning, "session": "s-1"}),
                    now=T0 + timedelta(minutes=minutes))
    return row


@pytest.fixture
def history(alice):
    cost, ops = agent("cost-bot"), agent("ops-bot")
    teardown = ask(cost, "db.replica.teardown", "db:replica-7", 10, "3% utilisation for 30 days")
    approval_decide(request_id=teardown.id, user=alice, choice="approve", via="web",
                    now=T0 + timedelta(minutes=12))
    outcome_report(agent=cost, request_id=teardown.id, status="succeeded", detail="replica deleted",
                   effects={"deleted": "db:replica-7"}, now=T0 + timedelta(minutes=13))
    rollback = ask(ops, "job.rollback", "job:nightly-settlement", 20, "throughput spike")
    outcome_report(agent=ops, request_id=rollback.id, status="rolled_back", now=T0 + timedelta(minutes=21))
    ask(ops, "db.replica.teardown", "db:replica-8", 30)
    ask(cost, "db.replica.teardown", "dbx:other", 40)  # outside the envelope, and not db:*
    ask(cost, "db.replica.teardown", "db:replica-7", 50)  # pending at the end of the trace
    return teardown


def run(*args) -> str:
    out = io.StringIO()
    call_command("incident_trace", *args, stdout=out)
    return out.getvalue()


def test_trace_lists_every_agents_actions_oldest_first(history):
    lines = [json.loads(line) for line in run("--resource", "db:*").splitlines()]
    assert [(line["agent"], line["resource"]) for line in lines] == [
        ("cost-bot", "db:replica-7"), ("ops-bot", "db:replica-8"), ("cost-bot", "db:replica-7"),
    ]
    first = lines[0]
    assert list(first) == list(TRACE_FIELDS)
    assert first["id"] == str(history.id)
    assert first["decision"] == "escalate" and first["status"] == "approved" and first["decided_by"] == ["alice"]
    assert first["outcome"]["status"] == "succeeded" and first["outcome"]["effects"] == {"deleted": "db:replica-7"}
    assert first["reasons"][0]["code"] == "looks_idle"
    assert first["envelope_version"] == 1 and first["session"] == "s-1"
    assert first["created_at"] == "2026-11-20T01:10:00Z"


def test_exact_name_window_and_glob_sets(history):
    exact = run("--resource", "db:replica-7", "--until", "2026-11-20T01:45:00Z").splitlines()
    assert len(exact) == 1 and json.loads(exact[0])["id"] == str(history.id)
    since = run("--resource", "db:replica-7", "--since", "2026-11-20T01:45:00").splitlines()
    assert len(since) == 1 and json.loads(since[0])["status"] == "expired"
    assert len(run("--resource", "db:replica-[78]").splitlines()) == 3
    assert len(run("--resource", "*").splitlines()) == 5
    assert run("--resource", "nothing:*") == ""


def test_markdown_names_the_action_the_approver_and_what_it_did(history):
    text = run("--resource", "db:replica-7", "--format", "markdown", "--until", "2026-11-20T01:45:00Z")
    assert text.startswith("## Agent actions on db:replica-7")
    row = next(line for line in text.splitlines() if "cost-bot" in line)
    assert "db.replica.teardown" in row and "alice" in row and "succeeded: replica deleted" in row
    assert "3% utilisation for 30 days" in row


def test_bad_arguments_are_refused():
    with pytest.raises(CommandError, match="--since: not an ISO 8601"):
        run("--resource", "db:*", "--since", "yesterday")
    with pytest.raises(CommandError, match="after --until"):
        run("--resource", "db:*", "--since", "2026-11-21", "--until", "2026-11-20")


def test_keyset_pages_keep_ties_and_order(alice):
    cost = agent("cost-bot")
    for i in range(7):
        # Three pairs at the same instant: a page boundary falls between rows of one instant.
        ask(cost, "db.replica.teardown", f"db:host-{i}", i // 2)
    expected = list(DecisionRequest.objects.order_by("created_at", "id").values_list("id", flat=True))
    got = [line["id"] for line in trace(resources=["db:host-*"], page=2)]
    assert got == [str(pk) for pk in expected]


@pytest.mark.usefixtures("postgres")
def test_prefix_glob_uses_the_pattern_index_on_postgresql(history):
    queryset = DecisionRequest.objects.filter(resource__startswith="db:").order_by("created_at", "id")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    assert "req_resource_prefix" in plan, plan


def test_json_lines_equal_the_trace_dicts(history):
    """The JSON-lines output splices the stored JSON text; it must say what trace() says."""
    lines = [json.loads(line) for line in run("--resource", "*").splitlines()]
    expected = [{k: line[k] for k in TRACE_FIELDS} for line in trace(resources=["*"])]
    assert lines == expected and len(lines) == 5
