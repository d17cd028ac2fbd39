from django.apps import AppConfig


class AdminUiConfig(AppConfig):
    """The admin UI at /admin/ (agents, envelopes, audit trail, anomalies)."""

    name = "adminui"
    verbose_name = "Admin UI"
