"""Rows of the reliability features (issue 15): shadow differences and model-version drift
statistics. Imported by governance/models.py so Django sees them in the governance app."""

from django.db import models


class ShadowDifference(models.Model):
    """One decide where the shadow envelope would have answered differently."""

    agent = models.ForeignKey("governance.Agent", on_delete=models.CASCADE, related_name="shadow_differences")
    request = models.OneToOneField("governance.DecisionRequest", on_delete=models.CASCADE, related_name="+")
    shadow = models.ForeignKey("governance.Envelope", on_delete=models.CASCADE, related_name="+")
    active_decision = models.CharField(max_length=16)
    shadow_decision = models.CharField(max_length=16)
    shadow_reasons = models.JSONField(default=list)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["agent", "shadow", "created_at"], name="shadowdiff_agent_shadow")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.active_decision}->{self.shadow_decision}"


class ModelVersionStats(models.Model):
    """Running counts of one agent's requests per context.model_version, for drift tests.

    Written in the decide transaction under the agent's row lock (governance/locks.py), so a
    read-modify-write of the counters is exact."""

    class Verdict(models.TextChoices):
        BASELINE = "baseline"  # the version others are compared with
        PENDING = "pending"  # fewer than min_requests so far
        CONSISTENT = "consistent"  # tested, no significant shift: became the baseline
        SHIFTED = "shifted"  # tested, significant shift: anomaly distribution_shift
        RETIRED = "retired"  # a former baseline

    agent = models.ForeignKey("governance.Agent", on_delete=models.CASCADE, related_name="model_versions")
    model_version = models.CharField(max_length=200)
    requests = models.PositiveIntegerField(default=0)
    outcomes = models.JSONField(default=dict)  # {"allow": n, "deny": n, "escalate": n}
    actions = models.JSONField(default=dict)  # {"crm.read": n, ...}
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.PENDING)
    test = models.JSONField(default=dict)  # statistics of the test that set the verdict
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    tested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "model_version"], name="modelversion_agent_version_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.model_version} ({self.verdict})"
