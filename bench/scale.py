"""Seed a large, valid data set for scale checks (bench/admin_pages.py, `manage.py seed_scale`).

Pending escalations are real DecisionRequest + Escalation rows. Audit events form valid
hash chains, one per seeded agent, continuing from each chain's current head, so
audit_verify() still passes afterwards. Rows go in with COPY on PostgreSQL and bulk_create
elsewhere, in batches, so a million events take about a minute rather than an hour.
"""

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from approvals.models import Escalation, EscalationGroup
from governance.audit import GENESIS, chain_for, event_hash
from governance.canonical import action_digest, canonical_json
from governance.models import Agent, AuditChainHead, AuditEvent, DecisionRequest
from governance.services import agent_create, envelope_apply

VENDORS = ("vendor:staples", "vendor:acme-office", "vendor:globex", "vendor:initech", "vendor:umbrella", "vendor:hooli")
ENVELOPE = """\
agent: {name}
description: Seeded for scale checks.
default: deny
approvers: [finance]
escalation_ttl: 7d
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
    escalate_when: ["params.amount > 10000"]
"""
# Decisions dominate a real trail; the rest are the events around them.
BACKGROUND_KINDS = (
    ("decision.allow", 60), ("decision.escalate", 15), ("decision.deny", 8), ("escalation.opened", 10),
    ("escalation.approved", 5), ("escalation.expired", 2),
)
COPY_COLUMNS = ("chain", "seq", "prev_hash", "hash", "kind", "actor", "agent_id", "request_id", "payload", "created_at")


@dataclass
class SeedReport:
    agents: int = 0
    escalations: int = 0
    audit_events: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _agents(count: int, prefix: str) -> list[Agent]:
    agents = []
    for i in range(1, count + 1):
        name = f"{prefix}-{i:02d}"
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            agent, _token = agent_create(name=name, description="Seeded for scale checks.")
            envelope_apply(source=ENVELOPE.format(name=name), via="seed")
            agent.refresh_from_db()
        agents.append(agent)
    return agents


def seed_escalations(*, agents: list[Agent], count: int, now: datetime, rnd: random.Random, batch: int = 5000) -> list[DecisionRequest]:
    """`count` pending escalations, asked in the last 10 minutes, due within 1–7 days."""
    made: list[DecisionRequest] = []
    for start in range(0, count, batch):
        requests, escalations = [], []
        for i in range(start, min(count, start + batch)):
            agent = agents[i % len(agents)]
            created = now - timedelta(seconds=rnd.randint(1, 600))
            deadline = now + timedelta(hours=rnd.randint(24, 7 * 24), seconds=rnd.randint(0, 3599))
            params = {"amount": rnd.randint(10_001, 95_000), "currency": "USD"}
            resource = rnd.choice(VENDORS)
            reasons = [{"code": "amount_over_limit", "message": "escalate_when: params.amount > 10000",
                        "rule": "capabilities[0].escalate_when[0]"}]
            row = DecisionRequest(
                id=uuid.UUID(int=rnd.getrandbits(128), version=4), agent=agent, action="purchase_order.create",
                resource=resource, params=params,
                context={"reasoning": "restock before quarter end", "confidence": round(rnd.uniform(0.5, 0.99), 2),
                         "input_source": rnd.choice(("user", "model", "config"))},
                input_source="", digest=action_digest("purchase_order.create", resource, params),
                decision="escalate", status="pending", reasons=reasons,
                risk={"score": 0.35, "factors": [{"name": "amount_vs_limit", "weight": 0.25}, {"name": "low_confidence", "weight": 0.1}]},
                envelope_id=agent.active_envelope_id, envelope_version=1, capability=0, agent_mode="enforce",
                created_at=created, expires_at=deadline,
            )
            row.input_source = row.context["input_source"]
            requests.append(row)
            escalations.append(Escalation(request=row, quorum=1, approver_groups=["finance"], deadline=deadline))
        with transaction.atomic():
            DecisionRequest.objects.bulk_create(requests, batch_size=batch)
            Escalation.objects.bulk_create(escalations, batch_size=batch)
            # The queue finds an approver's escalations through these rows, as escalation_open writes them.
            EscalationGroup.objects.bulk_create([EscalationGroup(escalation=e, name="finance") for e in escalations], batch_size=batch)
        made += requests
    return made


def _event_rows(
    *, chain: str, agent: Agent, head_seq: int, head_hash: str, times: list[datetime],
    kinds: Iterator[tuple[str, dict, str | None]],
) -> Iterator[tuple]:
    prev, seq = head_hash, head_seq
    for at, (kind, payload, request_id) in zip(times, kinds, strict=False):
        seq += 1
        actor = f"agent:{agent.name}" if kind.startswith("decision.") else "system:policy"
        payload = json.loads(canonical_json(payload))
        digest = event_hash(chain=chain, seq=seq, prev_hash=prev, kind=kind, actor=actor, agent_id=agent.pk,
                            request_id=request_id, payload=payload, created_at=at)
        yield (chain, seq, prev, digest, kind, actor, agent.pk, request_id, payload, at)
        prev = digest


def _background(rnd: random.Random) -> Iterator[tuple[str, dict, str | None]]:
    names, weights = zip(*BACKGROUND_KINDS, strict=True)
    while True:
        kind = rnd.choices(names, weights)[0]
        request_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        if kind.startswith("decision."):
            payload = {"action": "purchase_order.create", "resource": rnd.choice(VENDORS), "risk": round(rnd.random(), 2),
                       "envelope_version": 1, "mode": "enforce", "reasons": [{"code": kind[9:]}]}
        else:
            payload = {"quorum": 1, "approvers": ["finance"]}
        yield kind, payload, request_id


def _for_escalations(rows: list[DecisionRequest]) -> Iterator[tuple[str, dict, str | None]]:
    for row in rows:
        yield "decision.escalate", {"action": row.action, "resource": row.resource, "risk": row.risk["score"],
                                    "envelope_version": 1, "mode": "enforce", "reasons": row.reasons}, str(row.id)
        yield "escalation.opened", {"quorum": 1, "approvers": ["finance"], "deadline": row.expires_at.isoformat()}, str(row.id)


def _write(rows: Iterator[tuple], batch: int) -> int:
    written = 0
    if connection.vendor == "postgresql":
        sql = f"COPY {AuditEvent._meta.db_table} ({', '.join(COPY_COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row((*row[:8], json.dumps(row[8]), row[9]))
                written += 1
        return written
    chunk: list[AuditEvent] = []
    for row in rows:
        chunk.append(AuditEvent(**dict(zip(COPY_COLUMNS, row, strict=True))))
        if len(chunk) >= batch:
            AuditEvent.objects.bulk_create(chunk)
            written += len(chunk)
            chunk = []
    AuditEvent.objects.bulk_create(chunk)
    return written + len(chunk)


def seed_audit(
    *, agents: list[Agent], count: int, escalations: list[DecisionRequest], now: datetime, rnd: random.Random,
    days: int = 30, batch: int = 5000,
) -> int:
    """`count` events over `days` days, spread across the agents' chains, ending with the
    events of the seeded escalations (asked in the last ten minutes)."""
    by_agent: dict[int, list[DecisionRequest]] = {a.pk: [] for a in agents}
    for row in escalations:
        by_agent[row.agent_id].append(row)
    background = max(0, count - 2 * len(escalations))
    written = 0
    for i, agent in enumerate(agents):
        share = background // len(agents) + (1 if i < background % len(agents) else 0)
        own = sorted(by_agent[agent.pk], key=lambda r: r.created_at)
        chain = chain_for(agent)
        start, end = now - timedelta(days=days), now - timedelta(minutes=15)
        step = (end - start) / max(1, share)
        times = [start + step * n + timedelta(microseconds=rnd.randint(0, 999)) for n in range(share)]
        times += [r.created_at + timedelta(microseconds=k) for r in own for k in (0, 1)]
        with transaction.atomic():
            head, _ = AuditChainHead.objects.select_for_update().get_or_create(chain=chain, defaults={"hash": GENESIS})
            kinds = _chain(_take(_background(rnd), share), _for_escalations(own))
            rows = _event_rows(chain=chain, agent=agent, head_seq=head.seq, head_hash=head.hash or GENESIS, times=times, kinds=kinds)
            last = _Last(rows)
            written += _write(last, batch)
            if last.row is not None:
                AuditChainHead.objects.filter(chain=chain).update(seq=last.row[1], hash=last.row[3])
    return written


def _take(items: Iterator, n: int) -> Iterator:
    for _ in range(n):
        yield next(items)


def _chain(*iterators: Iterator) -> Iterator:
    for it in iterators:
        yield from it


class _Last:
    """Pass rows through and remember the last one (the new chain head)."""

    def __init__(self, rows: Iterator[tuple]):
        self.rows, self.row = rows, None

    def __iter__(self):
        for row in self.rows:
            self.row = row
            yield row


def seed_scale(
    *, escalations: int = 10_000, audit_events: int = 1_000_000, agents: int = 20, prefix: str = "scale",
    seed: int = 1, now: datetime | None = None, progress: Callable[[str], None] = lambda _msg: None,
) -> SeedReport:
    now = now or timezone.now()
    rnd = random.Random(seed)
    report = SeedReport()
    t = time.perf_counter()
    bots = _agents(agents, prefix)
    report.agents, report.seconds["agents"] = len(bots), time.perf_counter() - t
    progress(f"{len(bots)} agents ready")
    t = time.perf_counter()
    rows = seed_escalations(agents=bots, count=escalations, now=now, rnd=rnd)
    report.escalations, report.seconds["escalations"] = len(rows), time.perf_counter() - t
    progress(f"{len(rows)} pending escalations in {report.seconds['escalations']:.1f}s")
    t = time.perf_counter()
    report.audit_events = seed_audit(agents=bots, count=audit_events, escalations=rows, now=now, rnd=rnd)
    report.seconds["audit"] = time.perf_counter() - t
    progress(f"{report.audit_events} audit events in {report.seconds['audit']:.1f}s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (AuditEvent, DecisionRequest, Escalation, EscalationGroup):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    return report
