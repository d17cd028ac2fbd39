"""Reactions to escalation events (connected in ApprovalsConfig.ready). Each is quick: enqueue
a Celery task. They run after commit, in the outbox relay, so a failure here is logged (and
retried) and never changes a decision (the sweep and the API's deadline check cover expiry)."""

from django.utils.dateparse import parse_datetime

from approvals import signals
from approvals.deliveries import deliveries_record
from approvals.models import Escalation
from approvals.signals import escalation_opened, escalation_resolved
from governance.models import DecisionRequest
from governance.signals import Receivers


def record_deliveries(sender, signal, **kwargs) -> None:
    """The Delivery rows the event implies (approvals/deliveries.py). Connected first, so each
    row exists before the receivers after it enqueue the tasks that complete it."""
    deliveries_record(signal, **kwargs)


def schedule_expiry_on_open(sender, request_id: str, deadline=None, **kwargs) -> None:
    from approvals.tasks import schedule_expiry

    if isinstance(deadline, str):  # through the outbox, as JSON
        deadline = parse_datetime(deadline)
    if deadline is None:  # a sender that did not say (the deadline never changes once set)
        deadline = Escalation.objects.filter(pk=request_id).values_list("deadline", flat=True).first()
    if deadline is not None:
        schedule_expiry(request_id, deadline)


def send_callback_on_resolve(sender, request_id: str, status: str, **kwargs) -> None:
    from approvals.tasks import send_callback

    if DecisionRequest.objects.filter(pk=request_id).exclude(agent__callback_url="").exists():
        send_callback.delay(str(request_id))


RECEIVERS: Receivers = [
    *[(signal, record_deliveries, f"approvals.deliveries.{name}") for name, signal in (
        ("opened", signals.escalation_opened), ("vote", signals.vote_recorded),
        ("resolved", signals.escalation_resolved), ("extended", signals.escalation_extended),
        ("tier", signals.escalation_tier_reached), ("reminder", signals.escalation_reminder),
    )],
    (escalation_opened, schedule_expiry_on_open, "approvals.schedule_expiry"),
    (escalation_resolved, send_callback_on_resolve, "approvals.send_callback"),
]
