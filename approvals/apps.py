from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from django.conf import settings

        # Signal receivers that push to the live queue.
        from approvals import (
            live,  # noqa: F401
            receivers,  # noqa: F401  (connects the signal receivers)
        )

        if settings.SLACK_ENABLED:
            from approvals.slack import receivers as slack_receivers

            slack_receivers.connect()
