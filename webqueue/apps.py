from django.apps import AppConfig


class WebQueueConfig(AppConfig):
    """The approvers' live web queue (HTMX pages, pushed over websockets)."""

    name = "webqueue"
    verbose_name = "Approver web queue"

    def ready(self) -> None:
        from governance.signals import receivers_connect
        from webqueue import live

        receivers_connect(live.RECEIVERS)
