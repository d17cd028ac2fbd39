"""Escalation events other parts react to (live queue, channels, agent callbacks, long-polls).
Always sent after commit with send_robust (governance.signals.send_after_commit), so a failing
receiver can never undo or change a decision.

Receivers must be quick: enqueue a Celery task or push to the channel layer, nothing slower.
"""

from django.dispatch import Signal

from governance.signals import send_after_commit

__all__ = ["escalation_opened", "escalation_resolved", "notification_failed", "send_after_commit", "vote_recorded"]

# kwargs: request_id (uuid str)
escalation_opened = Signal()
# kwargs: request_id, vote_id — a vote counted but quorum not yet reached
vote_recorded = Signal()
# kwargs: request_id, status ("approved" | "rejected" | "expired")
escalation_resolved = Signal()
# kwargs: channel (e.g. "callback", "slack"), request_id (or None), detail — a notification
# was given up on after its retries. Sent at once (nothing to commit); ops counts it.
notification_failed = Signal()
