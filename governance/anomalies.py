"""Anomalies: captured violations, tagged at capture, re-tagged and resolved by reviewers.

Tags (SPEC §5): `security` when the request came from user-provided input (a prompt may have
steered the agent); `reliability` when the envelope changed recently or the agent runs a
model_version it has not used before (the agent or its rules may simply be wrong);
otherwise `unclassified`.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from governance.actors import admin_actor
from governance.audit import audit_record
from governance.canonical import canonical_json
from governance.errors import Conflict, InvalidInput
from governance.locks import lock_agent
from governance.models import Anomaly, DecisionRequest
from governance.policy.durations import format_duration

TAGS = tuple(Anomaly.Tag.values)
# How many of the agent's latest requests "used this model_version before" looks at.
MODEL_LOOKBACK = 500


def _new_model_version(request: DecisionRequest) -> str | None:
    version = (request.context or {}).get("model_version")
    if not isinstance(version, str) or not version:
        return None
    # The agent's recent past (bounded, by index), not its whole history: a model it used
    # long ago and dropped is as new as one it never used.
    recent = list(
        DecisionRequest.objects.filter(agent_id=request.agent_id, created_at__lte=request.created_at)
        .exclude(pk=request.pk).order_by("-created_at").values_list("pk", flat=True)[:MODEL_LOOKBACK]
    )
    if not recent:
        return None  # an agent's first request says nothing about a change of model
    used = (
        DecisionRequest.objects.filter(pk__in=recent)
        .alias(mv=KeyTransform("model_version", "context")).filter(mv=version).exists()
    )
    return None if used else version


def anomaly_classify(request: DecisionRequest, envelope_created_at) -> tuple[str, str]:
    """(tag, tag_reason) for a violation, from what was known when it happened.
    `envelope_created_at`: when the envelope it was evaluated under (request.envelope) was
    activated, as decide read it with the agent's lock, so that row is not read again."""
    security, reliability = [], []
    if request.input_source == "user":
        security.append("input_source is 'user': the request follows user-provided input")
    version = request.envelope_version if request.envelope_id is not None else None
    window = settings.AIRLOCK_ANOMALY_ENVELOPE_WINDOW
    if version is not None and version > 1 and envelope_created_at > request.created_at - timedelta(seconds=window):
        reliability.append(f"envelope v{version} was activated within {format_duration(window)} of this request")
    version = _new_model_version(request)
    if version:
        reliability.append(f"first request by this agent with model_version {version!r}")
    if security:
        return Anomaly.Tag.SECURITY, "; ".join(security + [f"also: {r}" for r in reliability])
    if reliability:
        return Anomaly.Tag.RELIABILITY, "; ".join(reliability)
    return Anomaly.Tag.UNCLASSIFIED, "no user input, no recent envelope change, no new model_version"


@transaction.atomic
def anomaly_retag(*, anomaly: Anomaly, tag: str, by, reason: str = "") -> Anomaly:
    """A reviewer's classification replaces the automatic one."""
    actor = admin_actor(by)
    if tag not in TAGS:
        raise InvalidInput(f"tag must be one of {', '.join(TAGS)}")
    lock_agent(anomaly.agent_id)  # governance/locks.py: the agent before its rows
    locked = Anomaly.objects.select_for_update().get(pk=anomaly.pk)
    previous = locked.tag
    locked.tag, locked.tag_reason = tag, reason or f"re-tagged by {actor}"
    locked.save(update_fields=["tag", "tag_reason"])
    audit_record(
        kind="anomaly.retagged", actor=actor, agent=locked.agent, request_id=locked.request_id,
        payload={"anomaly": locked.pk, "from": previous, "to": tag, "reason": reason},
    )
    return locked


@transaction.atomic
def anomaly_resolve(*, anomaly: Anomaly, note: str, by) -> Anomaly:
    """Close an anomaly with a note. Conflict when it is already resolved."""
    actor = admin_actor(by)
    now = timezone.now()
    lock_agent(anomaly.agent_id)  # governance/locks.py: the agent before its rows
    if not Anomaly.objects.filter(pk=anomaly.pk, state=Anomaly.State.OPEN).update(
        state=Anomaly.State.RESOLVED, note=note, resolved_at=now, resolved_by=by
    ):
        raise Conflict("this anomaly is already resolved")
    anomaly.refresh_from_db()
    audit_record(
        kind="anomaly.resolved", actor=actor, agent=anomaly.agent, request_id=anomaly.request_id, at=now,
        payload={"anomaly": anomaly.pk, "note": note},
    )
    return anomaly


def anomaly_dict(anomaly: Anomaly) -> dict:
    return {
        "id": anomaly.pk,
        "at": anomaly.created_at.isoformat(),
        "agent": anomaly.agent.name,
        "request_id": str(anomaly.request_id),
        "code": anomaly.code,
        "tag": anomaly.tag,
        "tag_reason": anomaly.tag_reason,
        "state": anomaly.state,
        "note": anomaly.note,
        "resolved_at": anomaly.resolved_at.isoformat() if anomaly.resolved_at else None,
        "resolved_by": anomaly.resolved_by.get_username() if anomaly.resolved_by else None,
        "details": anomaly.details,
    }


def anomalies_jsonl(*, since: datetime | None = None) -> Iterator[str]:
    """Anomalies as JSON Lines, oldest first."""
    rows = Anomaly.objects.select_related("agent", "resolved_by")
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    for anomaly in rows.order_by("created_at", "id").iterator(chunk_size=2000):
        yield canonical_json(anomaly_dict(anomaly))
