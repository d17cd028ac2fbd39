"""The channel registry: every way Airlock reaches approvers besides the web queue.

A channel is one folder under integrations/ (a Django app whose AppConfig is a ChannelConfig)
plus one line in CHANNELS. Nothing below this layer names a channel: a channel listens to the
signals of approvals.signals and governance.signals, records votes through
approvals.services.approval_decide with its own `via`, and mounts its inbound URLs here.
"""

from importlib import import_module

from django.apps import AppConfig, apps

# One line per channel. settings.py adds these to INSTALLED_APPS.
CHANNELS = [
    "integrations.slack",
    "integrations.email",
]


class ChannelConfig(AppConfig):
    """The AppConfig of a channel.

    url_prefix: where its `<app>.urls` is mounted ("slack/"), or "" for no inbound URLs.
    enabled(): whether it is configured; connect()/disconnect() attach its signal receivers
    (`<app>.receivers`, a module with connect() and disconnect()) and offer the channel to
    approvers as a notification preference under its label; ready() connects when enabled().
    """

    url_prefix = ""

    def enabled(self) -> bool:
        return True

    def connect(self) -> None:
        """Attach the channel's signal receivers (only quick work: enqueue a task)."""
        from approvals.preferences import channel_register

        import_module(f"{self.name}.receivers").connect()
        channel_register(self.label, self.verbose_name)

    def disconnect(self) -> None:
        """Detach what connect() attached."""
        from approvals.preferences import channel_unregister

        import_module(f"{self.name}.receivers").disconnect()
        channel_unregister(self.label)

    def ready(self) -> None:
        if self.enabled():
            self.connect()


def installed() -> list[ChannelConfig]:
    """The channels in INSTALLED_APPS, in registry order."""
    return [config for config in apps.get_app_configs() if isinstance(config, ChannelConfig)]


def urlpatterns() -> list:
    """Each channel's inbound URLs under its prefix, mounted whether or not it is enabled
    (a disabled channel's views answer 404 themselves)."""
    # Imported here: settings.py reads CHANNELS before the URL machinery may be loaded.
    from django.urls import include, path

    return [path(c.url_prefix, include(f"{c.name}.urls")) for c in installed() if c.url_prefix]
