"""POST /api/v1/decide over HTTP against a bare endpoint on the same server, same run.

    .venv/bin/python bench/decide_http.py [--db postgres|sqlite|both] [--serve CONFIG|all] [--seconds 4]

For each database: creates and migrates a fresh benchmark database (PostgreSQL:
airlock_bench on 127.0.0.1; SQLite: under var/bench-sqlite/), seeds the 20-capability
envelope and a month of history; then for each serving configuration (--serve; the default
is the one recommended for production, `make serve`) starts that server on 127.0.0.1 (the
product plus /bench/baseline) and measures
  1. throughput, closed loop: the baseline (token check + one INSERT in one transaction)
     and decide (token check, validation, policy, state queries, the request row, its
     audit event, escalation/anomaly rows), alternating, several rounds;
  2. CPU per request of the server (every process of it) and its PostgreSQL backends;
  3. latency at fixed rates (open loop, default 150 and 300 requests/s) for both.
SPEC §10 targets: decide CPU per request ≤ 1.7× the baseline's; ≥ 300 decide/s on 2 cores;
p99 ≤ 25 ms at 150 req/s. The load generator runs on the same machine and shares its CPUs;
the CPU split is printed. Ends with one line: RESULT decide_http cpu_ratio=... (the
recommended configuration, PostgreSQL when measured, the largest agent count).
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.policy_eval import MIXES  # noqa: E402

HOST = "127.0.0.1"
PYTHON = sys.executable
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/airlock_bench"
# The HTTP mix: mostly allows, as an agent's day is, with every other path present.
HTTP_MIX = MIXES["allow"] * 3 + MIXES["escalate"] + MIXES["deny"] + MIXES["no-match"]


@dataclass(frozen=True)
class Serve:
    """One serving configuration: the command (PORT filled in) and what it sets in the environment."""

    name: str
    what: str
    argv: tuple
    env: tuple = ()


UVICORN = (PYTHON, "-m", "uvicorn", "bench.asgi:application", "--host", HOST, "--port", "{port}",
           "--no-access-log", "--log-level", "warning", "--lifespan", "off")
# Keep-alive 5 s as uvicorn's default (gunicorn's is 2 s; the load generator retires idle
# connections after 4 s).
GUNICORN = (PYTHON, "-m", "gunicorn", "--bind", f"{HOST}:{{port}}", "--workers", "2", "--log-level", "warning",
            "--graceful-timeout", "5", "--keep-alive", "5")
SERVES = {
    s.name: s
    for s in (
        Serve("uvicorn", "one uvicorn process, Django's ASGI handler (make run)", UVICORN, (("AIRLOCK_SYNC_API", "0"),)),
        Serve("uvicorn-sync", "one uvicorn process, AIRLOCK_SYNC_API=1 (decide/verify on the WSGI handler, thread pool)",
              UVICORN, (("AIRLOCK_SYNC_API", "1"),)),
        Serve("gunicorn-uvicorn", "gunicorn, 2 uvicorn workers, Django's ASGI handler",
              (*GUNICORN, "--worker-class", "uvicorn_worker.UvicornWorker", "bench.asgi:application"),
              (("AIRLOCK_SYNC_API", "0"),)),
        # Exactly what `make serve` runs (deploy/gunicorn.conf.py), on bench's application.
        Serve("gunicorn-uvicorn-sync", "gunicorn, 2 uvicorn workers, AIRLOCK_SYNC_API=1 (make serve)",
              (PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "bench.asgi:application"),
              (("AIRLOCK_SYNC_API", "1"), ("WEB_CONCURRENCY", "2"), ("HOST", HOST), ("PORT", "{port}"))),
        Serve("gunicorn-gthread", "gunicorn, 2 gthread workers × 8 threads, Django's WSGI handler (the API half "
              "of a WSGI/ASGI split)",
              (*GUNICORN, "--worker-class", "gthread", "--threads", "8", "airlock.wsgi:application"),
              (("AIRLOCK_SYNC_API", "0"),)),
    )
}
# What `make serve` runs (docs/deploy.md says why); the default of --serve.
RECOMMENDED = "gunicorn-uvicorn-sync"


@dataclass
class Backend:
    name: str
    env: dict
    label: str = ""
    results: dict = field(default_factory=dict)
    audit: tuple = (None, "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def base_env(var_dir: Path, tag: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CI")}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        AIRLOCK_VAR_DIR=str(var_dir),
        DEBUG="false",
        LOG_LEVEL="WARNING",
        # Escalations enqueue expiry tasks and live-queue messages; no worker runs here, so
        # they go to names of their own, deleted after the run (redis_cleanup).
        AIRLOCK_CELERY_QUEUE=f"airlock-decide-bench-{tag}",
        AIRLOCK_CHANNEL_PREFIX=f"airlock-decide-bench-{tag}",
    )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_reachable(redis_url):
        env["REDIS_URL"] = redis_url
    return env


def redis_reachable(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=1).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure just means "no Redis for this run"
        return False


def redis_cleanup(env: dict) -> None:
    """Delete the Celery queue and channel-layer keys this run wrote (its own names only)."""
    if not env.get("REDIS_URL"):
        return
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=2)
    queue, prefix = env["AIRLOCK_CELERY_QUEUE"], env["AIRLOCK_CHANNEL_PREFIX"]
    keys = [queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}", *client.scan_iter(f"{prefix}:*")]
    client.delete(*keys)


def postgres_backend(url: str) -> Backend | None:
    import psycopg

    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost") or "bench" not in parsed.path:
        raise SystemExit(f"refusing {url}: the benchmark only drops and recreates a *bench* database on 127.0.0.1")
    dbname = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL at {parsed.hostname}:{parsed.port} unreachable ({exc}); skipping it", file=sys.stderr)
        return None
    env = base_env(ROOT / "var" / "bench-postgres", "pg")
    env["DATABASE_URL"] = url
    return Backend("postgres", env, f"PostgreSQL {version} ({dbname} on {parsed.hostname})")


def sqlite_backend() -> Backend:
    var_dir = ROOT / "var" / "bench-sqlite"
    var_dir.mkdir(parents=True, exist_ok=True)
    for f in var_dir.glob("airlock.sqlite3*"):
        f.unlink()
    return Backend("sqlite", base_env(var_dir, "sqlite"), f"SQLite (WAL, {var_dir.relative_to(ROOT)}/airlock.sqlite3)")


def prepare(backend: Backend, agents: int) -> list[str]:
    """Migrate and seed; returns the agents' tokens."""
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=backend.env, check=True, capture_output=True)
    seeded = subprocess.run(
        [PYTHON, "-m", "bench.seed", "--agents", str(agents)],
        cwd=ROOT, env=backend.env, check=True, capture_output=True, text=True,
    )
    return seeded.stdout.split()


def start_server(backend: Backend, serve: Serve, port: int) -> subprocess.Popen:
    log = open(ROOT / "var" / f"bench-{backend.name}-{serve.name}.log", "w")  # noqa: SIM115 - lives as long as the server
    # Access log off (a proxy would keep it); its own process group, so no worker outlives it.
    return subprocess.Popen(
        [a.format(port=port) for a in serve.argv], cwd=ROOT,
        env={**backend.env, **{k: v.format(port=port) for k, v in serve.env}},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_server(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    except ProcessLookupError:
        pass


def wait_ready(port: int, raw: bytes, server: subprocess.Popen) -> None:
    async def probe():
        conn = await loadgen.Connection.open(HOST, port)
        status, body = await conn.send(raw)
        conn.close()
        return status, body

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited; see var/bench-<db>-<serve>.log")
        try:
            status, body = loadgen.run(probe())
        except OSError:
            time.sleep(0.2)
            continue
        if status != 200:
            raise SystemExit(f"the baseline answered {status}: {body[:300]!r}")
        return
    raise SystemExit("the server did not come up within 60 s")


def proc_cpu(pid: int) -> float:
    """User + system CPU ticks of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return int(fields[11]) + int(fields[12])


def tree_pids(root: int) -> list[int]:
    """The process and all its descendants (gunicorn's master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, ()))
    return pids


class Cpu:
    """CPU seconds used by the server (the process and its children), its PostgreSQL backends,
    this process (the load generator), and the whole machine (other tenants included)."""

    tick = os.sysconf("SC_CLK_TCK")

    def __init__(self, server_pid: int, db_pids=None):
        self.pid = server_pid
        self.db_pids = db_pids or (lambda: [])

    def snap(self) -> tuple:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        busy = sum(cpu) - cpu[3] - cpu[4]
        db = {pid: proc_cpu(pid) for pid in self.db_pids()}
        server = {pid: proc_cpu(pid) for pid in tree_pids(self.pid)}
        return busy / self.tick, server, db, time.process_time()

    @classmethod
    def delta(cls, a, b) -> dict:
        """CPU seconds between two snapshots: server, db (its backends), client, other."""
        busy, client = b[0] - a[0], b[3] - a[3]
        server = sum(ticks - a[1].get(pid, 0.0) for pid, ticks in b[1].items()) / cls.tick
        db = sum(ticks - a[2].get(pid, 0.0) for pid, ticks in b[2].items()) / cls.tick
        return {"server": server, "db": db, "client": client, "other": max(0.0, busy - server - client - db),
                "has_db": bool(b[2])}

    @classmethod
    def split(cls, a, b, seconds: float) -> str:
        d = cls.delta(a, b)
        cores = os.cpu_count() or 1
        db_part = f", its PostgreSQL backends {d['db'] / seconds:.2f}" if d["has_db"] else ""
        return (
            f"CPU (cores busy of {cores}): server {d['server'] / seconds:.2f}{db_part}, "
            f"load generator {d['client'] / seconds:.2f}, everything else on the machine {d['other'] / seconds:.2f}"
        )


def postgres_pids(url: str):
    """A function listing the PIDs of the PostgreSQL backends serving the benchmark database."""
    import psycopg

    dbname = urlparse(url).path.lstrip("/")
    conn = psycopg.connect(urlparse(url)._replace(path="/postgres").geturl(), autocommit=True)
    return lambda: [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [dbname])]


def makers(tokens: list[str], port: int, run_tag: str):
    """Request builders for both endpoints: the same bodies, agents taken in turn."""
    serial = count()
    bodies = [{"action": c.action, "resource": c.resource, "params": c.params, "context": c.context} for c in HTTP_MIX]

    def make(path: str):
        def one() -> bytes:
            i = next(serial)
            body = {**bodies[i % len(bodies)], "idempotency_key": f"{run_tag}-{i}"}
            return loadgen.post(HOST, port, path, tokens[i % len(tokens)], json.dumps(body).encode())

        return one

    return make("/bench/baseline"), make("/api/v1/decide")


def measure(backend: Backend, serves: list[Serve], args) -> None:
    tokens = prepare(backend, max(args.agents))
    db_pids = postgres_pids(backend.env["DATABASE_URL"]) if backend.name == "postgres" else None
    for serve in serves:
        port = free_port()
        server = start_server(backend, serve, port)
        try:
            for agents in args.agents:
                backend.results[serve.name, agents] = measure_one(server, port, tokens[:agents], args, db_pids)
                report(backend, serve, agents, args)
        finally:
            stop_server(server)
    redis_cleanup(backend.env)
    audit = subprocess.run([PYTHON, "manage.py", "audit_verify"], cwd=ROOT, env=backend.env, capture_output=True, text=True)
    backend.audit = (audit.returncode, ((audit.stdout + audit.stderr).strip().splitlines() or [""])[-1])


def measure_one(server: subprocess.Popen, port: int, tokens: list[str], args, db_pids=None) -> dict:
    baseline, decide = makers(tokens, port, f"r{time.time_ns()}")
    wait_ready(port, baseline(), server)
    cpu = Cpu(server.pid, db_pids)
    # Warm up: first requests compile the envelopes and fill the connection pools.
    for make in (baseline, decide):
        loadgen.run(loadgen.closed_loop(HOST, port, make, connections=args.connections, seconds=args.warmup))
    rounds = {"baseline": [], "decide": []}
    decisions: Counter = Counter()
    statuses = {"baseline": Counter(), "decide": Counter()}
    cpu_lines = {}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, make in (("baseline", baseline), ("decide", decide)):
            a = cpu.snap()
            r = loadgen.run(
                loadgen.closed_loop(HOST, port, make, connections=args.connections, seconds=args.seconds,
                                    keep_bodies=10**7 if name == "decide" else 0)
            )
            b = cpu.snap()
            cpu_lines[name] = Cpu.split(a, b, r.seconds)
            d = Cpu.delta(a, b)
            r.server_cpu = d["server"] + d["db"]
            rounds[name].append(r)
            statuses[name].update(r.statuses)
            for body in r.bodies:
                decisions[json.loads(body).get("decision", "error")] += 1
    fixed = {}
    for rate in args.rate:
        for name, make in (("decide", decide), ("baseline", baseline)):
            a = cpu.snap()
            fixed[rate, name] = loadgen.run(loadgen.open_loop(HOST, port, make, rate=rate, seconds=args.seconds))
            cpu_lines[rate, name] = Cpu.split(a, cpu.snap(), fixed[rate, name].seconds)
            statuses[name].update(fixed[rate, name].statuses)
    return {
        "rounds": rounds, "fixed": fixed, "rates": tuple(args.rate), "decisions": decisions,
        "statuses": statuses, "cpu": cpu_lines, "load": (load, os.getloadavg()[0]),
    }


def summary(r: dict) -> dict:
    """The figures of one (configuration, agents) run."""
    # Answers with status 200 only: a server that sheds load (503 deny when its database pool
    # stays empty, 500s) must not look faster or cheaper for it. The CPU of failed requests is
    # charged to the answered ones.
    thr = {name: [ok(x) / x.seconds for x in rs] for name, rs in r["rounds"].items()}
    per = {name: 1000 * sum(x.server_cpu for x in rs) / max(1, sum(ok(x) for x in rs)) for name, rs in r["rounds"].items()}
    p99 = {rate: r["fixed"][rate, "decide"].pct(0.99) for rate in r["rates"]}
    failed = {name: sum(x.completed - ok(x) for x in rs) for name, rs in r["rounds"].items()}
    return {
        "bare_rps": statistics.median(thr["baseline"]),
        "decide_rps": statistics.median(thr["decide"]),
        "throughput_ratio": statistics.median(d / b for d, b in zip(thr["decide"], thr["baseline"], strict=True)),
        "bare_cpu_ms": per["baseline"],
        "decide_cpu_ms": per["decide"],
        "cpu_ratio": per["decide"] / per["baseline"],
        "p99": p99,
        "bare_p99": {rate: r["fixed"][rate, "baseline"].pct(0.99) for rate in r["rates"]},
        "failed": failed,
    }


def ok(result) -> int:
    return result.statuses.get(200, 0)


def report(backend: Backend, serve: Serve, agents: int, args) -> None:
    r = backend.results[serve.name, agents]
    thr = {name: [ok(x) / x.seconds for x in rs] for name, rs in r["rounds"].items()}
    lat = {name: [v for x in rs for v in x.latencies] for name, rs in r["rounds"].items()}
    ratios = [d / b for d, b in zip(thr["decide"], thr["baseline"], strict=True)]
    if agents > 1:
        who = f"{agents} agents, requests spread evenly"
    elif backend.name == "sqlite":
        who = "1 agent (SQLite has one writer at a time anyway)"
    else:
        who = "1 agent: its decisions queue on its row lock"
    print(f"\n== {backend.label} — {serve.name}: {serve.what} — {who}")
    print(f"load average (1 min) at start / end: {r['load'][0]:.2f} / {r['load'][1]:.2f}")
    print(
        f"closed loop: {args.connections} connections, {args.rounds} rounds × {args.seconds:g} s per endpoint, "
        "alternating (baseline, decide)"
    )
    print(f"  {'endpoint':<9} {'200s/s per round':<32} {'median':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name in ("baseline", "decide"):
        rounds = " ".join(f"{x:7.0f}" for x in thr[name])
        p50 = statistics.median(lat[name])
        p99 = sorted(lat[name])[int(0.99 * len(lat[name]))]
        print(f"  {name:<9} {rounds:<32} {statistics.median(thr[name]):>8.0f} {p50:>8.2f} {p99:>8.2f}")
    sm = summary(r)
    print(f"  throughput decide/baseline: {sm['throughput_ratio']:.1%} (per round: {', '.join(f'{x:.0%}' for x in ratios)}); "
          f"decide {sm['decide_rps']:.0f}/s — {'meets' if sm['decide_rps'] >= 300 else 'MISSES'} the ≥ 300/s target")
    # Throughput depends on how much CPU the server got from the other tenants; CPU per
    # request does much less.
    print(
        f"  CPU per request (server + its database backends): baseline {sm['bare_cpu_ms']:.2f} ms, "
        f"decide {sm['decide_cpu_ms']:.2f} ms; decide/baseline {sm['cpu_ratio']:.2f}× — "
        f"{'meets' if sm['cpu_ratio'] <= 1.7 else 'MISSES'} the ≤ 1.7× target"
    )
    print(f"  {r['cpu']['baseline']}   [baseline, last round]")
    print(f"  {r['cpu']['decide']}   [decide, last round]")
    for rate in r["rates"]:
        print(f"fixed rate: {rate:g} requests/s for {args.seconds:g} s, open loop, latency from the scheduled start")
        print(f"  {'endpoint':<9} {'achieved/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name in ("baseline", "decide"):
            f = r["fixed"][rate, name]
            print(
                f"  {name:<9} {f.rate:>10.0f} {f.pct(0.5):>8.2f} {f.pct(0.9):>8.2f} {f.pct(0.99):>8.2f} {max(f.latencies):>8.2f}"
            )
        f = r["fixed"][rate, "decide"]
        if f.rate < 0.95 * rate:
            print(f"  decide cannot keep up with {rate:g}/s here: the latencies above are mostly queueing")
        if rate == 150:
            p99 = f.pct(0.99)
            print(f"  decide p99 {p99:.2f} ms at {rate:g}/s — {'meets' if p99 <= 25 else 'MISSES'} the ≤ 25 ms target")
        print(f"  {r['cpu'][rate, 'decide']}   [decide at {rate:g}/s]")
    total = sum(r["decisions"].values())
    mix = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(r["decisions"].items()))
    print(f"decide answers (closed loop): {mix} of {total}")
    bad = {name: {s: n for s, n in c.items() if s != 200} for name, c in r["statuses"].items()}
    print(f"non-200 responses: {bad['baseline'] or 'none'} baseline, {bad['decide'] or 'none'} decide")


def table(backends: list[Backend], serves: list[Serve], args) -> None:
    rates = "/".join(f"{x:g}" for x in args.rate)
    print(f"\n| database | serve | agents | bare req/s | decide req/s | throughput ratio | CPU ms bare / decide | "
          f"CPU ratio | decide p99 ms at {rates}/s | non-200 closed loop bare / decide | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for backend in backends:
        for serve in serves:
            for agents in args.agents:
                r = backend.results[serve.name, agents]
                sm = summary(r)
                p99 = " / ".join(f"{sm['p99'][x]:.1f}" for x in args.rate)
                print(f"| {backend.name} | {serve.name} | {agents} | {sm['bare_rps']:.0f} | {sm['decide_rps']:.0f} | "
                      f"{sm['throughput_ratio']:.0%} | {sm['bare_cpu_ms']:.2f} / {sm['decide_cpu_ms']:.2f} | "
                      f"{sm['cpu_ratio']:.2f}× | {p99} | {sm['failed']['baseline']} / {sm['failed']['decide']} | "
                      f"{r['load'][0]:.1f}–{r['load'][1]:.1f} |")


def result_line(backends: list[Backend], serves: list[Serve], args) -> str:
    """One machine-readable line: the recommended configuration when measured (else the
    first), PostgreSQL when measured, the largest agent count."""
    backend = next((b for b in backends if b.name == "postgres"), backends[0])
    serve = next((s for s in serves if s.name == RECOMMENDED), serves[0])
    agents = max(args.agents)
    sm = summary(backend.results[serve.name, agents])
    p99 = " ".join(f"decide_p99_ms_at_{x:g}={sm['p99'][x]:.2f}" for x in args.rate)
    return (
        f"RESULT decide_http cpu_ratio={sm['cpu_ratio']:.3f} throughput_ratio={sm['throughput_ratio']:.3f} "
        f"serve={serve.name} db={backend.name} agents={agents} decide_rps={sm['decide_rps']:.0f} "
        f"bare_rps={sm['bare_rps']:.0f} decide_cpu_ms={sm['decide_cpu_ms']:.3f} bare_cpu_ms={sm['bare_cpu_ms']:.3f} "
        f"{p99} load_avg={os.getloadavg()[0]:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("AIRLOCK_BENCH_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=4, help="alternating throughput rounds")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections")
    parser.add_argument("--rate", default="150,300", help="fixed rates, requests/s, comma-separated")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--agents", default="1,8", help="agent counts to run, e.g. 1,8")
    parser.add_argument(
        "--serve", default=RECOMMENDED,
        help=f"serving configurations, comma-separated, or 'all': {', '.join(SERVES)} "
        f"(default {RECOMMENDED}, what `make serve` runs)",
    )
    args = parser.parse_args()
    args.agents = [int(x) for x in args.agents.split(",")]
    args.rate = [float(x) for x in args.rate.split(",")]
    names = list(SERVES) if args.serve == "all" else args.serve.split(",")
    unknown = [n for n in names if n not in SERVES]
    if unknown:
        parser.error(f"unknown --serve {', '.join(unknown)}; choose from {', '.join(SERVES)} or all")
    serves = [SERVES[n] for n in names]

    backends = []
    if args.db in ("postgres", "both"):
        pg = postgres_backend(args.postgres_url)
        if pg is not None:
            backends.append(pg)
    if args.db in ("sqlite", "both"):
        backends.append(sqlite_backend())
    if not backends:
        print("no database to benchmark", file=sys.stderr)
        return 1
    print(f"decide over HTTP vs a bare endpoint on {HOST}, load generator in this process; "
          f"serving configurations: {', '.join(names)}")
    print(
        f"machine: {os.cpu_count()} CPUs shared by server, database and load generator; "
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"request mix: {len(HTTP_MIX)} bodies cycled (allow ×3, escalate, deny, no-match), fresh idempotency_key each")
    for backend in backends:
        measure(backend, serves, args)
        code, last = backend.audit
        print(f"audit_verify after the {backend.name} runs: exit {code}, {last}")
    table(backends, serves, args)
    print(result_line(backends, serves, args))
    return 0 if all(b.audit[0] == 0 for b in backends) else 1


if __name__ == "__main__":
    raise SystemExit(main())
