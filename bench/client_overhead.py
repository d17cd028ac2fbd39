"""The latency an agent pays for airlock-client and the airlock-mcp gateway, same run.

    .venv/bin/python bench/client_overhead.py [--db sqlite|postgres] [--calls 300]

Creates a fresh database (SQLite under var/bench-client/, or PostgreSQL airlock_bench_client on
127.0.0.1), registers an agent whose envelope allows the benchmark's actions, starts one
`uvicorn airlock.asgi:application`, then, interleaving the two sides call by call:
  1. `Airlock.require()` (an allowed action) against the same `POST /api/v1/decide` made
     directly with httpx (one shared connection each): the client's overhead;
  2. an MCP `tools/call` through the gateway (SDK ClientSession → airlock-mcp → upstream, which
     includes the gateway's Airlock round trip) against the same call made directly to the
     same upstream server (SDK ClientSession → upstream): the gateway's added latency.
Prints p50/p99 of each side and of the difference of the medians / p99s, and ends with one
`RESULT client_overhead key=value ...` line. Everything shares the machine's CPUs; loopback.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / "clients" / "python" / "tests" / "mcp_upstream.py"
PG_URL = "postgres://postgres@127.0.0.1:5432/airlock_bench_client"
sys.path.insert(0, str(ROOT))
from bench.common import HOST, free_port, percentile, server_environment  # noqa: E402

ENVELOPE = """\
agent: bench-client
mode: enforce
default: deny
approvers: [finance]
capabilities:
  - name: bench decisions
    action: "bench.*"
  - name: the upstream's tools
    action: "mcp.demo-files.*"
"""


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout


def setup(env: dict) -> str:
    """Migrate, create the agent and its envelope; returns the agent token."""
    manage(env, "migrate", "--noinput")
    token = manage(env, "agent_create", "bench-client").strip().splitlines()[-1]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(ENVELOPE)
    try:
        manage(env, "envelope_apply", f.name)
    finally:
        os.unlink(f.name)
    return token


def start_server(env: dict, port: int) -> subprocess.Popen:
    import httpx

    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "airlock.asgi:application", "--host", HOST, "--port", str(port),
         "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise SystemExit(f"uvicorn exited with {server.returncode}")
        try:
            httpx.get(f"http://{HOST}:{port}/accounts/login/", timeout=1)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("uvicorn did not start within 60 s") from None
            time.sleep(0.2)


def pct(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def line(label: str, values: list[float]) -> str:
    return f"  {label:<34} p50 {pct(values, 50):7.2f} ms   p99 {pct(values, 99):7.2f} ms   (n={len(values)})"


def bench_require(base: str, token: str, calls: int) -> tuple[list[float], list[float]]:
    import httpx
    from airlock_client import Airlock

    airlock = Airlock(base, token)
    direct = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)
    params = {"amount": 5, "currency": "USD"}

    def raw() -> None:
        body = {"action": "bench.decide", "resource": "r", "params": params,
                "idempotency_key": f"raw-{uuid.uuid4().hex}"}
        response = direct.post(f"{base}/api/v1/decide", content=json.dumps(body),
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 200 and response.json()["status"] == "allowed", response.text

    def guarded() -> None:
        airlock.require("bench.decide", resource="r", params=params)

    for _ in range(20):  # warm both connections and the server
        raw()
        guarded()
    direct_times, require_times = [], []
    for i in range(calls):
        order = (raw, guarded) if i % 2 == 0 else (guarded, raw)
        for fn in order:
            started = time.perf_counter()
            fn()
            (direct_times if fn is raw else require_times).append(time.perf_counter() - started)
    airlock.close()
    direct.close()
    return direct_times, require_times


def bench_gateway(base: str, token: str, calls: int) -> tuple[list[float], list[float]]:
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    upstream = [sys.executable, str(UPSTREAM)]
    gateway = StdioServerParameters(command=sys.executable, args=[
        "-m", "airlock_client.mcp_gateway", "--url", base, "--token", token, "--", *upstream])
    straight = StdioServerParameters(command=upstream[0], args=upstream[1:])
    direct_times: list[float] = []
    gateway_times: list[float] = []

    async def main():
        with open(os.devnull, "w") as quiet:
            async with stdio_client(gateway, errlog=quiet) as (gr, gw), ClientSession(gr, gw) as through, \
                    stdio_client(straight, errlog=quiet) as (dr, dw), ClientSession(dr, dw) as direct:
                await through.initialize()
                await direct.initialize()

                async def call(session) -> None:
                    result = await session.call_tool("read_file", {"path": "/srv/bench.txt"})
                    assert not result.is_error, result

                for _ in range(20):
                    await call(direct)
                    await call(through)
                for i in range(calls):
                    order = (direct, through) if i % 2 == 0 else (through, direct)
                    for session in order:
                        started = time.perf_counter()
                        await call(session)
                        (direct_times if session is direct else gateway_times).append(time.perf_counter() - started)

    anyio.run(main)
    return direct_times, gateway_times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per side and measurement")
    args = parser.parse_args()

    env = server_environment("bench-client", args.db, PG_URL)
    token = setup(env)
    port = free_port()
    server = start_server(env, port)
    base = f"http://{HOST}:{port}"
    try:
        http_direct, http_require = bench_require(base, token, args.calls)
        mcp_direct, mcp_gateway = bench_gateway(base, token, args.calls)
    finally:
        server.terminate()
        server.wait(10)

    r = {
        "db": args.db,
        "calls": args.calls,
        "decide_direct_p50_ms": pct(http_direct, 50), "decide_direct_p99_ms": pct(http_direct, 99),
        "require_p50_ms": pct(http_require, 50), "require_p99_ms": pct(http_require, 99),
        "mcp_direct_p50_ms": pct(mcp_direct, 50), "mcp_direct_p99_ms": pct(mcp_direct, 99),
        "mcp_gateway_p50_ms": pct(mcp_gateway, 50), "mcp_gateway_p99_ms": pct(mcp_gateway, 99),
    }
    r["require_overhead_p50_ms"] = r["require_p50_ms"] - r["decide_direct_p50_ms"]
    r["require_overhead_p99_ms"] = r["require_p99_ms"] - r["decide_direct_p99_ms"]
    r["gateway_added_p50_ms"] = r["mcp_gateway_p50_ms"] - r["mcp_direct_p50_ms"]
    r["gateway_added_p99_ms"] = r["mcp_gateway_p99_ms"] - r["mcp_direct_p99_ms"]

    print(f"client overhead ({args.db}, {args.calls} interleaved calls per side, one uvicorn, loopback)")
    print(line("POST /api/v1/decide (httpx)", http_direct))
    print(line("Airlock.require() (allowed)", http_require))
    print(f"  require() overhead                 p50 {r['require_overhead_p50_ms']:+7.2f} ms   "
          f"p99 {r['require_overhead_p99_ms']:+7.2f} ms")
    print(line("MCP tools/call, direct", mcp_direct))
    print(line("MCP tools/call, via airlock-mcp", mcp_gateway))
    print(f"  gateway added per tools/call       p50 {r['gateway_added_p50_ms']:+7.2f} ms   "
          f"p99 {r['gateway_added_p99_ms']:+7.2f} ms   (one Airlock decide round trip per call "
          "is inside it: see require() above)")
    print(f"  median of all direct decide calls  {statistics.median(http_direct) * 1000:.2f} ms")
    print("RESULT client_overhead " + " ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
