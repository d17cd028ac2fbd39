"""Suggestions from approval history at 1,000,000 requests: is the cost bounded by the
window's escalations, and not by the size of the history?

    .venv/bin/python bench/suggestions.py [--db URL] [--rows 1000000] [--rounds 15]

Uses its own PostgreSQL database (default airlock_bench_suggestions on 127.0.0.1), dropped
and created fresh. In one run:

1. seeds only the escalations people answered inside the 30-day window (5 % of --rows,
   over 10 agents and 200 agent/action/resource patterns) and times `suggestions_find`
   (the page's query) — the baseline;
2. adds the rest of a realistic history — automatic allows and denies inside the window,
   and escalations older than the window — until the table holds --rows requests, runs
   ANALYZE, and times the same call again.

The ratio large/baseline says whether the history outside the question costs anything
(bounded: about 1). For scale it also times the naive way: loading the window's answered
escalations into Python and grouping them there. Ends with a `RESULT suggestions ...` line.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/airlock_bench_suggestions"
AGENTS = 10
PATTERNS = 200  # agent/action/resource combinations that get escalated

# One INSERT ... SELECT per slice; every NOT NULL column the model has gets a value.
INSERT = """
INSERT INTO governance_decisionrequest
  (id, agent_id, action, resource, params, context, input_source, session, digest, decision, status,
   reasons, risk, violation, agent_mode, created_at, expires_at, decided_at, decided_by, comment,
   approved_digest, facts, outcome_status)
SELECT gen_random_uuid(), a.ids[1 + (g %% %(agents)s)],
       'purchase_order.create', 'vendor:v' || ((g / %(agents)s) %% %(patterns)s),
       jsonb_build_object('amount', 100 + (g %% 1900)), '{}'::jsonb, 'config', '', 'x',
       %(decision)s, CASE WHEN %(decision)s = 'escalate' THEN (CASE WHEN (g / %(agents)s) %% %(patterns)s < 150
            THEN 'approved' WHEN (g / %(agents)s) %% %(patterns)s < 190 THEN 'rejected'
            ELSE (CASE WHEN g %% 2 = 0 THEN 'approved' ELSE 'rejected' END) END)
            WHEN %(decision)s = 'allow' THEN 'allowed' ELSE 'denied' END,
       '[]'::jsonb, '{}'::jsonb, false, 'enforce',
       now() - make_interval(secs => %(offset)s + (g %% %(span)s)),
       now() - make_interval(secs => %(offset)s + (g %% %(span)s)) + interval '15 minutes',
       CASE WHEN %(decision)s = 'escalate'
            THEN now() - make_interval(secs => %(offset)s + (g %% %(span)s)) + make_interval(secs => 30 + (g %% 400))
       END,
       '[]'::jsonb, '', '', '{}'::jsonb, ''
FROM generate_series(1, %(count)s) AS g,
     (SELECT array_agg(id ORDER BY id) AS ids FROM governance_agent) AS a
"""
DAY = 86400


def insert(*, decision: str, count: int, offset_days: float, span_days: float) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(INSERT, {
            "agents": AGENTS, "patterns": PATTERNS, "decision": decision, "count": count,
            "offset": int(offset_days * DAY), "span": max(1, int(span_days * DAY)),
        })


def timed(fn, rounds: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def naive_python(days: int = 30):
    """What the page would cost if it grouped in Python (the thing not to do)."""
    from collections import defaultdict
    from datetime import timedelta

    from django.utils import timezone

    from governance.models import DecisionRequest

    since = timezone.now() - timedelta(days=days)
    groups = defaultdict(list)
    rows = DecisionRequest.objects.filter(decision="escalate", created_at__gte=since,
                                          status__in=["approved", "rejected", "expired"])
    for agent, action, resource, status in rows.values_list("agent__name", "action", "resource", "status").iterator(chunk_size=5000):
        groups[(agent, action, resource)].append(status)
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("AIRLOCK_BENCH_SUGGESTIONS_DB", DEFAULT_DB))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if not args.db.startswith("postgres"):
        print("this benchmark is about PostgreSQL at scale; pass --db postgres://...", file=sys.stderr)
        return 2
    ensure_database(args.db, fresh=True)
    setup_django(args.db)

    from django.core.management import call_command
    from django.db import connection

    from adminui.suggestions import suggestions_find
    from governance.models import Agent, DecisionRequest

    call_command("migrate", verbosity=0)
    Agent.objects.bulk_create([Agent(name=f"bench-agent-{i}") for i in range(AGENTS)])

    escalated = args.rows // 20
    started = time.perf_counter()
    insert(decision="escalate", count=escalated, offset_days=0.01, span_days=29)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE governance_decisionrequest")
    found = suggestions_find(days=30, min_count=5)
    base = timed(lambda: suggestions_find(days=30, min_count=5), args.rounds)
    naive_base = timed(naive_python, max(3, args.rounds // 5))
    print(f"baseline: {DecisionRequest.objects.count():,} requests (all answered escalations in the window); "
          f"{len(found['allow'])} allow and {len(found['deny'])} deny patterns", flush=True)

    rest = args.rows - escalated
    old = rest // 10  # escalations older than the window
    insert(decision="escalate", count=old, offset_days=31, span_days=60)
    insert(decision="deny", count=rest // 10, offset_days=0.01, span_days=29)
    insert(decision="allow", count=rest - old - rest // 10, offset_days=0.01, span_days=89)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE governance_decisionrequest")
    seeded = time.perf_counter() - started
    total = DecisionRequest.objects.count()
    found_large = suggestions_find(days=30, min_count=5)
    assert found_large == found or (len(found_large["allow"]), len(found_large["deny"])) == (len(found["allow"]), len(found["deny"]))
    large = timed(lambda: suggestions_find(days=30, min_count=5), args.rounds)
    naive_large = timed(naive_python, max(3, args.rounds // 5))
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg = cursor.fetchone()[0].split(" on ")[0]
    print(f"{pg}; seeded {total:,} requests in {seeded:.0f}s; {escalated:,} answered escalations in the window; "
          f"{args.rounds} timed calls after a warm-up\n")
    rows = [("suggestions_find, baseline", base), ("suggestions_find, 1M history", large),
            ("naive Python grouping, baseline", naive_base), ("naive Python grouping, 1M history", naive_large)]
    print(f"{'':36} {'min':>9} {'median':>9} {'max':>9}")
    for name, samples in rows:
        print(f"{name:36} {min(samples):7.1f}ms {statistics.median(samples):7.1f}ms {max(samples):7.1f}ms")
    ratio = statistics.median(large) / statistics.median(base)
    naive_ratio = statistics.median(naive_large) / statistics.median(large)
    print(f"\nlarge/baseline = {ratio:.2f} (1.0 = the history outside the window's escalations costs nothing); "
          f"naive Python / SQL at 1M = {naive_ratio:.1f}x")
    print("RESULT suggestions "
          f"rows={total} window_escalations={escalated} base_ms={statistics.median(base):.1f} "
          f"large_ms={statistics.median(large):.1f} large_over_base={ratio:.2f} "
          f"naive_ms={statistics.median(naive_large):.1f} naive_over_sql={naive_ratio:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
