"""How many API threads per web worker: `make serve`'s configuration with several values of
AIRLOCK_API_THREADS, all servers up at once on one database, their closed-loop rounds
interleaved, decide against the bare endpoint on each.

    .venv/bin/python bench/api_threads.py [--threads 10,4,3] [--rounds 8] [--seconds 4]

Creates and migrates a fresh PostgreSQL database (airlock_bench_threads on 127.0.0.1; refuses
anything else) and seeds it like decide_http.py (8 agents, the 20-capability envelope, a month
of history); starts one `make serve` (gunicorn, deploy/gunicorn.conf.py, 2 uvicorn workers)
per thread count; then, round after round, runs the baseline and decide for 4 s each on every
server in turn (16 connections). CPU per request is the active server's processes plus the
database's backends (the idle servers' connections are idle; autovacuum counts where it
lands). Then decide's latency at 150 and 300 requests/s on each. Ends with one line:
`RESULT api_threads cpu_ratio_<n>=... decide_rps_<n>=... ... non200=...` (medians over the
rounds; non200 counts the answers other than 200 in the rounds, all servers).
"""

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import decide_http as dh  # noqa: E402
from bench import loadgen  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="10,4,3", help="AIRLOCK_API_THREADS values, comma-separated")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint per server before the rounds")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/airlock_bench_threads")
    args = parser.parse_args()
    counts = [int(x) for x in args.threads.split(",")]

    backend = dh.postgres_backend(args.postgres_url)
    if backend is None:
        return 1
    tokens = dh.prepare(backend, args.agents)
    db_pids = dh.postgres_pids(backend.env["DATABASE_URL"])
    load_before = os.getloadavg()
    print(f"make serve (2 workers) with AIRLOCK_API_THREADS = {', '.join(map(str, counts))}, all up at once; "
          f"{args.agents} agents, {args.connections} connections, {args.rounds} rounds × {args.seconds:g} s "
          f"per endpoint per server; load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    servers = {}
    try:
        for n in counts:
            backend.env["AIRLOCK_API_THREADS"] = str(n)
            port = dh.free_port()
            # Its own name, so each server logs to its own var/bench-postgres-<name>.log.
            serve = replace(dh.SERVES[dh.RECOMMENDED], name=f"{dh.RECOMMENDED}-threads{n}")
            servers[n] = (port, dh.start_server(backend, serve, port))
        makers = {}
        for n, (port, server) in servers.items():
            baseline, decide = dh.makers(tokens, port, f"t{n}-{time.time_ns()}")
            dh.wait_ready(port, baseline(), server)
            makers[n] = {"baseline": baseline, "decide": decide}
            for make in (baseline, decide):  # warm-up: envelopes compiled, connections open
                loadgen.run(loadgen.closed_loop(dh.HOST, port, make, connections=args.connections,
                                                seconds=args.warmup))
        rounds = {n: {"baseline": [], "decide": []} for n in counts}
        for _ in range(args.rounds):
            for n, (port, server) in servers.items():
                cpu = dh.Cpu(server.pid, db_pids)
                for name in ("baseline", "decide"):
                    a = cpu.snap()
                    r = loadgen.run(loadgen.closed_loop(dh.HOST, port, makers[n][name], connections=args.connections,
                                                        seconds=args.seconds))
                    d = dh.Cpu.delta(a, cpu.snap())
                    answered = r.statuses.get(200, 0)
                    rounds[n][name].append((answered / r.seconds, 1000 * (d["server"] + d["db"]) / max(1, answered),
                                            r.completed - answered))
        latency = {}
        for n, (port, _) in servers.items():
            for rate in (150, 300):
                r = loadgen.run(loadgen.open_loop(dh.HOST, port, makers[n]["decide"], rate=rate, seconds=args.seconds))
                latency[n, rate] = (r.pct(0.5), r.pct(0.99))
    finally:
        for _, server in servers.values():
            dh.stop_server(server)
        dh.redis_cleanup(backend.env)

    print("\n| threads | bare req/s | decide req/s | CPU ms bare / decide | CPU ratio (median of rounds) | per round "
          "| decide p50 / p99 ms at 150/s | at 300/s | non-200 |")
    print("|---|---|---|---|---|---|---|---|---|")
    result, non200 = [], 0
    for n in counts:
        bare, dec = rounds[n]["baseline"], rounds[n]["decide"]
        ratios = [d[1] / b[1] for b, d in zip(bare, dec, strict=True)]
        ratio = statistics.median(ratios)
        rps = statistics.median(d[0] for d in dec)
        failed = sum(x[2] for x in bare + dec)
        non200 += failed
        print(f"| {n} | {statistics.median(b[0] for b in bare):.0f} | {rps:.0f} | "
              f"{statistics.median(b[1] for b in bare):.2f} / {statistics.median(d[1] for d in dec):.2f} | {ratio:.2f}× | "
              f"{' '.join(f'{x:.2f}' for x in ratios)} | {latency[n, 150][0]:.1f} / {latency[n, 150][1]:.1f} | "
              f"{latency[n, 300][0]:.1f} / {latency[n, 300][1]:.1f} | {failed} |")
        result += [f"cpu_ratio_{n}={ratio:.3f}", f"decide_rps_{n}={rps:.0f}", f"p99_ms_150_{n}={latency[n, 150][1]:.1f}"]
    load_after = os.getloadavg()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"RESULT api_threads {' '.join(result)} non200={non200} rounds={args.rounds} load={load_before[0]:.2f}-{load_after[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
