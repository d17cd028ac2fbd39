from django.conf import settings

from integrations.registry import ChannelConfig


class SlackConfig(ChannelConfig):
    """Slack: escalation messages with Approve / Deny buttons, updated in place."""

    default = True  # apps.py also imports ChannelConfig, another AppConfig
    name = "integrations.slack"
    label = "slack"
    verbose_name = "Slack"
    default_auto_field = "django.db.models.BigAutoField"
    url_prefix = "slack/"

    def enabled(self) -> bool:
        return settings.SLACK_ENABLED

    def ready(self) -> None:
        from approvals import signals
        from approvals.deliveries import Outbox, outbox_register
        from integrations.slack.tasks import DELIVERY_KIND, slack_escalation_sync

        # Every change of an escalation must reach its message; the sweep re-sends lost syncs.
        outbox_register(Outbox(
            kind=DELIVERY_KIND,
            signals=(signals.escalation_opened, signals.vote_recorded, signals.escalation_resolved,
                     signals.escalation_extended),
            send=slack_escalation_sync.delay,
            enabled=lambda: settings.SLACK_ENABLED,
        ))
        super().ready()
