"""What an escalation costs over an allow, in-process (no HTTP server): decides through Django's
test client and the full middleware/DRF/decide stack, CPU per request (process time, so the
live-push thread counts), allow and escalate interleaved, before and after the transactional
outbox (AIRLOCK_OUTBOX=off, the receivers run in the request at commit, i.e. main's
behaviour, vs relay, the request writes one outbox row), in the same run.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/airlock_bench_escalate] [REDIS_URL=redis://127.0.0.1:6379/0] \\
        .venv/bin/python bench/escalate_cost.py [--n 150] [--ttl 10s]

Without DATABASE_URL it creates and uses `airlock_bench_escalate` on 127.0.0.1; without
REDIS_URL, the machine's Redis (or an embedded one).

--ttl 10s (under AIRLOCK_CELERY_MAX_ETA) makes the before path send the expiry's ETA task at
open, as an escalation near its deadline does. No relay runs here: the rows it would deliver
are deleted at the end, as are the agent's requests' queue messages. Prints the p50s and SQL
statements per decide, and ends with
`RESULT escalate_cost escalate_minus_allow_cpu_ms=<after> before_ms=<before> ...`.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, redis_url  # noqa: E402

# Its own database unless told otherwise (`make bench` runs it as it is); the machine's Redis.
os.environ.setdefault("REDIS_URL", redis_url())
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/airlock_bench_escalate")
if os.environ["DATABASE_URL"].startswith("postgres"):
    ensure_database(os.environ["DATABASE_URL"], fresh=False)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("AIRLOCK_CELERY_QUEUE", f"airlock-bench-escalate-{os.getpid()}")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from governance.models import OutboxEvent  # noqa: E402
from governance.services import agent_create, envelope_apply  # noqa: E402

ENVELOPE = ROOT / "examples" / "envelopes" / "procurement-bot.yaml"
ALLOW = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5, "currency": "USD"},
         "context": {"reasoning": "pens", "confidence": 0.9, "input_source": "user"}}
ESCALATE = {**ALLOW, "params": {"amount": 20000, "currency": "USD"}}
MODES = ("off", "relay")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=150, help="decides of each kind in each mode (>= 100)")
    parser.add_argument("--ttl", default="10s", help="the escalation's TTL (10s: the expiry ETA task is sent at open)")
    args = parser.parse_args()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    call_command("migrate", verbosity=0)
    first_row = OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    name = f"escalate-bench-{os.getpid()}"
    source = (ENVELOPE.read_text().replace("agent: procurement-bot", f"agent: {name}", 1)
              .replace("escalation_ttl: 15m", f"escalation_ttl: {args.ttl}")
              # so that neither limit turns the allows into escalations during the run
              .replace("velocity: {max: 100,", "velocity: {max: 1000000,")
              .replace("max: 50000, per: 24h", "max: 1000000000, per: 24h"))
    agent, token = agent_create(name=name)
    envelope_apply(source=source)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    seq = iter(range(10**9))

    def decide(body: dict, expected: str) -> float:
        payload = json.dumps({**body, "idempotency_key": f"{name}-{next(seq)}"})
        cpu0 = time.process_time()
        response = client.post("/api/v1/decide", payload, content_type="application/json")
        cpu = time.process_time() - cpu0
        assert response.status_code == 200 and response.json()["decision"] == expected, response.content
        return cpu * 1000

    kinds = (("allow", ALLOW, "allow"), ("escalate", ESCALATE, "escalate"))
    statements = {}
    for mode in MODES:  # warm-up, and statements per decide
        settings.AIRLOCK_OUTBOX = mode
        for _ in range(10):
            for _kind, body, expected in kinds:
                decide(body, expected)
        for kind, body, expected in kinds:
            with CaptureQueriesContext(connection) as queries:
                decide(body, expected)
            statements[mode, kind] = len(queries)

    samples: dict[tuple[str, str], list[float]] = {(m, k): [] for m in MODES for k, _b, _e in kinds}
    for i in range(args.n):
        order = MODES if i % 2 == 0 else MODES[::-1]
        for mode in order:
            settings.AIRLOCK_OUTBOX = mode
            for kind, body, expected in (kinds if i % 2 == 0 else kinds[::-1]):
                samples[mode, kind].append(decide(body, expected))

    p50 = {key: statistics.median(values) for key, values in samples.items()}
    load = os.getloadavg()
    print(f"{args.n} decides of each kind per mode, interleaved; ttl {args.ttl}; {connection.vendor}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for mode in MODES:
        print(f"  outbox={mode:<5}  allow p50 {p50[mode, 'allow']:6.2f} ms CPU ({statements[mode, 'allow']} SQL)   "
              f"escalate p50 {p50[mode, 'escalate']:6.2f} ms CPU ({statements[mode, 'escalate']} SQL)   "
              f"escalate - allow {p50[mode, 'escalate'] - p50[mode, 'allow']:5.2f} ms")
    before = p50["off", "escalate"] - p50["off", "allow"]
    after = p50["relay", "escalate"] - p50["relay", "allow"]

    # No relay ran: drop this run's rows, and the before path's ETA tasks nobody consumes.
    OutboxEvent.objects.filter(pk__gt=first_row).delete()
    from airlock.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    print(
        f"RESULT escalate_cost escalate_minus_allow_cpu_ms={after:.2f} before_ms={before:.2f} "
        f"allow_ms={p50['relay', 'allow']:.2f} escalate_ms={p50['relay', 'escalate']:.2f} "
        f"sql_allow={statements['relay', 'allow']} sql_escalate={statements['relay', 'escalate']} "
        f"sql_escalate_before={statements['off', 'escalate']} n={args.n} db={connection.vendor} load={load[0]:.2f}"
    )


if __name__ == "__main__":
    main()
