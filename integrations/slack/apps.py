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

    def connect(self) -> None:
        from integrations.slack import receivers

        receivers.connect()

    def disconnect(self) -> None:
        from integrations.slack import receivers

        receivers.disconnect()
