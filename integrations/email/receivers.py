"""Signal receivers: escalation events become email tasks. Connected by EmailConfig.ready() only
when EMAIL_URL and DEFAULT_FROM_EMAIL are set. They only enqueue (signals fire after commit)."""

from approvals import signals
from governance.signals import Receivers, receivers_connect, receivers_disconnect
from integrations.email.tasks import email_notify


def on_opened(sender, request_id, **kwargs) -> None:
    email_notify.delay(str(request_id), "opened")


def on_tier(sender, request_id, tier=0, groups=(), **kwargs) -> None:
    email_notify.delay(str(request_id), "tier", list(groups))


def on_reminder(sender, request_id, **kwargs) -> None:
    email_notify.delay(str(request_id), "reminder")


RECEIVERS: Receivers = [
    (signals.escalation_opened, on_opened, "email.escalation_opened"),
    (signals.escalation_tier_reached, on_tier, "email.escalation_tier_reached"),
    (signals.escalation_reminder, on_reminder, "email.escalation_reminder"),
]


def connect() -> None:
    receivers_connect(RECEIVERS)


def disconnect() -> None:
    receivers_disconnect(RECEIVERS)
