from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        from django.conf import settings

        if settings.SLACK_ENABLED:
            from approvals.slack import receivers as slack_receivers

            slack_receivers.connect()
