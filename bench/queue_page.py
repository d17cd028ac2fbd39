"""The queue page with 10,000 pending escalations (SPEC §10: first page ≤ 150 ms).

    .venv/bin/python bench/queue_page.py [--pending 10000] [--agents 20] [-n 30] [--db sqlite|postgres]

Fresh database (SQLite in a temporary directory, or PostgreSQL airlock_bench_queue on
127.0.0.1), `--pending` pending escalations spread over `--agents` agents (rows inserted in
bulk, as decide would have left them, with a month-like history per agent), one approver in
the finance group. Serves the real ASGI app (uvicorn, one process) and times GET / (the first
page: the most urgent cards (cards.PAGE_SIZE) with history, progress and the breaker banner) over HTTP with
the approver's session, beside GET /accounts/login/ (a page with no queries) as a baseline.
The inbox's filtered views (issue 12: by agent, by risk + "mine", a search, page 2) are timed
the same way; each counts the true total of what matches.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.queue_latency import database, percentile, start_redis  # noqa: E402

# The inbox's filtered first pages (issue 12), each with its true total.
FILTERED = ("/?agent=bot-3", "/?risk=medium&mine=1", "/?q=new-9999", "/?page=2")


def seed(pending: int, agents: int) -> str:
    """Bulk rows; returns the approver's session cookie."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from approvals.models import Escalation, EscalationGroup
    from governance.models import Agent, DecisionRequest
    from governance.services import agent_create, envelope_apply

    source = (ROOT / "examples" / "envelopes" / "procurement-bot.yaml").read_text()
    now = timezone.now()
    bots = []
    for i in range(agents):
        agent, _token = agent_create(name=f"bot-{i}")
        envelope_apply(source=source.replace("agent: procurement-bot", f"agent: bot-{i}", 1))
        bots.append(Agent.objects.get(pk=agent.pk))
    history, rows = [], []
    for i, agent in enumerate(bots):
        for h in range(200):
            history.append(DecisionRequest(
                agent=agent, action="purchase_order.create", resource="vendor:staples",
                params={"amount": 100 + h, "currency": "USD"}, digest="0" * 64, decision="allow",
                status="allowed", created_at=now - timedelta(days=30) + timedelta(minutes=h * 7 + i),
            ))
    for n in range(pending):
        agent = bots[n % agents]
        rows.append(DecisionRequest(
            id=uuid.uuid4(), agent=agent, action="purchase_order.create", resource=f"vendor:new-{n}",
            params={"amount": 10_000 + n, "currency": "USD", "items": "desks"},
            context={"reasoning": "office supplies", "confidence": 0.9, "input_source": "user"},
            digest="0" * 64, decision="escalate", status="pending",
            reasons=[{"code": "amount_over_limit", "message": "amount over the 10,000 auto-approval limit", "rule": "r"}],
            risk={"score": 0.5, "factors": [{"name": "novel_resource", "weight": 0.3}]},
            created_at=now - timedelta(seconds=pending - n), expires_at=now + timedelta(minutes=15, seconds=n),
        ))
    DecisionRequest.objects.bulk_create(history, batch_size=2000)
    DecisionRequest.objects.bulk_create(rows, batch_size=2000)
    escalations = [Escalation(request=r, quorum=1, approver_groups=["finance"], deadline=r.expires_at) for r in rows]
    Escalation.objects.bulk_create(escalations, batch_size=2000)
    EscalationGroup.objects.bulk_create([EscalationGroup(escalation=e, name="finance") for e in escalations], batch_size=2000)
    call_command("approver_add", "alice", "--group", "finance", "--password", "bench-pw-123", stdout=open(os.devnull, "w"))  # noqa: SIM115
    client = Client()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="alice"))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have by now; bulk inserts leave no stats
    connections.close_all()
    return cookie


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("-n", type=int, default=30, help="timed requests per page")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="airlock-bench-page-"))
    redis_url, redis_server = start_redis(workdir)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="airlock.settings", DATABASE_URL=database(args.db, workdir), REDIS_URL=redis_url,
        AIRLOCK_CHANNEL_PREFIX="bench-page", AIRLOCK_CELERY_QUEUE="bench-page", LOG_LEVEL="WARNING",
    )
    started = time.monotonic()
    cookie = seed(args.pending, args.agents)
    print(f"seeded {args.pending} pending escalations over {args.agents} agents in {time.monotonic() - started:.1f} s")

    import httpx

    from tests.approvals.asgi_server import asgi_server

    try:
        with asgi_server(db_url=os.environ["DATABASE_URL"], log=workdir / "uvicorn.log") as base:
            client = httpx.Client(base_url=base, headers={"Cookie": cookie}, timeout=30)
            timings: dict[str, list[float]] = {"/accounts/login/": [], "/": [], **{path: [] for path in FILTERED}}
            for _ in range(3):  # warm up both
                for path in timings:
                    client.get(path).raise_for_status()
            for _ in range(args.n):
                for path, samples in timings.items():
                    t0 = time.perf_counter()
                    response = client.get(path)
                    samples.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
            cards = response.text.count('<article id="esc-')
    finally:
        if redis_server is not None:
            redis_server.terminate()
    print(f"queue page: {args.db}, uvicorn (1 process) on loopback, {os.cpu_count()} CPUs, {args.n} requests each")
    for path, samples in timings.items():
        label = "GET / (first page)" if path == "/" else f"GET {path}" + (" (baseline, no queries)" if "login" in path else "")
        print(f"{label:<44} p50 {percentile(samples, 50):7.1f} ms   p95 {percentile(samples, 95):7.1f} ms   "
              f"mean {statistics.fmean(samples):7.1f} ms")
    p50 = percentile(timings["/"], 50)
    print(f"cards on the first page: {cards}; target first page ≤ 150 ms (p50): {'met' if p50 <= 150 else 'NOT met'} ({p50:.1f} ms)")
    baseline = percentile(timings["/accounts/login/"], 50)
    worst = max(percentile(timings[path], 95) for path in FILTERED)
    print(f"RESULT queue_page db={args.db} pending={args.pending} first_p50_ms={p50:.1f} "
          f"first_p95_ms={percentile(timings['/'], 95):.1f} first_vs_baseline={p50 / baseline:.2f} "
          f"filtered_worst_p95_ms={worst:.1f} target_ms=150")


if __name__ == "__main__":
    main()
