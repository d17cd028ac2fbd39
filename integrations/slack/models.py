"""What Slack's side keeps: where each escalation's message is, so it can be updated in place.
The core Escalation model knows nothing of Slack; this row exists once the message is posted."""

from django.db import models


class SlackMessage(models.Model):
    """The channel and ts Slack returned when the escalation's message was posted."""

    escalation = models.OneToOneField(
        "approvals.Escalation", on_delete=models.CASCADE, primary_key=True, related_name="slack_message"
    )
    channel = models.CharField(max_length=64)
    ts = models.CharField(max_length=64)
    posted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"slack message {self.channel}/{self.ts} of {self.escalation_id}"
