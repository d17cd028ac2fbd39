"""Governance domain: agents and their tokens, versioned envelopes, decision requests,
anomalies and the hash-chained audit trail."""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

agent_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]{0,99}$",
    "Agent names are lowercase letters, digits, '.', '_' and '-' (max 100).",
)


class Agent(models.Model):
    """A program that asks Airlock before it acts."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    name = models.CharField(max_length=100, unique=True, validators=[agent_name_validator])
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    active_envelope = models.ForeignKey(
        "Envelope", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set when the circuit breaker trips; the agent is supervised until an admin resets it.
    breaker_tripped_at = models.DateTimeField(null=True, blank=True)
    breaker_reason = models.TextField(blank=True)
    # Violations before the last reset no longer count toward the breaker.
    breaker_reset_at = models.DateTimeField(null=True, blank=True)
    # The shadow envelope (issue 15): evaluated beside the active one on every decide, never
    # answers. shadow_since is the shadow version's created_at (its compiled-cache key too).
    shadow_envelope = models.ForeignKey(
        "Envelope", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shadow_since = models.DateTimeField(null=True, blank=True)
    callback_url = models.URLField(blank=True, max_length=500)
    # Needed in clear to sign callbacks; shown once at creation.
    callback_secret = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED

    @property
    def breaker_tripped(self) -> bool:
        return self.breaker_tripped_at is not None


class AgentToken(models.Model):
    """A bearer token: a short public prefix plus the SHA-256 of the whole token."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tokens")
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.agent.name}:{self.prefix}"


class Envelope(models.Model):
    """One immutable version of an agent's capability envelope."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="envelopes")
    version = models.PositiveIntegerField()
    source = models.TextField(help_text="The YAML as applied.")
    document = models.JSONField(help_text="The validated, normalised envelope.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_via = models.CharField(max_length=32, default="cli")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "version"], name="envelope_agent_version_uniq")
        ]
        ordering = ["agent", "-version"]

    def __str__(self) -> str:
        return f"{self.agent.name} v{self.version}"


class DecisionRequest(models.Model):
    """One question an agent asked, and Airlock's answer."""

    class Decision(models.TextChoices):
        ALLOW = "allow"
        DENY = "deny"
        ESCALATE = "escalate"

    class Status(models.TextChoices):
        ALLOWED = "allowed"
        DENIED = "denied"
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"

    TERMINAL = ("allowed", "denied", "approved", "rejected", "expired")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="requests")
    action = models.CharField(max_length=200)
    resource = models.CharField(max_length=500, blank=True)
    params = models.JSONField(default=dict)
    context = models.JSONField(default=dict)
    input_source = models.CharField(max_length=16, blank=True)
    session = models.CharField(max_length=200, blank=True)
    # NULL (not "") when absent, so the partial unique constraint ignores it.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    digest = models.CharField(max_length=64)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    reasons = models.JSONField(default=list)
    risk = models.JSONField(default=dict)
    # risk["score"] as a real column the inbox's risk filter can index and the planner can
    # estimate (JSON risk->score misled it). Computed by the database: never out of step.
    risk_score = models.GeneratedField(
        expression=Cast(KeyTextTransform("score", "risk"), models.FloatField()),
        output_field=models.FloatField(null=True),
        db_persist=True,
    )
    violation = models.BooleanField(default=False)
    envelope = models.ForeignKey(Envelope, null=True, blank=True, on_delete=models.PROTECT)
    envelope_version = models.PositiveIntegerField(null=True, blank=True)
    capability = models.IntegerField(null=True, blank=True, help_text="Index of the matching capability.")
    agent_mode = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.JSONField(default=list)
    comment = models.TextField(blank=True)
    # Set when /verify consumes a single-use approval.
    used_at = models.DateTimeField(null=True, blank=True)
    # Approve with edits: the params the approvers approved instead of the asked ones, and
    # their digest (what /verify then accepts). NULL / "" when approved as asked.
    approved_params = models.JSONField(null=True, blank=True)
    approved_digest = models.CharField(max_length=64, blank=True)
    # The resource facts in force when decided: {"version", "matched", "values"} (docs/facts.md).
    facts = models.JSONField(default=dict)
    # What the agent reports happened: {"status", "detail", "effects", "reported_at"}.
    # ("outcome" in the request JSON; "outcome" alone would clash with existing annotations.)
    reported_outcome = models.JSONField(null=True, blank=True)
    outcome_status = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="request_agent_idempotency_uniq",
            )
        ]
        indexes = [
            models.Index(fields=["agent", "action", "created_at"], name="req_agent_action_time"),
            models.Index(fields=["agent", "resource"], name="req_agent_resource"),
            models.Index(fields=["status", "expires_at"], name="req_status_expiry"),
            models.Index(fields=["resource", "created_at"], name="req_resource_time"),
            models.Index(fields=["session", "created_at"], name="req_session_time"),
            models.Index(fields=["agent", "violation", "created_at"], name="req_agent_violation"),
            # Velocity over a glob ("crm.*") and an agent's recent history.
            models.Index(fields=["agent", "created_at"], name="req_agent_time"),
            # incident_trace's prefix globs ("db:*" -> LIKE 'db:%') on PostgreSQL.
            models.Index(fields=["resource"], opclasses=["varchar_pattern_ops"], name="req_resource_prefix"),
            models.Index(fields=["outcome_status", "agent"], name="req_outcome_agent"),
            # Suggestions from approval history (adminui/suggestions.py) read only the
            # escalations of a window: a small part of a large table.
            models.Index(
                fields=["agent", "action", "resource", "created_at"],
                condition=models.Q(decision="escalate"),
                name="req_escalated_time",
            ),
            models.Index(fields=["risk_score"], name="req_risk_score"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.action} {self.status}"


class Anomaly(models.Model):
    """A captured envelope violation, classified later by a reviewer."""

    class Tag(models.TextChoices):
        SECURITY = "security"
        RELIABILITY = "reliability"
        UNCLASSIFIED = "unclassified"

    class State(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    request = models.OneToOneField(DecisionRequest, on_delete=models.PROTECT, related_name="anomaly")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="anomalies")
    code = models.CharField(max_length=64)
    tag = models.CharField(max_length=16, choices=Tag.choices, default=Tag.UNCLASSIFIED)
    tag_reason = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    details = models.JSONField(default=dict)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "anomalies"
        indexes = [models.Index(fields=["tag", "state", "created_at"], name="anomaly_tag_state")]

    def __str__(self) -> str:
        return f"{self.code} ({self.tag}, {self.state})"


class AuditChainHead(models.Model):
    """The tip of one audit chain. Locking this row serialises appends to that chain only."""

    chain = models.CharField(max_length=64, primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"{self.chain}@{self.seq}"


class AuditEvent(models.Model):
    """Append-only, hash-chained record. The application never updates or deletes these."""

    chain = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    kind = models.CharField(max_length=64)
    actor = models.CharField(max_length=200)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    request_id = models.UUIDField(null=True, blank=True, db_index=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_uniq")]
        indexes = [
            models.Index(fields=["created_at"], name="audit_time"),
            models.Index(fields=["kind", "created_at"], name="audit_kind_time"),
            models.Index(fields=["agent", "created_at"], name="audit_agent_time"),
            models.Index(fields=["actor", "created_at"], name="audit_actor_time"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.kind}"


from governance.knowledge_models import (  # noqa: E402, F401  (registered with the app)
    Fact,
    FactProposal,
    FactSet,
    Incident,
    IncidentContribution,
)
from governance.outbox_models import OutboxEvent  # noqa: E402, F401  (governance/outbox.py)
from governance.reliability_models import ModelVersionStats, ShadowDifference  # noqa: E402,F401

# Bounded-cost state for decide (velocity, cumulative, novelty), kept by a database trigger.
from governance.state_tables import StateSeen, StateTally  # noqa: E402, F401
