"""Decide throughput with stateful checks (velocity, cumulative, novelty) on PostgreSQL,
against a bare baseline endpoint served by the same process, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/decide_stateful.py [--seconds 5] [--rounds 3]

Self-contained (its own baseline view, URLconf and load generator), so it can sit beside
bench/decide_http.py without sharing code. What it does:

1. creates a fresh database `airlock_bench_stateful` on the DATABASE_URL server, migrates it;
2. registers 8 agents with a *bare* envelope (one capability, no stateful checks) and 8 with
   a *stateful* one (velocity 1000/1m, cumulative `amount` per 1h, novelty on resource and
   on params.vendor, a sequence), and seeds each with 5,000 decisions over 30 days (so the
   state queries run against real indexes and rows; every resource used below is familiar,
   every answer is allow, so all cases take the same path). The cost of velocity and
   cumulative grows with the rows inside their windows (velocity stops counting at max);
3. starts one ASGI process (uvicorn, like `make run`) whose URLconf is the app's plus
   /bench/stateful-baseline: authenticate the bearer token as the API does, INSERT one
   request row in one transaction, nothing else;
4. closed loop, N keep-alive connections, alternating rounds of: baseline, decide with the
   bare envelope, decide with the stateful envelope (connections spread over 8 agents), and
   decide with the stateful envelope from a single agent (every decision of one agent is
   serialised by its row lock: the per-agent ceiling).

Prints requests/s (median of rounds), p50/p99 latency and ratios to the baseline. The load
generator shares the machine's CPUs with the server, so absolute numbers are conservative;
the ratios are what to compare (SPEC §10: decide ≥ 60 % of the baseline).
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DB_NAME = "airlock_bench_stateful"
AGENTS = 8
HISTORY = 5000
RESOURCES = [f"vendor:v{i:03d}" for i in range(50)]

BARE = """
agent: {name}
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
"""
STATEFUL = """
agent: {name}
breaker: {{violations: 1000, window: 10m}}
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
    params_schema: {{type: object, required: [amount], properties: {{amount: {{type: number, minimum: 0}}}}}}
    velocity: {{max: 1000, per: 1m, over: escalate}}
    cumulative: {{param: amount, max: 1000000000, per: 1h, over: escalate}}
    escalate_on_novel: [resource, params.vendor]
sequences:
  - name: order-then-pay
    within: 30m
    match: [purchase_order.create, payment.send]
    key: resource
"""


# --- inside Django: seeding and serving -------------------------------------------------

def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed(database_url: str, out: Path) -> None:
    django_setup(database_url)
    from datetime import timedelta

    from django.utils import timezone

    from governance.models import DecisionRequest
    from governance.services import agent_create, envelope_apply

    now = timezone.now()
    tokens: dict[str, list[str]] = {"bare": [], "stateful": []}
    for kind, template in (("bare", BARE), ("stateful", STATEFUL)):
        for i in range(AGENTS):
            name = f"{kind}-{i}"
            agent, token = agent_create(name=name)
            envelope_apply(source=template.format(name=name))
            tokens[kind].append(token)
            rows = []
            for j in range(HISTORY):
                vendor = RESOURCES[j % len(RESOURCES)]
                rows.append(DecisionRequest(
                    agent=agent, action="purchase_order.create", resource=vendor,
                    params={"amount": 10 + j % 90, "vendor": vendor}, context={"input_source": "model"},
                    digest="", decision="allow", status="allowed", reasons=[], risk={},
                    # Spread over 30 days, the newest in the last few minutes.
                    created_at=now - timedelta(seconds=(HISTORY - j) * 30 * 86400 // HISTORY),
                ))
            DecisionRequest.objects.bulk_create(rows, batch_size=1000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # plans as on a live database, not on empty-table guesses
    out.write_text(json.dumps(tokens))


def pooled(database_url: str) -> str:
    """Configure the server's connections before Django starts. Under ASGI every request runs
    in a thread of its own, so persistent per-thread connections pile up; Django's advice is
    to pool instead (psycopg_pool, which main gets with the bench/decide_http.py work)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    db = settings.DATABASES["default"]
    db["CONN_MAX_AGE"] = 0
    try:
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "no pool (psycopg_pool missing): one connection per request"
    db.setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 10, "timeout": 10}
    return "psycopg_pool, 2-10 connections"


def serve(database_url: str, port: int) -> None:
    print(f"[bench] server database connections: {pooled(database_url)}", flush=True)
    django_setup(database_url)
    import uvicorn
    from django.conf import settings
    from django.core.asgi import get_asgi_application
    from django.db import transaction
    from django.http import JsonResponse
    from django.urls import path
    from django.utils import timezone
    from django.views.decorators.csrf import csrf_exempt

    from airlock import urls as app_urls
    from api.auth import agent_for_token, bearer
    from governance.models import DecisionRequest

    @csrf_exempt
    def baseline(request):
        token = bearer(request)
        agent = agent_for_token(token) if token else None
        if agent is None:
            return JsonResponse({"error": {"code": "unauthorized", "message": "bad token"}}, status=401)
        body = json.loads(request.body)
        with transaction.atomic():
            row = DecisionRequest.objects.create(
                agent=agent, action="bench.baseline", resource=body.get("resource", ""),
                params=body.get("params") or {}, context=body.get("context") or {}, digest="",
                decision="allow", status="allowed", reasons=[], risk={}, created_at=timezone.now(),
            )
        return JsonResponse({"id": str(row.id), "decision": "allow"})

    urlconf = types.ModuleType("bench_stateful_urls")
    urlconf.urlpatterns = [path("bench/stateful-baseline", baseline), *app_urls.urlpatterns]
    settings.ROOT_URLCONF = urlconf
    uvicorn.run(get_asgi_application(), host=HOST, port=port, log_level="warning", access_log=False)


# --- outside: the load generator ---------------------------------------------------------

def request_bytes(path: str, token: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _one(reader, writer, raw: bytes) -> bytes:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    if head[9:12] != b"200":
        raise RuntimeError(f"unexpected answer: {head[:12]!r} {body[:200]!r}")
    return body


async def closed_loop(port: int, requests: list[bytes], connections: int, seconds: float) -> list[float]:
    """Latencies of every request answered in `seconds`; raises unless every answer is allow."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        n = i
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                body = await _one(reader, writer, requests[n % len(requests)])
                latencies.append(time.perf_counter() - started)
                if b'"allow"' not in body:
                    raise RuntimeError(f"not an allow (the cases must compare one path): {body[:300]!r}")
                n += connections
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    return latencies


def order(n: int) -> dict:
    vendor = RESOURCES[n % len(RESOURCES)]
    return {
        "action": "purchase_order.create",
        "resource": vendor,
        "params": {"amount": 25, "vendor": vendor},
        "context": {"confidence": 0.95, "input_source": "model", "reasoning": "restock"},
    }


def build(path: str, tokens: list[str], count: int = 400) -> list[bytes]:
    return [request_bytes(path, tokens[n % len(tokens)], order(n)) for n in range(count)]


def wait_for(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def database_urls(url: str) -> tuple[str, str]:
    parts = urlparse(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL server (postgres://...): this benchmark is about PostgreSQL")
    return urlunparse(parts._replace(path="/postgres")), urlunparse(parts._replace(path=f"/{DB_NAME}"))


def recreate(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def summary(latencies: list[float], seconds: float) -> dict:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / seconds,
        "p50": 1000 * ordered[len(ordered) // 2],
        "p99": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--seed", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        return seed(args.seed[0], Path(args.seed[1]))
    if args.serve:
        return serve(args.serve[0], int(args.serve[1]))

    admin_url, bench_url = database_urls(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    env = {k: v for k, v in os.environ.items() if k not in ("CI",)}
    env.update(DATABASE_URL=bench_url, DJANGO_SETTINGS_MODULE="airlock.settings", LOG_LEVEL="WARNING", DEBUG="false")
    print(f"[bench] fresh database {DB_NAME}; migrate; seed {2 * AGENTS} agents x {HISTORY} past decisions", flush=True)
    recreate(admin_url)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    tokens_file = ROOT / "var" / "bench-stateful-tokens.json"
    tokens_file.parent.mkdir(exist_ok=True)
    subprocess.run([sys.executable, __file__, "--seed", bench_url, str(tokens_file)], env=env, check=True, cwd=ROOT)
    tokens = json.loads(tokens_file.read_text())
    tokens_file.unlink()

    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", bench_url, str(port)], env=env, cwd=ROOT)
    try:
        wait_for(port, server)
        cases = {
            "baseline (token + 1 INSERT)": build("/bench/stateful-baseline", tokens["stateful"]),
            "decide, bare envelope": build("/api/v1/decide", tokens["bare"]),
            "decide, stateful envelope": build("/api/v1/decide", tokens["stateful"]),
            "decide, stateful, 1 agent": build("/api/v1/decide", tokens["stateful"][:1]),
        }
        for raw in cases.values():  # warm-up: compile envelopes, open DB connections
            asyncio.run(closed_loop(port, raw, args.connections, 1.0))
        results: dict[str, list[dict]] = {name: [] for name in cases}
        for r in range(args.rounds):
            for name, raw in cases.items():
                latencies = asyncio.run(closed_loop(port, raw, args.connections, args.seconds))
                results[name].append(summary(latencies, args.seconds))
            print(f"[bench] round {r + 1}/{args.rounds} done", flush=True)
    finally:
        server.terminate()
        server.wait(10)
        if not args.keep:
            recreate_drop(admin_url)

    base = statistics.median(x["rps"] for x in results["baseline (token + 1 INSERT)"])
    print(f"\ndecide throughput on PostgreSQL, {args.connections} connections, {args.rounds} x {args.seconds:g}s rounds, median")
    print(f"{'case':32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs baseline':>12}")
    for name, rounds in results.items():
        rps = statistics.median(x["rps"] for x in rounds)
        p50 = statistics.median(x["p50"] for x in rounds)
        p99 = statistics.median(x["p99"] for x in rounds)
        print(f"{name:32} {rps:8.0f} {p50:8.1f} {p99:8.1f} {100 * rps / base:11.0f}%")


def recreate_drop(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()
