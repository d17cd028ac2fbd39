"""Decide is flat in history (issue 16, must-show 1): decide's p50 with 0, 10k, 100k and 1M
of one agent's requests inside its velocity, cumulative and novelty windows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/decide_growth.py [--quick]

PostgreSQL only (the bounded-cost state lives there: governance/state_tables.py). What it does:

1. creates a fresh database `airlock_bench_growth` on the DATABASE_URL server and migrates it;
2. one agent, `growth-bot`, whose capability counts a glob (`purchase_order.*`) with velocity
   1e9 per 24 h, a cumulative `amount` per 24 h, and escalate_on_novel on resource and
   params.vendor. 50 requests 30 days old (outside the velocity and cumulative windows) make
   its vendors familiar, so every measured decide is an allow that asks every question;
3. for each size, adds rows with COPY (triggers off) until the agent has that many requests in
   the last 23 h (90 % allowed, 5 % denied, 5 % expired, over 200 vendors and 4 actions the
   glob matches; plus a tenth as many of another agent's), rebuilds the state tables with
   the migration's set-based REBUILD, ANALYZEs, and times in-process decide() calls:
   `after` (the state tables: what the product does) and `before` (the same decide with the
   state tables switched off, i.e. the row-reading queries main used), interleaved;
4. prints the curve and ratios to the size-0 p50 of the same run, and
   `RESULT decide_growth ratio_max=<p50 at the largest size / p50 at 0> max_rows=<size> ...`.

`--quick` stops at 100k. Nothing here is a test; the figures depend on the machine's load,
the ratios are measured in one run.
"""

import argparse
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "airlock_bench_growth"
AGENT = "growth-bot"
VENDORS = [f"vendor:v{i:03d}" for i in range(200)]
ACTIONS = ["purchase_order.create", "purchase_order.update", "purchase_order.approve", "purchase_order.cancel"]
ENVELOPE = """
agent: growth-bot
breaker: {violations: 1000000, window: 10m}
capabilities:
  - action: "purchase_order.*"
    resources: ["vendor:*"]
    velocity: {max: 1000000000, per: 24h, over: escalate}
    cumulative: {param: amount, max: 1000000000000, per: 24h, over: escalate}
    escalate_on_novel: [resource, params.vendor]
"""


def database_urls(url: str) -> tuple[str, str]:
    parts = urlparse(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit("decide_growth.py needs DATABASE_URL=postgres://... (the state tables are PostgreSQL's)")
    return urlunparse(parts._replace(path="/postgres")), urlunparse(parts._replace(path=f"/{DB_NAME}"))


def recreate(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def copy_rows(cursor, agent_id: int, start: int, count: int, now, span: timedelta, status_mix: bool = True) -> None:
    """COPY `count` request rows of `agent_id`, spread evenly over `span` before `now`."""
    buffer = io.StringIO()
    step = span / max(count, 1)
    for i in range(start, start + count):
        vendor = VENDORS[i % len(VENDORS)]
        status = "allowed"
        if status_mix and i % 20 == 7:
            status = "denied"
        elif status_mix and i % 20 == 13:
            status = "expired"
        decision = {"allowed": "allow", "denied": "deny", "expired": "escalate"}[status]
        params = json.dumps({"amount": 10 + i % 90, "vendor": vendor})
        created = now - step * (i - start + 1)
        buffer.write("\t".join([
            str(uuid.uuid4()), str(agent_id), ACTIONS[i % len(ACTIONS)], vendor, params, "{}", "model", "",
            "\\N", "x" * 64, decision, status, "[]", "{}", "f", "\\N", "\\N", "\\N", "enforce",
            created.isoformat(), "\\N", "\\N", "[]", "", "\\N", "", "{}", "",
        ]) + "\n")
    columns = (
        "id, agent_id, action, resource, params, context, input_source, session, idempotency_key, digest, decision, "
        "status, reasons, risk, violation, envelope_id, envelope_version, capability, agent_mode, created_at, "
        "expires_at, decided_at, decided_by, comment, used_at, approved_digest, facts, outcome_status"
    )
    with cursor.copy(f"COPY governance_decisionrequest ({columns}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def run(args) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from governance.decide import DecideInput, decide
    from governance.models import Agent
    from governance.services import agent_create, envelope_apply
    from governance.state import DatabaseState

    # 0009 rebuilds both tables; 0010 then the tallies with their per-currency rows.
    rebuild = (importlib.import_module("governance.migrations.0009_state_tallies").REBUILD
               + importlib.import_module("governance.migrations.0010_state_tallies_per_currency").REBUILD)
    agent, _token = agent_create(name=AGENT)
    envelope_apply(source=ENVELOPE)
    # The baseline: the same envelope and familiar vendors, and none of its requests in the
    # windows, measured in the same rounds as growth-bot, so load on the machine hits both.
    empty, _ = agent_create(name="empty-bot")
    envelope_apply(source=ENVELOPE.replace(AGENT, "empty-bot"))
    other, _ = agent_create(name="other-bot")
    now = timezone.now()
    with connection.cursor() as c:
        # The familiar vendors: 50 requests a month ago, outside the 24 h windows.
        for who in (agent, empty):
            copy_rows(c.cursor, who.pk, 0, 50, now - timedelta(days=30), timedelta(hours=1), status_mix=False)
        c.execute(rebuild)

    tally_sql = DatabaseState._tally_sql

    def one(who, i: int) -> float:
        agent_row = Agent.objects.get(pk=who.pk)
        vendor = VENDORS[i % 50]
        data = DecideInput(action=ACTIONS[i % len(ACTIONS)], resource=vendor,
                           params={"amount": 5, "vendor": vendor}, context={"input_source": "model", "confidence": 1})
        start = time.perf_counter()
        row, _ = decide(agent=agent_row, data=data)
        elapsed = time.perf_counter() - start
        if row.decision != "allow":
            raise SystemExit(f"expected allow, got {row.decision}: {row.reasons}")
        return elapsed

    def timed(mode: str, who, n: int) -> list[float]:
        DatabaseState._tally_sql = tally_sql if mode == "after" else (lambda self, kind, kw: None)
        try:
            return [one(who, i) for i in range(n)]
        finally:
            DatabaseState._tally_sql = tally_sql

    sizes = [0, 10_000, 100_000] + ([] if args.quick else [1_000_000])
    curve, have = [], 0
    for size in sizes:
        if size > have:
            with connection.cursor() as c:
                c.execute("ALTER TABLE governance_decisionrequest DISABLE TRIGGER USER")
                copy_rows(c.cursor, agent.pk, 50 + have, size - have, now, timedelta(hours=23))
                copy_rows(c.cursor, other.pk, 10_000_000 + have // 10, (size - have) // 10, now, timedelta(hours=23))
                c.execute("ALTER TABLE governance_decisionrequest ENABLE TRIGGER USER")
                began = time.perf_counter()
                c.execute(rebuild)
                # Steady state, as autovacuum keeps a live database: statistics and the
                # visibility map (the tallies are summed by index-only scans).
                c.execute("VACUUM ANALYZE")
                print(f"[bench] {size:>9,} rows seeded; state tables rebuilt in {time.perf_counter() - began:.1f} s", flush=True)
            have = size
        for who in (agent, empty):
            timed("after", who, 10)  # warm caches and the compiled envelope
        samples = {key: [] for key in ("after", "after0", "before", "before0")}
        before_n = args.iterations if size <= 100_000 else max(10, args.iterations // 10)
        for _ in range(5):  # interleaved rounds, so load changes hit all alike
            samples["after"] += timed("after", agent, args.iterations // 5)
            samples["after0"] += timed("after", empty, args.iterations // 5)
            samples["before"] += timed("before", agent, max(2, before_n // 5))
            samples["before0"] += timed("before", empty, max(2, before_n // 5))
        curve.append((size, *(statistics.median(samples[k]) for k in ("after", "after0", "before", "before0"))))

    print(f"\n{'rows in windows':>16} | {'after p50 ms':>12} {'none p50':>9} {'ratio':>6} | "
          f"{'before p50 ms':>13} {'none p50':>9} {'ratio':>6}")
    for size, a, a0, b, b0 in curve:
        print(f"{size:>16,} | {a * 1000:>12.2f} {a0 * 1000:>9.2f} {a / a0:>6.2f} | {b * 1000:>13.2f} {b0 * 1000:>9.2f} {b / b0:>6.2f}")
    size, a, a0, b, b0 = curve[-1]
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(
        f"RESULT decide_growth ratio_max={a / a0:.2f} max_rows={size} p50_ms_none={a0 * 1000:.2f} "
        f"p50_ms_at_max={a * 1000:.2f} before_ratio_max={b / b0:.2f} before_p50_ms_at_max={b * 1000:.2f} "
        f"load1={load[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="stop at 100k rows")
    parser.add_argument("--iterations", type=int, default=200, help="timed decides per size (after)")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    admin_url, bench_url = database_urls(url)
    if args.in_process:
        run(args)
        return
    recreate(admin_url)
    env = {**os.environ, "DATABASE_URL": bench_url, "DJANGO_SETTINGS_MODULE": "airlock.settings"}
    print(f"[bench] fresh database {DB_NAME}; migrate", flush=True)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([sys.executable, __file__, "--in-process", *sys.argv[1:]], env=env, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
