"""Reactions to escalation events (connected in AppConfig.ready). Each is quick: enqueue a
Celery task or publish to Redis. They run after commit, through send_robust, so a failure here
is logged and never changes a decision (the sweep and the API's deadline check cover expiry)."""

from django.dispatch import receiver

from approvals.models import Escalation
from approvals.signals import escalation_opened, escalation_resolved


@receiver(escalation_opened, dispatch_uid="approvals.schedule_expiry")
def schedule_expiry_on_open(sender, request_id: str, **kwargs) -> None:
    from approvals.tasks import schedule_expiry

    deadline = Escalation.objects.filter(pk=request_id).values_list("deadline", flat=True).first()
    if deadline is not None:
        schedule_expiry(request_id, deadline)


@receiver(escalation_resolved, dispatch_uid="approvals.wake_waiters")
def wake_waiters_on_resolve(sender, request_id: str, status: str, **kwargs) -> None:
    from approvals.longpoll import resolution_publish

    resolution_publish(request_id)


@receiver(escalation_resolved, dispatch_uid="approvals.send_callback")
def send_callback_on_resolve(sender, request_id: str, status: str, **kwargs) -> None:
    from approvals.tasks import send_callback
    from governance.models import DecisionRequest

    if DecisionRequest.objects.filter(pk=request_id).exclude(agent__callback_url="").exists():
        send_callback.delay(str(request_id))
