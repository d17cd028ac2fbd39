"""Keep each escalation's Slack message equal to the database: post it once, then update it.

One idempotent operation serves every trigger (opened, vote, resolved, retry after an outage):
render the escalation as it is *now* and put that in Slack. Slack is only ever a copy; nothing
here writes decision state. Two syncs can run at once, so:
- posting is serialised per escalation by a short Redis lock, and the stored ts is re-read
  under it, so two workers never post two messages;
- after writing to Slack the state is read again and, if it moved meanwhile, written again, so
  an older render that reached Slack last cannot leave a stale message behind.
"""

import logging
from contextlib import contextmanager

import redis
from django.conf import settings
from django.db import IntegrityError, transaction

from approvals.models import Escalation
from governance.decide import effective_status
from governance.models import Agent
from integrations.slack import blocks, client
from integrations.slack.client import SlackFailure
from integrations.slack.models import SlackMessage

logger = logging.getLogger("airlock.slack")

# Slack errors that mean the message or channel is gone for good: retrying cannot help.
GONE = frozenset({"message_not_found", "channel_not_found", "is_archived", "cant_update_message"})


class SlackBusy(Exception):
    """Another worker is posting this escalation's message right now."""


def posted(escalation: Escalation) -> SlackMessage | None:
    """The escalation's message, if it has been posted."""
    return getattr(escalation, "slack_message", None)


def channel_for(escalation: Escalation) -> str:
    """Where an escalation goes: where it already is, else the envelope's slack_channel,
    else SLACK_CHANNEL."""
    message = posted(escalation)
    if message is not None:
        return message.channel
    envelope = escalation.request.envelope
    document = envelope.document if envelope is not None and isinstance(envelope.document, dict) else {}
    return str(document.get("slack_channel") or settings.SLACK_CHANNEL or "")


def agent_channel(agent: Agent) -> str:
    envelope = agent.active_envelope
    document = envelope.document if envelope is not None and isinstance(envelope.document, dict) else {}
    return str(document.get("slack_channel") or settings.SLACK_CHANNEL or "")


def _load(request_id: str) -> Escalation | None:
    return (
        Escalation.objects.select_related("request__agent", "request__envelope", "slack_message")
        .filter(pk=request_id)
        .first()
    )


def _votes(escalation: Escalation) -> list:
    return list(escalation.votes.select_related("user").order_by("created_at", "pk"))


def _fingerprint(escalation: Escalation, votes: list) -> tuple:
    request = escalation.request
    return (effective_status(request), tuple((v.pk, v.choice) for v in votes), request.decided_at)


@contextmanager
def _post_lock(request_id: str):
    # Held only around one chat.postMessage, so its lifetime is bounded by the HTTP timeout.
    lock = redis.Redis.from_url(settings.REDIS_URL).lock(
        f"airlock:slack:post:{request_id}",
        timeout=settings.SLACK_TIMEOUT * 2 + 5,
        blocking_timeout=settings.SLACK_TIMEOUT + 5,
    )
    if not lock.acquire():
        raise SlackBusy(f"escalation {request_id} is being posted by another worker")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("slack post lock for %s expired before release", request_id)


def escalation_message_sync(*, request_id: str, attempts: int = 3) -> str:
    """Make the Slack message for `request_id` show its current state. Returns what it did;
    raises SlackFailure / SlackBusy / redis errors for the caller (a Celery task) to retry."""
    result = "unchanged"
    for _ in range(attempts):
        escalation = _load(request_id)
        if escalation is None:
            return "missing"
        channel = channel_for(escalation)
        if not channel:
            logger.warning("no Slack channel for escalation %s: set SLACK_CHANNEL or slack_channel", request_id)
            return "no_channel"
        votes = _votes(escalation)
        seen = _fingerprint(escalation, votes)
        text, message = blocks.escalation_message(escalation, votes)
        existing = posted(escalation)
        if existing is not None:
            try:
                client.message_update(channel=channel, ts=existing.ts, text=text, blocks=message)
            except SlackFailure as exc:
                if exc.error in GONE:
                    # Someone deleted the message or archived the channel; the web queue
                    # still has the escalation, and reposting would resurrect it uninvited.
                    logger.warning("slack message for %s is gone (%s); not updating", request_id, exc.error)
                    return "gone"
                raise
            result = "updated"
        else:
            with _post_lock(request_id):
                if SlackMessage.objects.filter(pk=request_id).exists():
                    continue  # another worker posted while we waited: update theirs instead
                channel_id, ts = client.message_post(channel=channel, text=text, blocks=message)
                try:
                    with transaction.atomic():
                        SlackMessage.objects.create(escalation_id=request_id, channel=channel_id, ts=ts)
                except IntegrityError:
                    logger.warning("slack message of %s was stored by another worker", request_id)
            result = "posted"
        current = _load(request_id)
        if current is None or _fingerprint(current, _votes(current)) == seen:
            return result
        # The escalation moved while we were talking to Slack: render again.
    return result


def breaker_message_post(*, agent_id: int, reason: str) -> str:
    """Announce a breaker trip in the agent's Slack channel."""
    agent = Agent.objects.select_related("active_envelope").filter(pk=agent_id).first()
    if agent is None:
        return "missing"
    channel = agent_channel(agent)
    if not channel:
        logger.warning("no Slack channel for agent %s's breaker trip", agent.name)
        return "no_channel"
    text, message = blocks.breaker_message(agent, reason)
    client.message_post(channel=channel, text=text, blocks=message)
    return "posted"
