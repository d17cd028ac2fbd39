"""Admin pages for facts (editor with validation and diff, proposals) and incidents (record,
trace, mark contributing, export Markdown), the request detail, the queue card's facts and
"remember this", and the dashboard's outcome and incident counts."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from governance.decide import DecideInput, decide
from governance.facts import facts_apply
from governance.knowledge_models import FactProposal, FactSet, Incident, IncidentContribution
from governance.outcomes import outcome_report
from governance.services import agent_create, envelope_apply
from tests.adminui.conftest import client_for, last_event

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FACTS = (ROOT / "examples" / "facts.yaml").read_text()
ENVELOPE = (ROOT / "examples/envelopes/infra-optimizer.yaml").read_text().replace("approvers: [platform]",
                                                                                   "approvers: [finance]")


@pytest.fixture
def infra(db):
    agent, _token = agent_create(name="infra-optimizer")
    envelope_apply(source=ENVELOPE)
    agent.refresh_from_db()
    return agent


def test_facts_editor_checks_diffs_and_applies(admin_client, alice):
    page = admin_client.get("/admin/facts/")
    assert page.status_code == 200 and b"db:replica-7" in page.content  # the starter
    bad = admin_client.post("/admin/facts/", {"source": "facts:\n  - resource: 'job:*'\n    Bad: 1\n",
                                               "intent": "apply"})
    assert bad.status_code == 400 and b"facts[0] (job:*): key" in bad.content
    assert not FactSet.objects.exists()
    check = admin_client.post("/admin/facts/", {"source": FACTS, "intent": "check"})
    assert check.status_code == 200 and b"payments-failover, protected" in check.content
    assert b'class="add"' in check.content and not FactSet.objects.exists()
    applied = admin_client.post("/admin/facts/", {"source": FACTS, "intent": "apply", "comment": "from the runbook"})
    assert applied.status_code == 302
    factset = FactSet.objects.get()
    assert factset.version == 1 and factset.created_via == "ui" and factset.comment == "from the runbook"
    assert last_event("facts.applied").actor == "user:admin"
    same = admin_client.post("/admin/facts/", {"source": admin_client.get("/admin/facts/").context["source"],
                                                "intent": "apply"})
    assert same.status_code == 400 and b"No changes" in same.content
    assert admin_client.get("/admin/facts/1/").status_code == 200
    assert client_for(alice).get("/admin/facts/").status_code == 403


def test_card_shows_facts_and_an_approver_proposes_what_an_admin_accepts(admin_client, alice, charlie, infra):
    facts_apply(source=FACTS)
    row, _ = decide(agent=infra, data=DecideInput("db.replica.teardown", "db:replica-orders-4", {},
                                                  {"reasoning": "idle"}))
    assert row.decision == "escalate"
    queue = client_for(alice).get("/")  # the compact row states the facts...
    assert "db:replica-orders-4</code> — tier: production" in queue.content.decode()
    card = client_for(alice).get(f"/escalations/{row.id}/card")  # ...the expanded card offers "remember this"
    assert "db:replica-orders-4</code> — tier: production" in card.content.decode()
    assert b"Remember this about the resource" in card.content
    nope = client_for(charlie).post(f"/escalations/{row.id}/remember", {"resource": "db:x", "facts": "protected: true"})
    assert nope.status_code == 302 and not FactProposal.objects.exists()
    sent = client_for(alice).post(f"/escalations/{row.id}/remember",
                                  {"resource": "db:replica-orders-4", "facts": "protected: true\nnote: orders failover"})
    assert sent.status_code == 302
    proposal = FactProposal.objects.get()
    assert proposal.values == {"protected": True, "note": "orders failover"} and proposal.proposed_by == alice
    page = admin_client.get("/admin/facts/")
    assert b"orders failover" in page.content
    accepted = admin_client.post(f"/admin/facts/proposals/{proposal.pk}/", {"decision": "accept"})
    assert accepted.status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == "accepted" and proposal.factset_version == 2
    assert last_event("facts.proposal_accepted").actor == "user:admin"
    again, _ = decide(agent=infra, data=DecideInput("db.replica.teardown", "db:replica-orders-4", {}, {}))
    assert again.decision == "deny" and again.reasons[0]["code"] == "protected_resource"


def test_incident_page_traces_marks_and_exports(admin_client, alice, infra):
    from approvals.services import approval_decide

    now = timezone.now()
    row, _ = decide(agent=infra, data=DecideInput("db.replica.teardown", "db:replica-7", {"utilisation": 0.03},
                                                  {"reasoning": "3% utilisation for 30 days"}),
                    now=now - timedelta(hours=2))
    approval_decide(request_id=row.id, user=alice, choice="approve", via="web", now=now - timedelta(hours=2))
    outcome_report(agent=infra, request_id=row.id, status="succeeded", detail="replica deleted")
    bad = admin_client.post("/admin/incidents/", {"occurred_at": "soon", "resources": "db:*", "summary": "x"})
    assert bad.status_code == 400 and not Incident.objects.exists()
    created = admin_client.post("/admin/incidents/", {
        "occurred_at": now.strftime("%Y-%m-%dT%H:%M:%S"), "resources": "db:replica-*\njob:nightly-*",
        "summary": "payments failover failed: its replica was gone",
    })
    assert created.status_code == 302
    incident = Incident.objects.get()
    assert last_event("incident.recorded").payload["resources"] == ["db:replica-*", "job:nightly-*"]
    page = admin_client.get(f"/admin/incidents/{incident.pk}/")
    text = page.content.decode()
    assert "infra-optimizer" in text and "alice" in text and "replica deleted" in text
    assert "3% utilisation for 30 days" in text and "no contributing agent action marked" in text
    marked = admin_client.post(f"/admin/incidents/{incident.pk}/contributions/",
                               {"request": str(row.id), "contributing": "1"})
    assert marked.status_code == 302
    assert IncidentContribution.objects.filter(incident=incident, request=row).exists()
    assert last_event("incident.contribution_marked").request_id == row.id
    assert "agent-attributed" in admin_client.get(f"/admin/incidents/{incident.pk}/").content.decode()
    export = admin_client.get(f"/admin/incidents/{incident.pk}/export.md")
    markdown = export.content.decode()
    assert export["Content-Type"].startswith("text/markdown")
    assert "## Contributing agent actions" in markdown
    assert "| infra-optimizer | db.replica.teardown | db:replica-7 | escalate → approved | alice |" in markdown
    dashboard = admin_client.get("/admin/").content.decode()
    assert 'data-testid="incidents-tile"><span class="tile-n">1</span>' in dashboard
    detail = admin_client.get(f"/admin/requests/{row.id}/").content.decode()
    assert "succeeded" in detail and f"incident {incident.pk}" in detail


def test_request_detail_and_dashboard_show_facts_and_bad_outcomes(admin_client, infra):
    facts_apply(source=FACTS)
    staging, _ = decide(agent=infra, data=DecideInput("db.replica.teardown", "db:replica-staging-1", {}, {}))
    outcome_report(agent=infra, request_id=staging.id, status="rolled_back", detail="the index was still in use")
    detail = admin_client.get(f"/admin/requests/{staging.id}/").content.decode()
    assert "db:replica-staging-1</span> — tier: staging" in detail and "rolled_back" in detail
    dashboard = admin_client.get("/admin/").content.decode()
    assert "Actions that failed or were rolled back" in dashboard
    assert '<td class="num">0</td><td class="num">1</td>' in dashboard
    history = admin_client.get("/admin/agents/infra-optimizer/").content.decode()
    assert "rolled_back" in history
    trail = admin_client.get("/admin/audit/", {"kind": "outcome.*"}).content.decode()
    assert "outcome.rolled_back" in trail
