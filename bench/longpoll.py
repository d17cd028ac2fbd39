"""Long-poll: GET /api/v1/requests/{id}?wait=N against one uvicorn process.

    .venv/bin/python bench/longpoll.py [--db sqlite|postgres] [--waiters 200] [--trials 50]

Creates a fresh database (SQLite under var/bench-longpoll/, or PostgreSQL
airlock_bench_longpoll on 127.0.0.1), starts `uvicorn airlock.asgi:application`, then:
  1. other requests (POST /decide by another agent, GET a request without wait): latency
     with no waiter, then with N waiters parked — the ratio shows whether waiters starve them;
  2. the server's threads and DB connections with N waiters parked (no thread per waiter);
  3. wake-up: approve a request (the service, as the web queue does) and time until its
     waiter has the answer, over many trials; and N waiters on one request answered at once.
Redis: REDIS_URL, else 127.0.0.1:6379 when reachable, else the embedded redis-server.
The load generator shares the machine's 2 cores with the server; numbers are loopback.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import HOST, free_port, percentile, server_environment  # noqa: E402

PG_URL = "postgres://postgres@127.0.0.1:5432/airlock_bench_longpoll"


def ms(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50) * 1000:6.1f} ms  p95 {percentile(values, 95) * 1000:6.1f} ms  "
            f"max {max(values) * 1000:6.1f} ms  (n={len(values)})")


def proc_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def db_connections(db: str, pid: int) -> str:
    if db == "postgres":
        import psycopg

        with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/postgres") as conn:
            n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'airlock_bench_longpoll'"
                             ).fetchone()[0]
        return f"{n} PostgreSQL sessions on the bench database (server + this script)"
    fds = [os.readlink(p) for p in Path(f"/proc/{pid}/fd").iterdir() if os.path.exists(p)]
    return f"{sum(f.endswith('airlock.sqlite3') for f in fds)} open SQLite handles in the server"


def setup(args):
    """Fresh database, two agents and an approver (synchronous: before the event loop)."""
    env = server_environment("bench-longpoll", args.db, PG_URL)
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from governance.services import agent_create, envelope_apply

    source = (ROOT / "examples" / "envelopes" / "procurement-bot.yaml").read_text()
    agents = {}
    for name in ("waiting-bot", "busy-bot"):
        agent, token = agent_create(name=name)
        envelope_apply(source=source.replace("agent: procurement-bot", f"agent: {name}", 1))
        agent.refresh_from_db()
        agents[name] = (agent, token)
    alice = get_user_model().objects.create_superuser("alice", "a@example.com", "x" * 12)
    return env, agents, alice


async def main(args, env, agents, alice) -> None:
    import httpx
    from asgiref.sync import sync_to_async

    from approvals.services import approval_decide
    from governance.decide import DecideInput, decide

    (waiting_agent, waiting_token), (_, busy_token) = agents["waiting-bot"], agents["busy-bot"]
    large = {"action": "purchase_order.create", "resource": "vendor:acme-furniture", "params": {"amount": 47000}}
    small = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5},
             "context": {"confidence": 0.95, "input_source": "user"}}

    def escalate() -> str:
        return str(decide(agent=waiting_agent, data=DecideInput(**large))[0].pk)

    approve = sync_to_async(lambda rid: approval_decide(request_id=rid, user=alice, choice="approve"),
                            thread_sensitive=False)
    new_escalation = sync_to_async(escalate, thread_sensitive=False)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "airlock.asgi:application", "--host", HOST, "--port", str(port),
         "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env)
    base = f"http://{HOST}:{port}"
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=90, limits=limits) as client:
            for _ in range(300):
                try:
                    await client.get("/accounts/login/")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            waiter_headers = {"Authorization": f"Bearer {waiting_token}"}
            busy_headers = {"Authorization": f"Bearer {busy_token}"}
            probe = await new_escalation()

            async def others(n: int) -> tuple[list[float], list[float]]:
                decides, reads = [], []
                for _ in range(n):
                    t = time.perf_counter()
                    r = await client.post("/api/v1/decide", json=small, headers=busy_headers)
                    assert r.status_code == 200, r.text
                    decides.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    r = await client.get(f"/api/v1/requests/{probe}", headers=waiter_headers)
                    assert r.status_code == 200, r.text
                    reads.append(time.perf_counter() - t)
                return decides, reads

            await others(20)  # warm up
            idle_threads = proc_threads(server.pid)
            base_decide, base_read = await others(args.requests)

            parked_on = [await new_escalation() for _ in range(args.waiters)]

            async def wait_on(rid: str) -> tuple[str, float]:
                r = await client.get(f"/api/v1/requests/{rid}", params={"wait": 60}, headers=waiter_headers)
                return r.json()["status"], time.perf_counter()

            waiters = [asyncio.create_task(wait_on(rid)) for rid in parked_on]
            await asyncio.sleep(3)  # every waiter connected and parked
            parked_threads = proc_threads(server.pid)
            connections = await sync_to_async(db_connections, thread_sensitive=False)(args.db, server.pid)
            load_decide, load_read = await others(args.requests)
            assert not any(w.done() for w in waiters), "a waiter returned early"

            # Approve them one by one while the others keep waiting: decision -> answer, each.
            committed = []
            for rid in parked_on:
                await approve(rid)
                committed.append(time.perf_counter())
            answers = await asyncio.gather(*waiters)
            assert {status for status, _ in answers} == {"approved"}
            under_load = [answered - at for (_, answered), at in zip(answers, committed, strict=True)]
            after_decide, after_read = await others(args.requests)  # no waiters again: drift check

            wake = []
            for _ in range(args.trials):
                rid = await new_escalation()
                waiter = asyncio.create_task(client.get(f"/api/v1/requests/{rid}", params={"wait": 30},
                                                        headers=waiter_headers))
                await asyncio.sleep(0.2)
                await approve(rid)
                began = time.perf_counter()
                answer = await waiter
                wake.append(time.perf_counter() - began)
                assert answer.json()["status"] == "approved"

        print(f"\nlong-poll bench — {args.db}, {args.waiters} waiters, one uvicorn process, loopback, 2 cores")
        print(f"POST /decide (another agent), no waiters:      {ms(base_decide)}")
        print(f"POST /decide (another agent), {args.waiters} waiting:    {ms(load_decide)}")
        print(f"GET /requests/{{id}} (no wait), no waiters:    {ms(base_read)}")
        print(f"GET /requests/{{id}} (no wait), {args.waiters} waiting:  {ms(load_read)}")
        print(f"POST /decide (another agent), waiters gone:   {ms(after_decide)}")
        print(f"GET /requests/{{id}} (no wait), waiters gone: {ms(after_read)}")
        no_waiters = statistics.median(base_decide + after_decide)
        print(f"decide p50 with waiters / without (before+after): {statistics.median(load_decide) / no_waiters:.2f}x")
        print(f"server threads: {idle_threads} idle -> {parked_threads} with {args.waiters} waiters parked")
        print(f"DB connections with waiters parked: {connections}")
        print(f"{args.waiters} waiters, approved one by one, approval committed -> answer: {ms(under_load)}")
        print(f"one waiter alone, approval committed -> answer:          {ms(wake)}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--waiters", type=int, default=200)
    parser.add_argument("--requests", type=int, default=100, help="other requests measured per phase")
    parser.add_argument("--trials", type=int, default=50, help="single-waiter wake-up trials")
    arguments = parser.parse_args()
    asyncio.run(main(arguments, *setup(arguments)))
