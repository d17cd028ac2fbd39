"""Re-key the first release's audit chains under AUDIT_KEY (docs/audit.md, "Upgrading").

The first release hashed events with plain SHA-256, which anyone who can write the database
can recompute. This walks every chain in order and, while the old hashes verify, replaces
each event's hash with HMAC-SHA256 under AUDIT_KEY (prev_hash following). At a chain's first
event that does not verify under the old scheme it stops and leaves that event, the rest of
the chain and its head as they are, so audit_verify still names that event afterwards:
re-keying never launders tampering. Then it appends one `audit.rekeyed` event to the
system chain: per chain the old head (seq and plain hash, to match exports and backups made
before the upgrade), the events re-keyed, and any break found. Nothing happens on a
database without audit events. Backwards: the same walk from HMAC back to plain SHA-256
(event `audit.unkeyed`). Set AUDIT_KEY before migrating: it is the key the chains get.

The hashing is frozen here (not imported) so later changes to governance/audit.py cannot
change what this migration did.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.db import migrations
from django.utils import timezone

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"
BATCH = 2000


def _body(chain, seq, prev, kind, actor, agent_id, request_id, payload, created_at) -> bytes:
    return json.dumps(
        {"chain": chain, "seq": seq, "prev": prev, "kind": kind, "actor": actor, "agent": agent_id,
         "request": request_id, "payload": payload, "at": created_at.isoformat()},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
    ).encode()


def plain(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def keyed(body: bytes) -> str:
    return hmac.new(settings.AUDIT_KEY.encode(), body, hashlib.sha256).hexdigest()


def _event_body(event, prev: str) -> bytes:
    request_id = str(event.request_id) if event.request_id else None
    return _body(event.chain, event.seq, prev, event.kind, event.actor, event.agent_id, request_id,
                 event.payload, event.created_at)


def _convert_chain(Event, Head, chain: str, old, new) -> dict:
    """Re-hash one chain from `old` to `new` up to its first break; a summary for the record."""
    old_prev, new_prev, seq, count, batch, broken = GENESIS, GENESIS, 0, 0, [], None
    for event in Event.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=BATCH):
        body = _event_body(event, event.prev_hash)
        # `new` is accepted too: events a new process appended before the migration ran.
        if event.seq != seq + 1 or event.prev_hash != old_prev or event.hash not in (old(body), new(body)):
            broken = f"event {event.id} (seq {event.seq}) does not verify under the old hashes; left as it was"
            break
        old_prev, seq = event.hash, event.seq
        event.prev_hash, event.hash = new_prev, new(_event_body(event, new_prev))
        new_prev, count = event.hash, count + 1
        batch.append(event)
        if len(batch) == BATCH:
            Event.objects.bulk_update(batch, ["prev_hash", "hash"])
            batch = []
    Event.objects.bulk_update(batch, ["prev_hash", "hash"])
    head = Head.objects.filter(chain=chain).first()
    summary = {"seq": seq, "old_head": old_prev, "events": count}
    if head is not None and broken is None:
        if head.seq == seq and head.hash == old_prev:
            head.hash = new_prev
            head.save(update_fields=["hash"])
        else:
            broken = f"chain head (seq {head.seq}) does not match the last event (seq {seq}); left as it was"
    if broken:
        summary["break"] = broken
    return summary


def _convert(apps, old, new, kind: str) -> None:
    Event = apps.get_model("governance", "AuditEvent")
    Head = apps.get_model("governance", "AuditChainHead")
    if not Event.objects.exists():
        return
    chains = set(Event.objects.values_list("chain", flat=True).distinct())
    chains |= set(Head.objects.values_list("chain", flat=True))
    summaries = {chain: _convert_chain(Event, Head, chain, old, new) for chain in sorted(chains)}
    head, _ = Head.objects.select_for_update().get_or_create(chain=SYSTEM_CHAIN, defaults={"seq": 0, "hash": GENESIS})
    payload = {
        "scheme": "hmac-sha256" if new is keyed else "sha256",
        "events": sum(s["events"] for s in summaries.values()),
        "chains": summaries,
    }
    payload = json.loads(json.dumps(payload, sort_keys=True))
    event = Event(chain=SYSTEM_CHAIN, seq=head.seq + 1, prev_hash=head.hash, kind=kind, actor="system:migration",
                  agent_id=None, request_id=None, payload=payload, created_at=timezone.now())
    event.hash = new(_event_body(event, head.hash))
    event.save(force_insert=True)
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=["seq", "hash"])


def rekey(apps, schema_editor):
    _convert(apps, plain, keyed, "audit.rekeyed")


def unkey(apps, schema_editor):
    _convert(apps, keyed, plain, "audit.unkeyed")


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_params_gin")]

    operations = [migrations.RunPython(rekey, unkey)]
