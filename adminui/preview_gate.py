"""Preview before activate: the replay preview of a draft hands out a signed receipt for
exactly that text; Activate accepts the draft only with a receipt that matches it, or with
an explicit, audited "activate without preview" and a reason."""

import hashlib

from django.core import signing
from django.db import transaction

from governance.actors import audit_actor
from governance.audit import audit_record
from governance.models import Envelope
from governance.services import envelope_apply

SALT = "airlock.adminui.replay-preview"
MAX_AGE = 24 * 3600  # a receipt from yesterday's preview says little about today's history


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def preview_receipt(*, agent_name: str, source: str, changed: int, replayed: int) -> str:
    """A signed statement: this exact draft of this agent was previewed."""
    return signing.dumps({"a": agent_name, "d": _digest(source), "c": changed, "r": replayed}, salt=SALT)


def preview_receipt_valid(*, receipt: str, agent_name: str, source: str) -> dict | None:
    """The receipt's contents when it covers this draft, else None."""
    if not receipt:
        return None
    try:
        data = signing.loads(receipt, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or data.get("a") != agent_name or data.get("d") != _digest(source):
        return None
    return data


@transaction.atomic
def envelope_activate_unpreviewed(*, source: str, by, reason: str, comment: str = "") -> Envelope:
    """Activate a draft whose replay preview was not run; the reason is audited with it."""
    envelope = envelope_apply(source=source, by=by, via="ui", comment=comment)
    # Same agent chain as envelope.activated, whose lock envelope_apply already holds.
    audit_record(
        kind="envelope.activated_without_preview", actor=audit_actor(by), agent=envelope.agent,
        payload={"version": envelope.version, "reason": reason, "digest": _digest(source)},
    )
    return envelope
