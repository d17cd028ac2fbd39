"""What the email channel remembers: who was mailed about what (so a retried task never mails
twice), and the single-use approve / deny links it sent."""

from django.conf import settings
from django.db import models


class EmailSent(models.Model):
    """One message to one person about one escalation, for one reason."""

    class Reason(models.TextChoices):
        OPENED = "opened"
        TIER = "tier"
        REMINDER = "reminder"

    escalation = models.ForeignKey("approvals.Escalation", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=8, choices=Reason.choices)
    address = models.CharField(max_length=254)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["escalation", "user", "reason"], name="email_sent_once")
        ]

    def __str__(self) -> str:
        return f"{self.reason} mail to {self.user_id} about {self.escalation_id}"


class VoteLink(models.Model):
    """An approve or deny link: the URL carries its id and a secret, signed; only the secret's
    SHA-256 is stored. Used once; useless once the escalation is no longer pending."""

    escalation = models.ForeignKey("approvals.Escalation", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(max_length=8)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.choice} link of {self.user_id} for {self.escalation_id}"
