from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals import receivers, services
        from governance.ports import escalation_opener_register
        from governance.signals import receivers_connect

        # decide() opens escalations through this port: governance never imports approvals.
        escalation_opener_register(services.escalation_open)
        receivers_connect(receivers.RECEIVERS)
