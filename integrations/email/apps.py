from django.conf import settings

from integrations.registry import ChannelConfig


class EmailConfig(ChannelConfig):
    """Email: a message to each eligible approver when an escalation opens, reaches their
    tier, or nears its deadline, with single-use approve / deny links."""

    default = True  # apps.py also imports ChannelConfig, another AppConfig
    name = "integrations.email"
    label = "email"
    verbose_name = "Email"
    default_auto_field = "django.db.models.BigAutoField"
    url_prefix = "email/"

    def enabled(self) -> bool:
        return settings.EMAIL_ENABLED
