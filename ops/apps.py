from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operating Airlock: /healthz, /readyz, /metrics, request ids, tracing (docs/deploy.md)."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from governance.signals import receivers_connect
        from ops import receivers, tracing

        receivers_connect(receivers.RECEIVERS)
        tracing.tracing_configure_from_env()
