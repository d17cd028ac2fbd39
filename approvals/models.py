"""Escalations and the people who answer them."""

from django.conf import settings
from django.db import models

from governance.models import DecisionRequest


class Escalation(models.Model):
    """The human side of a request whose decision was 'escalate'. Its state is the request's status."""

    request = models.OneToOneField(
        DecisionRequest, on_delete=models.PROTECT, primary_key=True, related_name="escalation"
    )
    quorum = models.PositiveSmallIntegerField(default=1)
    approver_groups = models.JSONField(default=list)
    deadline = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # How far approvers have pushed the deadline out in total (capped by max_extension).
    extended_seconds = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"escalation {self.request_id}"


class Vote(models.Model):
    """One person's answer to one escalation; a person counts once."""

    class Choice(models.TextChoices):
        APPROVE = "approve"
        DENY = "deny"

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    choice = models.CharField(max_length=8, choices=Choice.choices)
    comment = models.TextField(blank=True)
    via = models.CharField(max_length=16, default="web")
    # Approve with edits: the params this person approved instead of the asked ones.
    params = models.JSONField(null=True, blank=True)
    # Set when `user` voted as someone's delegate (approvals/routing.py): it counts as theirs.
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["escalation", "user"], name="vote_one_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.choice} by {self.user_id}"


class ApproverProfile(models.Model):
    """What Airlock knows of a person beyond Django's user: their Slack identity."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="approver")
    slack_user_id = models.CharField(max_length=32, blank=True, db_index=True)
    # Channel names (integrations.registry) this person does not want notifications from.
    muted_channels = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id} slack={self.slack_user_id}"


class PersonalToken(models.Model):
    """A person's API token for the approver API (never an agent's)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}:{self.prefix}"


class EscalationGroup(models.Model):
    """One approver group of an escalation, as a row so the queue can filter by membership
    with an index on every database (a JSON list cannot be searched portably)."""

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=150, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["escalation", "name"], name="escalation_group_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.escalation_id}:{self.name}"


class Delivery(models.Model):
    """A side effect of a state change that must reach the outside world: the agent's callback,
    or a channel's message (Slack). Written in the same transaction as the change, marked
    delivered when the receiver confirmed it; the beat sweep re-sends whatever is left
    (approvals/deliveries.py)."""

    CALLBACK = "callback"

    # "callback", or the name a channel registered its outbox under (deliveries.outbox_register).
    kind = models.CharField(max_length=16)
    request = models.ForeignKey(DecisionRequest, on_delete=models.CASCADE, related_name="+")
    # Bumped by every change that needs sending again (Slack: each vote and the resolution).
    generation = models.PositiveIntegerField(default=1)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # The sweep re-sends once this has passed; set forward while an attempt may be running.
    next_attempt_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "request"], name="delivery_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.request_id}"


class EscalationStep(models.Model):
    """Something due while an escalation is pending (approvals/routing.py): a tier opening (one
    row per group of the tier, so the queue can filter by membership) or the deadline reminder.
    A tier's groups are eligible from `due_at` on, whether or not the notice went out yet."""

    class Kind(models.TextChoices):
        TIER = "tier"
        REMINDER = "reminder"

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    position = models.PositiveSmallIntegerField(default=0)  # tier number, from 1
    group = models.CharField(max_length=150, blank=True, db_index=True)
    due_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.position} {self.group} of {self.escalation_id}"


class Delegation(models.Model):
    """While away, `user`'s approvals go to `delegate` (until `until`, or until cleared)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    until = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.delegate_id} until {self.until:%Y-%m-%d %H:%M}"
