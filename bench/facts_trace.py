"""Facts and attribution at scale (issue 14), on PostgreSQL:

1. incident_trace over 1,000,000 requests (--quick: 100,000): an exact resource, prefix globs
   ('db:*', 'job:nightly-*') and a glob with a time window, each the whole management command
   (query pages + JSON lines) end to end. Baseline in the same run: one sequential count of the
   table, which is what a query without a usable index costs. Target: < 1 s each.
2. The facts lookup in decide: with 10,000 exact facts and 50 globs in force, how many queries
   a lookup issues (must be 1) and what it costs beside a one-row primary-key read (baseline);
   then decide() itself with those facts in force vs with no facts.

    .venv/bin/python bench/facts_trace.py [--quick] [--db URL] [--reseed] [--rounds 5]

Uses its own database (airlock_bench_facts, or airlock_bench_facts_quick), seeded once with
COPY (about a minute per million rows); --reseed starts over.
"""

import argparse
import io
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, setup_django  # noqa: E402

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/"
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
AGENTS = 20
ENVELOPE = """\
agent: {name}
default: deny
approvers: [sre]
capabilities:
  - action: "*"
    resources: ["*"]
    deny_when: ["has(facts.protected) && facts.protected"]
    escalate_when: ["has(facts.scheduled) && facts.scheduled"]
"""


def resource_for(rnd: random.Random) -> str:
    """~0.2 % db:replica-*, ~0.3 % job:nightly-*, 5 % dbadmin:* (shares 'db', not 'db:'), rest noise."""
    x = rnd.random()
    if x < 0.002:
        return f"db:replica-{rnd.randrange(50)}"
    if x < 0.005:
        return f"job:nightly-{rnd.randrange(20)}"
    if x < 0.055:
        return f"dbadmin:user-{rnd.randrange(5000)}"
    namespace = rnd.choice(("vendor", "svc", "crm", "s3", "queue", "dns", "k8s"))
    return f"{namespace}:{rnd.randrange(200_000)}"


def seed(total: int) -> None:
    from django.db import connection

    from governance.models import Agent, DecisionRequest
    from governance.services import agent_create, envelope_apply

    have = DecisionRequest.objects.count()
    if have >= total:
        print(f"[bench] {have} requests already seeded", flush=True)
        return
    agents = []
    for i in range(AGENTS):
        name = f"bench-agent-{i:02d}"
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            agent, _ = agent_create(name=name)
            envelope_apply(source=ENVELOPE.format(name=name), via="seed")
        agents.append(agent.pk)
    rnd = random.Random(have + 14)
    columns = ("id", "agent_id", "action", "resource", "params", "context", "input_source", "session", "digest",
               "decision", "status", "reasons", "risk", "violation", "envelope_version", "agent_mode", "created_at",
               "decided_at", "decided_by", "comment", "facts", "reported_outcome", "outcome_status", "approved_digest")
    table = DecisionRequest._meta.db_table
    started = time.perf_counter()
    span = 30 * 24 * 3600
    batch = 100_000
    for start in range(have, total, batch):
        count = min(batch, total - start)
        with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        ) as copy:
            for _ in range(count):
                resource = resource_for(rnd)
                created = NOW - timedelta(seconds=rnd.randrange(span), microseconds=rnd.randrange(1_000_000))
                approved = rnd.random() < 0.05
                outcome = None
                if rnd.random() < 0.3:
                    status = rnd.choice(("succeeded", "succeeded", "succeeded", "failed", "rolled_back"))
                    outcome = json.dumps({"status": status, "detail": "", "effects": {},
                                          "reported_at": created.isoformat()})
                copy.write_row((
                    uuid.UUID(int=rnd.getrandbits(128)), rnd.choice(agents), "resource.change", resource, "{}",
                    '{"reasoning": "seeded"}', "model", f"s-{rnd.randrange(10_000)}", "0" * 64,
                    "escalate" if approved else "allow", "approved" if approved else "allowed",
                    '[{"code": "within_envelope", "message": "seeded", "rule": ""}]', '{"score": 0.1, "factors": []}',
                    False, 1, "enforce", created, created if approved else None,
                    '["alice"]' if approved else "[]", "", "{}", outcome,
                    json.loads(outcome)["status"] if outcome else "", "",
                ))
        print(f"[bench]   {start + count} rows ({time.perf_counter() - started:.0f}s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    print(f"[bench] seeded {total - have} requests in {time.perf_counter() - started:.0f}s", flush=True)


def timed(fn, rounds: int) -> tuple[float, object]:
    fn()  # warm-up (plans, caches)
    times, result = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def trace_command(*args):
    from django.core.management import call_command

    def run():
        out = io.StringIO()
        call_command("incident_trace", *args, stdout=out)
        return out.getvalue().count("\n")

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 requests instead of 1,000,000")
    parser.add_argument("--db", help="database URL (default: a bench database on 127.0.0.1)")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    total = 100_000 if args.quick else 1_000_000
    url = args.db or DEFAULT_SERVER + ("airlock_bench_facts_quick" if args.quick else "airlock_bench_facts")
    if not url.startswith("postgres"):
        raise SystemExit("this benchmark is about PostgreSQL: give --db postgres://...")
    ensure_database(url, fresh=args.reseed)
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.decide import DecideInput, decide
    from governance.facts import facts_apply, facts_for_resource
    from governance.models import Agent

    call_command("migrate", verbosity=0)
    # The decide part below writes requests on cache:host-*; earlier runs' are removed so the
    # traced globs always see the seeded rows only.
    from governance.models import DecisionRequest

    DecisionRequest.objects.filter(resource__regex=r"^(cache|db):host-").delete()
    seed(total)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM governance_decisionrequest")
        rows = cursor.fetchone()[0]

    def full_scan():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM governance_decisionrequest WHERE context::text LIKE '%nothing%'")
            return cursor.fetchone()[0]

    scan_ms, _ = timed(full_scan, args.rounds)
    results = {}
    cases = {
        "exact": ("--resource", "db:replica-7"),
        "prefix": ("--resource", "db:*"),
        "jobs": ("--resource", "job:nightly-*"),
        "window": ("--resource", "db:replica-*", "--since", "2026-11-13T00:00:00Z", "--until", "2026-11-20T00:00:00Z"),
    }
    for name, cmd in cases.items():
        ms, lines = timed(trace_command(*cmd), args.rounds)
        results[name] = (ms, lines)
        print(f"[bench] incident_trace {' '.join(cmd):<90} {lines:>6} lines  {ms:8.1f} ms  "
              f"({ms / scan_ms:.2f}x one table scan)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT id FROM governance_decisionrequest WHERE resource LIKE 'db:%' "
                       "ORDER BY created_at, id LIMIT 2000")
        plan = " / ".join(r[0].strip() for r in cursor.fetchall())
    print(f"[bench] plan for 'db:*': {plan}", flush=True)

    # 2. Facts: 10,000 exact names and 50 globs in force.
    document = {"facts": [
        *({"resource": f"cache:host-{i}", "owner": f"team-{i % 40}"} for i in range(10_000)),
        *({"resource": f"job:batch-{i}-*", "scheduled": True} for i in range(49)),
        {"resource": "db:replica-7", "role": "payments-failover", "protected": True},
        {"resource": "cache:*", "tier": "cache"},
    ]}
    import yaml

    facts_apply(source=yaml.safe_dump(document), comment="bench")
    with CaptureQueriesContext(connection) as queries:
        facts_for_resource("cache:host-4242")
    per_lookup = len(queries)
    lookups = 2000
    agent = Agent.objects.order_by("pk").first()

    def lookup_loop():
        for i in range(lookups):
            facts_for_resource(f"cache:host-{i * 7 % 10_000}")

    def pk_loop():
        for _ in range(lookups):
            Agent.objects.filter(pk=agent.pk).values_list("name").first()

    lookup_ms, _ = timed(lookup_loop, 3)
    pk_ms, _ = timed(pk_loop, 3)
    lookup_us, pk_us = lookup_ms * 1000 / lookups, pk_ms * 1000 / lookups
    print(f"[bench] facts lookup: {per_lookup} query, {lookup_us:.0f} µs vs a primary-key read {pk_us:.0f} µs "
          f"({lookup_us / pk_us:.2f}x)", flush=True)

    decides = 300
    probe = agent

    def decide_loop():
        for i in range(decides):
            decide(agent=probe, data=DecideInput("cache.read", f"cache:host-{i % 10_000}", {}, {}))

    with_facts_ms, _ = timed(decide_loop, 3)
    facts_apply(source="facts: []\n", comment="bench: none")
    without_ms, _ = timed(decide_loop, 3)
    facts_apply(source=yaml.safe_dump(document), comment="bench")
    with_us, without_us = with_facts_ms * 1000 / decides, without_ms * 1000 / decides
    print(f"[bench] decide(): {with_us:.0f} µs with 10,050 facts in force vs {without_us:.0f} µs with none "
          f"({with_us / without_us:.2f}x)", flush=True)
    worst = max(ms for ms, _ in results.values())
    print(
        f"RESULT facts_trace db=postgresql rows={rows} table_scan_ms={scan_ms:.1f} "
        f"trace_exact_ms={results['exact'][0]:.1f} trace_exact_lines={results['exact'][1]} "
        f"trace_prefix_ms={results['prefix'][0]:.1f} trace_prefix_lines={results['prefix'][1]} "
        f"trace_jobs_ms={results['jobs'][0]:.1f} trace_window_ms={results['window'][0]:.1f} "
        f"trace_worst_vs_scan={worst / scan_ms:.3f} under_1s={'yes' if worst < 1000 else 'no'} "
        f"facts_queries_per_lookup={per_lookup} facts_lookup_us={lookup_us:.0f} pk_read_us={pk_us:.0f} "
        f"lookup_vs_pk={lookup_us / pk_us:.2f} decide_with_facts_us={with_us:.0f} decide_no_facts_us={without_us:.0f} "
        f"decide_ratio={with_us / without_us:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
