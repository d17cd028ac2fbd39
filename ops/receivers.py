"""Metrics and spans from domain events (connected in OpsConfig.ready). Each runs after commit
through send_robust, in the process where the event happened (web or worker): nothing here can
change a decision, and decide itself is counted by ops.middleware, not here."""

import logging

from celery.signals import task_failure

from approvals.deliveries import notification_failed
from approvals.models import Vote
from approvals.signals import escalation_resolved, vote_recorded
from governance.models import DecisionRequest
from governance.signals import Receivers, breaker_tripped
from ops import metrics, tracing

logger = logging.getLogger("airlock.ops")


def count_breaker_trip(sender, **kwargs) -> None:
    metrics.BREAKER_TRIPS.inc()


def count_notification_failed(sender, channel: str = "unknown", **kwargs) -> None:
    metrics.NOTIFICATIONS_FAILED.labels(channel=str(channel)[:32] or "unknown").inc()


def count_channel_task_failure(sender=None, **kwargs) -> None:
    """A channel's Celery task (integrations.<name>.tasks) that failed for good, retries spent."""
    module = getattr(sender, "__module__", "") or ""
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "integrations":
        metrics.NOTIFICATIONS_FAILED.labels(channel=parts[1][:32]).inc()


def observe_resolution(sender, request_id: str, status: str, **kwargs) -> None:
    row = DecisionRequest.objects.select_related("agent").filter(pk=request_id).first()
    if row is None or row.decided_at is None:
        return
    metrics.APPROVAL_WAIT.labels(outcome=status).observe(max(0.0, (row.decided_at - row.created_at).total_seconds()))
    if tracing.TRACER is None:
        return
    tracing.wait_span_record(request=row, outcome=status)
    if status != "expired":
        vote = Vote.objects.filter(escalation_id=row.pk).order_by("-created_at", "-id").first()
        if vote is not None:
            tracing.vote_span_record(request=row, vote=vote)


def trace_vote(sender, request_id: str, vote_id, **kwargs) -> None:
    if tracing.TRACER is None:
        return
    vote = Vote.objects.filter(pk=vote_id).first()
    row = DecisionRequest.objects.select_related("agent").filter(pk=request_id).first()
    if vote is not None and row is not None:
        tracing.vote_span_record(request=row, vote=vote)


RECEIVERS: Receivers = [
    (breaker_tripped, count_breaker_trip, "ops.breaker_trips"),
    (notification_failed, count_notification_failed, "ops.notifications_failed"),
    (task_failure, count_channel_task_failure, "ops.channel_task_failure"),
    (escalation_resolved, observe_resolution, "ops.approval_wait"),
    (vote_recorded, trace_vote, "ops.vote_span"),
]
