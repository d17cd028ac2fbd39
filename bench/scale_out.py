"""Decide throughput with two web processes against one, same run, same database.

    .venv/bin/python bench/scale_out.py [--seconds 5] [--rounds 4] [--agents 8] [--connections 16]

Creates and migrates a fresh PostgreSQL database (airlock_bench_scale on 127.0.0.1; refuses
anything else), seeds the 20-capability envelope for N agents and a month of history
(bench/decide_http.py's helpers), starts two web processes, each what `make serve` runs with
one worker (gunicorn, deploy/gunicorn.conf.py, WEB_CONCURRENCY=1), then alternates closed-loop
rounds:
  1 process:   all connections to process A (B idles);
  2 processes: the same number of connections, half to A and half to B
               (what a load balancer in front of them does).
Same request mix as decide_http.py (allow ×3, escalate, deny, no-match), each agent's requests
spread over both processes, so the agents' row locks are shared between them. On a 2-core
machine that also runs PostgreSQL and the load generator, the second process can only use
what CPU is left: the CPU split is printed with the figures.
Ends with `RESULT scale_out procs2_vs_1=<median of per-round ratios> ...`.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.decide_http import (  # noqa: E402
    HOST,
    PYTHON,
    RECOMMENDED,
    SERVES,
    Backend,
    Serve,
    free_port,
    makers,
    postgres_backend,
    postgres_pids,
    prepare,
    proc_cpu,
    redis_cleanup,
    redis_reachable,
    start_server,
    stop_server,
    tree_pids,
    wait_ready,
)

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/airlock_bench_scale"
# One web process as `make serve` runs it, with one worker: N of them is N processes.
SERVE = Serve(
    "serve-1", "make serve's configuration with one worker", SERVES[RECOMMENDED].argv,
    tuple((k, "1" if k == "WEB_CONCURRENCY" else v) for k, v in SERVES[RECOMMENDED].env),
)
TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    return (sum(cpu) - cpu[3] - cpu[4]) / TICK


async def split_closed_loop(targets: list[tuple[int, object]], connections: int, seconds: float) -> loadgen.Result:
    """One closed loop spread over several servers: `connections` in all, shared evenly."""
    per = [connections // len(targets) + (i < connections % len(targets)) for i in range(len(targets))]
    parts = await asyncio.gather(*(
        loadgen.closed_loop(HOST, port, make, connections=n, seconds=seconds, keep_bodies=10**7)
        for (port, make), n in zip(targets, per, strict=True)
    ))
    merged = loadgen.Result(max(p.seconds for p in parts))
    for p in parts:
        merged.latencies += p.latencies
        merged.statuses.update(p.statuses)
        merged.bodies += p.bodies
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=os.environ.get("AIRLOCK_BENCH_SCALE_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--seconds", type=float, default=5.0, help="per round")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (1 process, 2 processes)")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections in all")
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()

    load_before = os.getloadavg()
    backend = postgres_backend(args.postgres_url)
    if backend is None:
        print("PostgreSQL unreachable: nothing to benchmark", file=sys.stderr)
        return 1
    # Names of its own on Redis (deleted after the run), and its own var/ directory.
    env = dict(backend.env)
    env.update(AIRLOCK_VAR_DIR=str(ROOT / "var" / "bench-scale"), AIRLOCK_CELERY_QUEUE="airlock-scale-bench",
               AIRLOCK_CHANNEL_PREFIX="airlock-scale-bench")
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url and redis_reachable(redis_url):
        env["REDIS_URL"] = redis_url
    backend.env = env
    print("decide throughput, 1 web process vs 2, same run: each one is make serve with one worker (gunicorn + a uvicorn worker, AIRLOCK_SYNC_API=1), "
          f"load generator in this process on {HOST}")
    print(f"machine: {os.cpu_count()} CPUs shared by the servers, PostgreSQL and the load generator; "
          f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(f"database: {backend.label}; {args.agents} agents; {args.connections} connections in all; "
          f"{args.rounds} rounds × {args.seconds:g} s each, alternating")

    tokens = prepare(backend, args.agents)
    servers = []
    try:
        for name in ("scale-a", "scale-b"):
            port = free_port()
            servers.append((port, start_server(Backend(name, env), SERVE, port)))
        tag = f"r{time.time_ns()}"
        targets = []
        for i, (port, proc) in enumerate(servers):
            _baseline, decide = makers(tokens, port, f"{tag}-{i}")
            wait_ready(port, _baseline(), proc)
            targets.append((port, decide))
        db_pids = postgres_pids(env["DATABASE_URL"])
        # Warm both: envelopes compiled, connection pools filled.
        loadgen.run(split_closed_loop(targets, 8, args.warmup))

        rounds: dict[int, list[loadgen.Result]] = {1: [], 2: []}
        cpu: dict[int, list[dict]] = {1: [], 2: []}
        decisions: Counter = Counter()
        statuses: Counter = Counter()
        for _ in range(args.rounds):
            for procs in (1, 2):
                before = (machine_busy(), [sum(proc_cpu(pid) for pid in tree_pids(p.pid)) for _, p in servers],
                          sum(proc_cpu(pid) for pid in db_pids()), time.process_time())
                r = loadgen.run(split_closed_loop(targets[:procs], args.connections, args.seconds))
                after = (machine_busy(), [sum(proc_cpu(pid) for pid in tree_pids(p.pid)) for _, p in servers],
                         sum(proc_cpu(pid) for pid in db_pids()), time.process_time())
                web = [(b - a) / TICK / r.seconds for a, b in zip(before[1], after[1], strict=True)]
                cpu[procs].append({
                    "web": web, "db": (after[2] - before[2]) / TICK / r.seconds,
                    "client": (after[3] - before[3]) / r.seconds, "busy": (after[0] - before[0]) / r.seconds,
                })
                rounds[procs].append(r)
                statuses.update(r.statuses)
                for body in r.bodies:
                    decisions[json.loads(body).get("decision", "error")] += 1
    finally:
        for _, proc in servers:
            stop_server(proc)
        redis_cleanup(env)

    print(f"\n  {'processes':<10} {'decide/s per round':<32} {'median':>8} {'p50 ms':>8} {'p99 ms':>8}")
    medians = {}
    for procs in (1, 2):
        rates = [r.rate for r in rounds[procs]]
        lat = sorted(v for r in rounds[procs] for v in r.latencies)
        medians[procs] = statistics.median(rates)
        print(f"  {procs:<10} {' '.join(f'{x:7.0f}' for x in rates):<32} {medians[procs]:>8.0f} "
              f"{lat[len(lat) // 2]:>8.2f} {lat[int(0.99 * len(lat))]:>8.2f}")
    ratios = [b.rate / a.rate for a, b in zip(rounds[1], rounds[2], strict=True)]
    ratio = statistics.median(ratios)
    print(f"  2 processes / 1: {ratio:.2f}× (per round: {', '.join(f'{x:.2f}' for x in ratios)})")
    for procs in (1, 2):
        c = {k: statistics.median(x[k] for x in cpu[procs]) for k in ("db", "client", "busy")}
        web = [statistics.median(x["web"][i] for x in cpu[procs]) for i in range(2)]
        print(f"  CPU, {procs} process(es) (cores busy of {os.cpu_count()}, median round): web A {web[0]:.2f}, "
              f"web B {web[1]:.2f}, PostgreSQL backends {c['db']:.2f}, load generator {c['client']:.2f}, "
              f"machine {c['busy']:.2f}")
    # CPU per decide (web processes + their PostgreSQL backends): what a second process costs
    # in overhead, whatever CPU the other tenants of the machine left the servers.
    per_decide = {}
    for procs in (1, 2):
        used = sum(sum(x["web"]) * r.seconds + x["db"] * r.seconds for x, r in zip(cpu[procs], rounds[procs], strict=True))
        per_decide[procs] = 1000 * used / sum(r.completed for r in rounds[procs])
    print(f"  CPU per decide (web + PostgreSQL backends): 1 process {per_decide[1]:.2f} ms, "
          f"2 processes {per_decide[2]:.2f} ms")
    total = sum(decisions.values())
    print(f"decide answers: {', '.join(f'{k} {v / total:.0%}' for k, v in sorted(decisions.items()))} of {total}")
    bad = {s: n for s, n in statuses.items() if s != 200}
    print(f"non-200 responses: {bad or 'none'}")
    audit = subprocess.run([PYTHON, "manage.py", "audit_verify"], cwd=ROOT, env=env, capture_output=True, text=True)
    last = ((audit.stdout + audit.stderr).strip().splitlines() or [""])[-1]
    print(f"audit_verify: exit {audit.returncode}, {last}")
    load_after = os.getloadavg()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"RESULT scale_out procs2_vs_1={ratio:.2f} procs1_rps={medians[1]:.0f} procs2_rps={medians[2]:.0f} "
          f"cpu_ms_per_decide_1={per_decide[1]:.2f} cpu_ms_per_decide_2={per_decide[2]:.2f} "
          f"agents={args.agents} connections={args.connections} non200={sum(bad.values())} "
          f"audit_ok={int(audit.returncode == 0)} load_before={load_before[0]:.2f}")
    return 0 if audit.returncode == 0 and not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
