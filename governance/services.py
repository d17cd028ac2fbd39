"""State changes of the governance domain. Each runs in one transaction and writes its
audit event in that same transaction."""

import secrets
import threading
from collections import OrderedDict

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance.actors import audit_actor
from governance.audit import audit_record
from governance.errors import InvalidInput, NotFound
from governance.locks import lock_agent
from governance.models import Agent, AgentToken, Envelope
from governance.netguard import UnsafeURL, callback_url_check
from governance.policy import CompiledEnvelope, EnvelopeError, compile_envelope
from governance.policy.source import SourceError, load_yaml
from governance.tokens import token_generate

AGENT_TOKEN_KIND = "alk"


@transaction.atomic
def agent_create(*, name: str, callback_url: str = "", description: str = "", by=None) -> tuple[Agent, str]:
    """Register an agent and issue its first token. Returns (agent, plaintext token).
    A callback URL to a loopback/private/link-local address is refused (ValidationError)."""
    if callback_url:
        try:
            callback_url_check(callback_url)
        except UnsafeURL as exc:
            raise ValidationError({"callback_url": [str(exc)]}) from None
    agent = Agent(name=name, description=description, callback_url=callback_url)
    if callback_url:
        agent.callback_secret = secrets.token_hex(32)
    agent.full_clean()
    agent.save()
    token = token_generate(AGENT_TOKEN_KIND)
    AgentToken.objects.create(agent=agent, prefix=token.prefix, digest=token.digest)
    audit_record(
        kind="agent.created", actor=audit_actor(by), agent=agent,
        payload={"name": name, "callback_url": callback_url, "token_prefix": token.prefix},
    )
    return agent, token.plaintext


@transaction.atomic
def agent_token_rotate(*, agent: Agent, by=None) -> str:
    """Revoke every live token of the agent and issue a new one."""
    now = timezone.now()
    lock_agent(agent.pk)
    revoked = list(AgentToken.objects.filter(agent=agent, revoked_at__isnull=True).values_list("prefix", flat=True))
    AgentToken.objects.filter(agent=agent, revoked_at__isnull=True).update(revoked_at=now)
    token = token_generate(AGENT_TOKEN_KIND)
    AgentToken.objects.create(agent=agent, prefix=token.prefix, digest=token.digest)
    audit_record(
        kind="agent.token_rotated", actor=audit_actor(by), agent=agent,
        payload={"revoked": revoked, "token_prefix": token.prefix},
    )
    return token.plaintext


@transaction.atomic
def agent_token_revoke(*, agent: Agent, by=None) -> int:
    """Revoke every live token; the agent gets 401 until a new one is issued."""
    lock_agent(agent.pk)
    prefixes = list(AgentToken.objects.filter(agent=agent, revoked_at__isnull=True).values_list("prefix", flat=True))
    AgentToken.objects.filter(agent=agent, revoked_at__isnull=True).update(revoked_at=timezone.now())
    audit_record(kind="agent.token_revoked", actor=audit_actor(by), agent=agent, payload={"revoked": prefixes})
    return len(prefixes)


def envelope_parse(source: str) -> dict:
    """YAML text to a document, or InvalidInput naming the line. Bounded (size, nesting, and
    what aliases expand to): see governance/policy/limits.py."""
    try:
        return load_yaml(source)
    except SourceError as exc:
        raise InvalidInput(str(exc), code="invalid_yaml") from None


def envelope_validate(source: str) -> tuple[dict, CompiledEnvelope]:
    document = envelope_parse(source)
    try:
        compiled = compile_envelope(document, default_ttl=settings.AIRLOCK_ESCALATION_TTL)
    except EnvelopeError as exc:
        raise InvalidInput(str(exc), code="invalid_envelope") from None
    return document, compiled


def envelope_to_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)


def envelope_store(*, source: str, by, via: str, comment: str) -> tuple[Agent, Envelope, dict]:
    """Validate and store as the agent's next version, with the agent locked (call inside a
    transaction). Returns the locked agent, the new version and its document; what the version
    becomes (active, shadow) is the caller's."""
    document, _compiled = envelope_validate(source)
    try:
        agent = lock_agent(Agent.objects.values_list("pk", flat=True).get(name=document["agent"]))
    except Agent.DoesNotExist:
        raise NotFound(f"no agent named {document['agent']!r}; create it first (agent_create)") from None
    last = Envelope.objects.filter(agent=agent).order_by("-version").values_list("version", flat=True).first()
    envelope = Envelope.objects.create(
        agent=agent, version=(last or 0) + 1, source=source, document=document,
        created_by=by, created_via=via, comment=comment,
    )
    return agent, envelope, document


@transaction.atomic
def envelope_apply(*, source: str, by=None, via: str = "cli", comment: str = "") -> Envelope:
    """Validate, store as the agent's next version and make it active."""
    agent, envelope, document = envelope_store(source=source, by=by, via=via, comment=comment)
    previous = agent.active_envelope
    agent.active_envelope = envelope
    agent.save(update_fields=["active_envelope"])
    audit_record(
        kind="envelope.activated", actor=audit_actor(by), agent=agent,
        payload={
            "version": envelope.version,
            "previous_version": previous.version if previous else None,
            "via": via,
            "comment": comment,
            "document": document,
        },
    )
    return envelope


# Compiled envelopes are immutable per version, so compile each version once per process.
# Keyed by (pk, created_at): a primary key alone can be reused after a rollback.
_compiled_cache: "OrderedDict[tuple, CompiledEnvelope]" = OrderedDict()
_cache_lock = threading.Lock()


def envelope_compiled(envelope: Envelope) -> CompiledEnvelope:
    key = (envelope.pk, envelope.created_at)
    with _cache_lock:
        cached = _compiled_cache.get(key)
        if cached is not None:
            _compiled_cache.move_to_end(key)
            return cached
    compiled = compile_envelope(envelope.document, version=envelope.version, default_ttl=settings.AIRLOCK_ESCALATION_TTL)
    with _cache_lock:
        _compiled_cache[key] = compiled
        while len(_compiled_cache) > 512:
            _compiled_cache.popitem(last=False)
    return compiled


def envelope_compiled_by_pk(pk: int, created_at) -> CompiledEnvelope:
    """envelope_compiled() from the envelope's identity (pk, created_at): the row is read
    only when this version is not compiled in this process yet (the decide path reads
    just those two columns with the agent's row)."""
    key = (pk, created_at)
    with _cache_lock:
        cached = _compiled_cache.get(key)
        if cached is not None:
            _compiled_cache.move_to_end(key)
            return cached
    return envelope_compiled(Envelope.objects.get(pk=pk))
