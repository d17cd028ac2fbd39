from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals import receivers, services, signals
        from approvals.deliveries import Outbox, outbox_register
        from approvals.models import Delivery, Escalation
        from approvals.tasks import send_callback
        from governance.locks import escalation_rows_register
        from governance.models import DecisionRequest
        from governance.ports import escalation_opener_register
        from governance.signals import receivers_connect

        # decide() opens escalations through this port, and the lock order (governance.locks)
        # locks their rows through this manager: governance never imports approvals.
        escalation_opener_register(services.escalation_open)
        escalation_rows_register(Escalation.objects)
        receivers_connect(receivers.RECEIVERS)
        # The agent's callback, for agents that have a callback URL; the sweep re-sends it.
        outbox_register(Outbox(
            kind=Delivery.CALLBACK,
            signals=(signals.escalation_resolved,),
            send=send_callback.delay,
            wanted=lambda request_id: DecisionRequest.objects.filter(pk=request_id)
            .exclude(agent__callback_url="").exists(),
        ))
