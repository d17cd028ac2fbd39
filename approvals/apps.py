from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals import (
            live,  # noqa: F401  (pushes to the live web queue)
            receivers,  # noqa: F401  (connects the signal receivers)
        )
