"""seed_scale (bench's command, installed by bench/settings.py): valid rows, valid chains,
continuing from existing chain heads."""

import pytest
from django.core.management import call_command

from approvals.models import Escalation, EscalationGroup
from bench.management.commands.seed_scale import Command as SeedScale
from governance.audit import audit_verify
from governance.models import Agent, AuditEvent, DecisionRequest

pytestmark = pytest.mark.django_db


def test_seed_makes_pending_escalations_and_verifiable_chains(capsys):
    before = AuditEvent.objects.count()
    call_command(SeedScale(), "--escalations", "120", "--audit-events", "3000", "--agents", "3")
    assert Agent.objects.filter(name__startswith="scale-").count() == 3
    pending = DecisionRequest.objects.filter(status="pending", decision="escalate")
    assert pending.count() == 120 == Escalation.objects.count()
    assert all(r.expires_at > r.created_at for r in pending)
    assert EscalationGroup.objects.filter(name="finance").count() == 120
    seeded = AuditEvent.objects.count() - before
    # 3,000 seeded events, plus what creating the agents and their envelopes audited.
    assert seeded == 3000 + 3 * 2
    assert AuditEvent.objects.filter(kind="escalation.opened", request_id__in=pending.values("id")).count() == 120
    assert audit_verify() is None
    assert "3000 audit events" in capsys.readouterr().out


def test_seeding_twice_extends_the_same_chains(procurement):
    call_command(SeedScale(), "--escalations", "10", "--audit-events", "200", "--agents", "2")
    call_command(SeedScale(), "--escalations", "10", "--audit-events", "200", "--agents", "2", "--seed", "2")
    assert Agent.objects.filter(name__startswith="scale-").count() == 2
    assert DecisionRequest.objects.filter(status="pending").count() == 20
    assert audit_verify() is None
