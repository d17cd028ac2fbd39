"""The transactional outbox's table (governance/outbox.py): one row per after-commit event."""

from django.db import models


class OutboxEvent(models.Model):
    """An event written in the transaction that caused it, delivered by a relay after commit.

    `pending` lists the receivers still to run ("" = all of them): after a partial failure the
    retry calls only those that failed, so the others never run twice for one event."""

    event = models.CharField(max_length=64)
    payload = models.TextField(help_text="The signal's kwargs, JSON.")
    created_at = models.DateTimeField()
    available_at = models.DateTimeField(help_text="Due from; a claim pushes it out by the lease.")
    attempts = models.IntegerField(default=0)
    pending = models.TextField(blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    gave_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["available_at"], name="outbox_due",
                         condition=models.Q(gave_up_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.event}#{self.pk}"
