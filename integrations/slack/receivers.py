"""Signal receivers: turn escalation events into Slack tasks. Connected by SlackConfig.ready()
only when Slack is configured. They only enqueue; the signals already fire after commit."""

from approvals import signals
from governance.signals import Receivers, breaker_tripped, receivers_connect, receivers_disconnect
from integrations.slack.tasks import slack_breaker_post, slack_escalation_sync, slack_notice_post


def on_escalation_changed(sender, request_id, **kwargs) -> None:
    """Opened, a vote counted, or resolved (web, Slack, API, expiry): sync the message."""
    slack_escalation_sync.delay(str(request_id))


def on_tier_reached(sender, request_id, tier=None, groups=(), **kwargs) -> None:
    slack_notice_post.delay(str(request_id), "tier", list(groups), tier)


def on_reminder(sender, request_id, **kwargs) -> None:
    slack_notice_post.delay(str(request_id), "reminder")


def on_breaker_tripped(sender, agent_id, reason="", **kwargs) -> None:
    slack_breaker_post.delay(agent_id, reason)


RECEIVERS: Receivers = [
    (signals.escalation_opened, on_escalation_changed, "slack.escalation_opened"),
    (signals.vote_recorded, on_escalation_changed, "slack.vote_recorded"),
    (signals.escalation_resolved, on_escalation_changed, "slack.escalation_resolved"),
    (signals.escalation_extended, on_escalation_changed, "slack.escalation_extended"),
    (signals.escalation_tier_reached, on_tier_reached, "slack.escalation_tier_reached"),
    (signals.escalation_reminder, on_reminder, "slack.escalation_reminder"),
    (breaker_tripped, on_breaker_tripped, "slack.breaker_tripped"),
]


def connect() -> None:
    receivers_connect(RECEIVERS)


def disconnect() -> None:
    receivers_disconnect(RECEIVERS)
