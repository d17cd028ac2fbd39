"""What people know about resources (facts), what happened after an action (outcomes live on
DecisionRequest), and incidents traced back to agent actions. Imported by governance.models."""

from django.conf import settings
from django.db import models


class FactSet(models.Model):
    """One immutable version of the whole facts document, like an envelope version."""

    version = models.PositiveIntegerField(unique=True)
    source = models.TextField(help_text="The YAML as applied.")
    document = models.JSONField(help_text="The validated, normalised facts document.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_via = models.CharField(max_length=32, default="cli")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"facts v{self.version}"


class Fact(models.Model):
    """One entry of the facts version in force. Rows of older versions are deleted when a new
    version is applied (their documents stay on FactSet), so decide reads this table alone."""

    version = models.PositiveIntegerField()
    resource = models.CharField(max_length=500)
    # No wildcard: looked up by equality. Globs are few and all read with every lookup.
    literal = models.BooleanField()
    values = models.JSONField(default=dict)
    position = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["literal", "resource"], name="fact_literal_resource"),
            models.Index(fields=["position"], condition=models.Q(literal=False), name="fact_globs"),
        ]

    def __str__(self) -> str:
        return self.resource


class FactProposal(models.Model):
    """A fact an approver proposes from an escalation ("remember this"); an admin accepts it."""

    class State(models.TextChoices):
        OPEN = "open"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    request = models.ForeignKey("governance.DecisionRequest", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    resource = models.CharField(max_length=500)
    values = models.JSONField(default=dict)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    factset_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["state", "created_at"], name="factproposal_state_time")]

    def __str__(self) -> str:
        return f"{self.resource} ({self.state})"


class Incident(models.Model):
    """An outage or near miss, recorded so the agent actions before it can be traced."""

    occurred_at = models.DateTimeField()
    # Resource globs the incident touched ("db:replica-7", "job:nightly-*").
    resources = models.JSONField(default=list)
    summary = models.TextField()
    # How far back the trace looks.
    since = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    contributing = models.ManyToManyField("governance.DecisionRequest", through="IncidentContribution",
                                          related_name="incidents")

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"incident {self.pk} at {self.occurred_at:%Y-%m-%d %H:%M}"


class IncidentContribution(models.Model):
    """An agent action an investigator marked as contributing to an incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE)
    request = models.ForeignKey("governance.DecisionRequest", on_delete=models.PROTECT)
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "request"], name="incident_request_uniq")]

    def __str__(self) -> str:
        return f"{self.incident_id}: {self.request_id}"
