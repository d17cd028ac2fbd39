"""Profile the decide path in one process (no HTTP server, no load generator): Django's test
client posts the HTTP mix of decide_http.py through the full middleware, DRF and decide
stack, under cProfile, and prints where the time goes, plus SQL queries per request.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/airlock_bench .venv/bin/python bench/profile_decide.py

Uses the database decide_http.py seeded (run that first, or bench/seed.py on a fresh one).
"""

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.decide_http import HTTP_MIX  # noqa: E402
from governance.models import Agent  # noqa: E402
from governance.services import agent_token_rotate  # noqa: E402


def backend_cpu() -> float:
    """CPU seconds of this process's PostgreSQL backend so far (0 elsewhere)."""
    if connection.vendor != "postgresql":
        return 0.0
    connection.ensure_connection()
    with open(f"/proc/{connection.connection.info.backend_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--path", default="/api/v1/decide")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--wall", action="store_true", help="profile wall time (default: CPU time, waits excluded)")
    parser.add_argument("--callees", default="", help="also print what these functions call (pstats patterns, comma-separated)")
    parser.add_argument("--dump", default="", help="write the raw profile to this file (pstats)")
    args = parser.parse_args()

    # A fresh token for this run (the seeded one was printed once and not kept).
    token = agent_token_rotate(agent=Agent.objects.get(name="ops-bot"))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    tag = f"p{int(time.time())}"

    def post(i: int, path: str = args.path):
        c = HTTP_MIX[i % len(HTTP_MIX)]
        body = {"action": c.action, "resource": c.resource, "params": c.params, "context": c.context,
                "idempotency_key": f"{tag}-{i}"}
        response = client.post(path, json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content

    for i in range(50):
        post(i)
    # Wall time and CPU per request in this one process (and, on PostgreSQL, its backend's),
    # baseline vs decide, alternating.
    for _round in range(2):
        for path in ("/bench/baseline", "/api/v1/decide"):
            n, wall0, cpu0, db0 = 200, time.perf_counter(), time.process_time(), backend_cpu()
            for i in range(n):
                post(30_000 + _round * 1000 + i, path)
            wall, cpu, db = time.perf_counter() - wall0, time.process_time() - cpu0, backend_cpu() - db0
            print(f"{path:<16} {wall / n * 1000:6.2f} ms wall, {cpu / n * 1000:6.2f} ms CPU per request"
                  + (f" + {db / n * 1000:.2f} ms in its PostgreSQL backend" if connection.vendor == "postgresql" else ""))
    with CaptureQueriesContext(connection) as queries:
        for i in range(len(HTTP_MIX)):
            post(10_000 + i)
    print(f"{len(queries) / len(HTTP_MIX):.1f} SQL statements per decide over the {len(HTTP_MIX)}-request mix")
    reset_queries()
    # CPU time by default: on a shared machine, waiting for the database says little.
    profiler = cProfile.Profile() if args.wall else cProfile.Profile(time.process_time)
    t0 = time.perf_counter()
    profiler.enable()
    for i in range(args.requests):
        post(20_000 + i)
    profiler.disable()
    elapsed = time.perf_counter() - t0
    print(f"{args.requests} requests in {elapsed:.2f} s under cProfile: {elapsed / args.requests * 1000:.2f} ms each")
    stats = pstats.Stats(profiler).sort_stats(args.sort)
    stats.print_stats(args.top)
    for pattern in filter(None, args.callees.split(",")):
        stats.print_callees(pattern)
    if args.dump:
        stats.dump_stats(args.dump)


if __name__ == "__main__":
    main()
