from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        # Signal receivers that push to the live queue.
        from approvals import live  # noqa: F401
