from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API v1 for agents and approvers: one URLconf, one OpenAPI schema."""

    name = "api"
    verbose_name = "Agent and approver API"

    def ready(self) -> None:
        from api import receivers
        from governance.signals import receivers_connect

        receivers_connect(receivers.RECEIVERS)
