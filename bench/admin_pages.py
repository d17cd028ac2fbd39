"""Page render times at scale: the approvers' queue with 10,000 pending escalations and the
admin audit trail with 1,000,000 events (SPEC §10: queue first page ≤ 150 ms, filtered
audit page ≤ 100 ms).

    .venv/bin/python bench/admin_pages.py [--db URL] [--rounds 30] [--reseed] [--explain]

Uses its own PostgreSQL database (default airlock_bench_admin on 127.0.0.1), migrates it,
and seeds it with `seed_scale` the first time (about a minute; --reseed starts over). Each
page is requested through Django's full stack in-process (middleware, session auth, view,
selectors, templates; no socket), after a warm-up, and timed end to end. The login page,
which renders a template and touches no table, is timed in the same run as a baseline.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/airlock_bench_admin"
TARGETS_MS = {"queue": 150, "audit": 100}


def seed(escalations: int, audit_events: int) -> None:
    from django.core.management import call_command

    from bench.scale import seed_scale
    from governance.models import AuditEvent, DecisionRequest

    call_command("migrate", verbosity=0)
    pending = DecisionRequest.objects.filter(status="pending").count()
    events = AuditEvent.objects.count()
    missing_esc, missing_events = max(0, escalations - pending), max(0, audit_events - events)
    if missing_esc or missing_events:
        print(f"seeding {missing_esc} escalations and {missing_events} audit events ...", flush=True)
        report = seed_scale(escalations=missing_esc, audit_events=missing_events, seed=events + 1,
                            progress=lambda m: print("  " + m, flush=True))
        print(f"  seeded in {sum(report.seconds.values()):.1f}s", flush=True)


def people():
    from django.contrib.auth.models import Group, User

    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True})
    alice, created = User.objects.get_or_create(username="bench-alice")
    if created:
        alice.groups.add(Group.objects.get_or_create(name="finance")[0])
    return admin, alice


def client_for(user=None):
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    if user is not None:
        client.force_login(user)
    return client


def timed(client, url: str, rounds: int) -> tuple[list[float], int, int]:
    """Milliseconds per request; also the response size and the number of SQL queries."""
    from django.db import connection

    for _ in range(3):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
        client.get(url)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
    return samples, len(response.content), len(queries)


def audit_urls() -> dict[str, str]:
    from django.utils import timezone

    from adminui.audit_trail import AuditFilter, audit_page, cursor_of
    from governance.models import AuditEvent

    now = timezone.now()
    day = (now - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    next_day = (now - timedelta(days=19)).strftime("%Y-%m-%dT%H:%M")
    old = AuditEvent.objects.filter(created_at__lt=now - timedelta(days=15)).order_by("-created_at", "-id").first()
    deep = cursor_of(old) if old else ""
    page = audit_page(filters=AuditFilter(kind="decision.allow"))
    urls = {
        "audit, no filter": {},
        "audit, agent + kind": {"agent": "scale-07", "kind": "decision.escalate"},
        "audit, kind family decision.*": {"kind": "decision.*"},
        "audit, rare kind (2 %)": {"kind": "escalation.expired"},
        "audit, rare family agent.*": {"kind": "agent.*"},
        "audit, actor": {"actor": "agent:scale-03"},
        "audit, one day, 20 days ago": {"since": day, "until": next_day},
        "audit, agent + kind + day": {"agent": "scale-11", "kind": "decision.allow", "since": day, "until": next_day},
        "audit, page 2 (cursor)": {"kind": "decision.allow", "before": page.older or ""},
        "audit, page 15 days deep": {"kind": "decision.allow", "before": deep},
    }
    return {name: "/admin/audit/?" + urlencode(query) if query else "/admin/audit/" for name, query in urls.items()}


def explain(url: str) -> None:
    """Print PostgreSQL's plan for the page's main query (the first over AuditEvent)."""
    from django.db import connection

    admin, _alice = people()
    seen = []
    with connection.execute_wrapper(lambda execute, sql, params, *args: seen.append((sql, params)) or execute(sql, params, *args)):
        client_for(admin).get(url)
    for sql, params in seen:
        if "governance_auditevent" in sql and "ORDER BY" in sql:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                print("\n".join(row[0] for row in cursor.fetchall()))
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("AIRLOCK_BENCH_DB", DEFAULT_DB))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--escalations", type=int, default=10_000)
    parser.add_argument("--audit-events", type=int, default=1_000_000)
    parser.add_argument("--reseed", action="store_true", help="drop the benchmark database first")
    parser.add_argument("--explain", action="store_true", help="print the plan of each audit query")
    args = parser.parse_args()

    if not args.db.startswith("postgres"):
        print("this benchmark is about PostgreSQL at scale; pass --db postgres://...", file=sys.stderr)
        return 2
    ensure_database(args.db, fresh=args.reseed)
    setup_django(args.db)
    seed(args.escalations, args.audit_events)

    from django.db import connection

    from governance.models import AuditEvent, DecisionRequest

    admin, alice = people()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg = cursor.fetchone()[0].split(" on ")[0]
    pending = DecisionRequest.objects.filter(status="pending").count()
    print(f"\n{pg}; {pending} pending escalations; {AuditEvent.objects.count()} audit events; "
          f"{args.rounds} timed requests per page after 3 warm-ups\n")

    pages = [("baseline: login page (no DB)", None, "/accounts/login/"),
             ("queue first page (alice, approver)", alice, "/"),
             ("queue first page (admin)", admin, "/")]
    pages += [(name, admin, url) for name, url in audit_urls().items()]
    pages += [("admin agents page", admin, "/admin/agents/"), ("admin dashboard", admin, "/admin/")]

    print(f"{'page':42} {'min':>8} {'median':>8} {'p95':>8} {'×base':>6} {'SQL':>4} {'KB':>5}  target")
    baseline = None
    failures = 0
    for name, user, url in pages:
        samples, size, queries = timed(client_for(user), url, args.rounds)
        med = statistics.median(samples)
        p95 = sorted(samples)[max(0, int(0.95 * len(samples)) - 1)]
        baseline = baseline or med
        kind = "queue" if name.startswith("queue") else "audit" if name.startswith("audit") else None
        verdict = ""
        if kind:
            ok = p95 <= TARGETS_MS[kind]
            failures += not ok
            verdict = f"{'ok' if ok else 'OVER'} (p95 ≤ {TARGETS_MS[kind]} ms)"
        print(f"{name:42} {min(samples):6.1f}ms {med:6.1f}ms {p95:6.1f}ms {med / baseline:6.1f} {queries:4d} {size / 1024:5.0f}  {verdict}")
        if args.explain and kind == "audit":
            explain(url)
    load = os.getloadavg()[0]
    print(f"\nload average {load:.1f} on {os.cpu_count()} CPUs during the run"
          + ("; other work shares the CPUs, so read the ×base ratios" if load > (os.cpu_count() or 1) else ""))
    print("all within target" if not failures else f"{failures} page(s) over target")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
