"""Resource facts: facts_apply / facts_export, the CEL variable `facts` in decide, the facts in
force recorded with each decision, one indexed query per lookup, and proposals."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.decide import DecideInput, decide
from governance.errors import InvalidInput
from governance.facts import (
    _lookup_sql,
    fact_proposal_decide,
    fact_propose,
    facts_apply,
    facts_for_resource,
)
from governance.knowledge_models import Fact, FactProposal, FactSet
from governance.models import AuditEvent
from governance.services import agent_create, envelope_apply
from shared.db import prepared_cursor

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "examples" / "facts.yaml"


def export() -> str:
    out = io.StringIO()
    call_command("facts_export", stdout=out)
    return out.getvalue()


def test_facts_apply_and_export_round_trip(tmp_path):
    out = io.StringIO()
    call_command("facts_apply", str(FACTS), stdout=out)
    assert "applied facts v1 (5 entries, in force)" in out.getvalue()
    first = export()
    assert yaml.safe_load(first)["facts"][0] == {
        "resource": "db:replica-7", "role": "payments-failover", "protected": True,
        "note": "silent failover target for the payments primary",
    }
    path = tmp_path / "again.yaml"
    path.write_text(first)
    call_command("facts_apply", str(path), stdout=io.StringIO())
    assert export() == first
    assert list(FactSet.objects.values_list("version", flat=True).order_by("version")) == [1, 2]
    event = AuditEvent.objects.filter(kind="facts.applied").order_by("-seq").first()
    assert event.payload["version"] == 2 and event.payload["previous_version"] == 1
    assert event.payload["document"] == yaml.safe_load(first)


def test_invalid_file_names_the_entry_and_changes_nothing(tmp_path):
    call_command("facts_apply", str(FACTS), stdout=io.StringIO())
    bad = tmp_path / "bad.yaml"
    bad.write_text("facts:\n  - resource: db:a\n    protected: true\n  - resource: 'job:*'\n    Scheduled: yes\n")
    with pytest.raises(CommandError) as err:
        call_command("facts_apply", str(bad))
    assert "facts[1] (job:*): key 'Scheduled'" in str(err.value)
    assert FactSet.objects.count() == 1 and Fact.objects.count() == 5


def test_invalid_file_exits_non_zero_from_the_shell(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("facts:\n  - role: orphan\n")
    done = subprocess.run([sys.executable, "manage.py", "facts_apply", str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert "facts[0]: resource is required" in done.stderr


def _infra_agent():
    agent, _token = agent_create(name="infra-optimizer")
    envelope_apply(source=(ROOT / "examples/envelopes/infra-optimizer.yaml").read_text())
    agent.refresh_from_db()
    return agent


def test_decide_reads_facts_and_records_them():
    agent = _infra_agent()
    teardown = DecideInput("db.replica.teardown", "db:replica-7", {"utilisation": 0.03}, {"input_source": "model"})
    before, _ = decide(agent=agent, data=teardown)
    assert before.decision == "escalate" and before.facts == {}
    facts_apply(source=FACTS.read_text())
    row, _ = decide(agent=agent, data=teardown)
    assert row.decision == "deny"
    assert [r["code"] for r in row.reasons] == ["protected_resource"]
    assert row.facts == {
        "version": 1,
        "matched": ["db:replica-7", "db:replica-*"],
        "values": {"tier": "production", "role": "payments-failover", "protected": True,
                   "note": "silent failover target for the payments primary"},
    }
    event = AuditEvent.objects.get(kind="decision.deny", request_id=row.id)
    assert event.payload["facts"] == {"version": 1, "matched": ["db:replica-7", "db:replica-*"]}
    staging, _ = decide(agent=agent, data=DecideInput("db.replica.teardown", "db:replica-staging-1", {}, {}))
    assert staging.decision == "allow" and staging.facts["values"] == {"tier": "staging"}


def test_facts_lookup_is_one_query():
    facts_apply(source=yaml.safe_dump({"facts": [
        *({"resource": f"db:host-{i}", "owner": "dba"} for i in range(300)),
        {"resource": "db:*", "tier": "db"},
        {"resource": "job:nightly-*", "scheduled": True},
    ]}))
    with CaptureQueriesContext(connection) as queries:
        got = facts_for_resource("db:host-17")
    assert len(queries) == 1
    assert got.values == {"tier": "db", "owner": "dba"} and got.version == 1
    assert "UNION ALL" in queries[0]["sql"]


@pytest.mark.usefixtures("postgres")
def test_on_postgresql_decide_reads_the_facts_with_the_agent_lock():
    """One round trip fewer per decision: the lookup is a subquery of the lock's statement, and
    it answers exactly what the lookup of its own answers."""
    agent = _infra_agent()
    facts_apply(source=FACTS.read_text())
    teardown = DecideInput("db.replica.teardown", "db:replica-7", {"utilisation": 0.03}, {"input_source": "model"})
    with CaptureQueriesContext(connection) as queries:
        row, _ = decide(agent=agent, data=teardown)
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any(sql.startswith('SELECT "version", "resource"') for sql in statements), statements
    assert sum("jsonb_agg" in sql and "FOR NO KEY UPDATE" in sql for sql in statements) == 1
    alone = facts_for_resource("db:replica-7")
    assert row.facts == alone.as_dict()
    assert row.decision == "deny"


@pytest.mark.usefixtures("postgres")
def test_facts_lookup_uses_the_indexes_on_postgresql():
    facts_apply(source=yaml.safe_dump({"facts": [
        *({"resource": f"db:host-{i}", "owner": "dba"} for i in range(3000)),
        {"resource": "db:*", "tier": "db"},
    ]}))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE governance_fact")
    with CaptureQueriesContext(connection) as queries:
        facts_for_resource("db:host-17")
    assert len(queries) == 1
    # The statement it ran, with its parameters bound the same way (on the server: shared/db.py).
    with prepared_cursor() as cursor:
        cursor.execute("EXPLAIN " + _lookup_sql(), [True, "db:host-17", False])
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "fact_literal_resource" in plan and "fact_globs" in plan and "Seq Scan" not in plan, plan


def test_a_proposal_accepted_becomes_a_new_version(django_user_model):
    facts_apply(source=FACTS.read_text())
    alice = django_user_model.objects.create_user("alice")
    admin = django_user_model.objects.create_user("admin", is_staff=True)
    agent = _infra_agent()
    row, _ = decide(agent=agent, data=DecideInput("db.replica.teardown", "db:replica-orders-4", {}, {}))
    proposal = fact_propose(request_id=row.id, resource="db:replica-orders-4", values={"protected": True}, by=alice)
    assert AuditEvent.objects.filter(kind="facts.proposed", request_id=row.id).exists()
    with pytest.raises(InvalidInput):
        fact_propose(request_id=row.id, resource="db:x", values={"Bad": 1}, by=alice)
    accepted = fact_proposal_decide(proposal_id=proposal.pk, accept=True, by=admin)
    assert accepted.state == FactProposal.State.ACCEPTED and accepted.factset_version == 2
    assert facts_for_resource("db:replica-orders-4").values["protected"] is True
    assert AuditEvent.objects.filter(kind="facts.proposal_accepted").count() == 1
    again, _ = decide(agent=agent, data=DecideInput("db.replica.teardown", "db:replica-orders-4", {}, {}))
    assert again.decision == "deny"
