"""What a shadow envelope costs a decision (issue 15): decide() in one process, three agents
with the same active envelope, interleaved in rounds on one database:

- `none`: no shadow (the baseline, measured in the same run);
- `ident`: a shadow that answers like the active version (no difference is written): the
  cost of the second evaluation alone;
- `same`: a shadow with other thresholds but the same stateful questions; a fifth of the
  requests get a different answer, so a difference row is written for them;
- `other`: a shadow with a different velocity window and cumulative period (questions the
  active version did not ask: the state answers them, one more round trip).

Prints µs per decide (wall and CPU), SQL statements per decide, engine evaluations per
decide and the ratios to `none`, and ends with a RESULT line. On a fresh test database
(SQLite in memory by default; PostgreSQL with DATABASE_URL=postgres://...).

    .venv/bin/python bench/shadow_overhead.py [--rounds 6 --per-round 200]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

import governance.policy.engine as engine  # noqa: E402
from governance.decide import DecideInput, decide  # noqa: E402
from governance.services import agent_create, envelope_apply  # noqa: E402
from governance.shadow import shadow_apply  # noqa: E402

# Limits high enough that every order is a routine allow for the active version: the bench
# measures evaluation, not escalations (which would open queue items and notify).
ACTIVE = """\
agent: procurement-bot
default: deny
approvers: [finance]
capabilities:
  - action: purchase_order.create
    resources: ["vendor:*"]
    deny_when: ["params.amount > 100000"]
    escalate_when: ["params.amount > 10000"]
    velocity: {max: 1000000, per: 10m, over: escalate}
    cumulative: {param: amount, max: 1000000000, per: 24h, over: escalate}
  - action: catalogue.*
"""
IDENT = ACTIVE.replace("default: deny", "default: deny\ndescription: the same rules")
SAME = ACTIVE.replace('"params.amount > 10000"', '"params.amount > 8000"')
OTHER = ACTIVE.replace("per: 10m", "per: 15m").replace("per: 24h", "per: 12h")
VENDORS = ("vendor:staples", "vendor:acme-office", "vendor:globex")


def request(i: int) -> DecideInput:
    if i % 4 == 3:
        return DecideInput(action="catalogue.search", resource="catalogue:office", params={"q": "chairs"},
                           context={"confidence": 0.9, "input_source": "config"})
    # Amounts 100..9,900: a fifth fall between 8,000 and 10,000 (the `same` shadow escalates).
    amount = 100 + (i * 37 % 50) * 200
    return DecideInput(action="purchase_order.create", resource=VENDORS[i % 3], params={"amount": amount, "currency": "USD"},
                       context={"confidence": 0.9, "input_source": "config"})


def setup_agents() -> dict:
    agents = {}
    for name, shadow in (("none", None), ("ident", IDENT), ("same", SAME), ("other", OTHER)):
        agent, _token = agent_create(name=f"bench-{name}")
        envelope_apply(source=ACTIVE.replace("agent: procurement-bot", f"agent: bench-{name}", 1))
        if shadow:
            shadow_apply(source=shadow.replace("agent: procurement-bot", f"agent: bench-{name}", 1))
        agent.refresh_from_db()
        agents[name] = agent
    return agents


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=200)
    args = parser.parse_args()
    # A database of the bench's own: never the test database of this checkout (a pytest
    # session may be using it; create_test_db would clobber it).
    connection.settings_dict.setdefault("TEST", {})["NAME"] = (
        None if connection.vendor == "sqlite" else f"bench_shadow_{os.getpid()}"  # None: SQLite in memory
    )
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(args) -> None:
    agents = setup_agents()
    # Warm-up: compiled envelopes, last_seen_at, the first-request paths.
    for agent in agents.values():
        for i in range(20):
            decide(agent=agent, data=request(i))
    wall = {name: [] for name in agents}
    cpu = {name: [] for name in agents}
    counter = 1000
    for _round in range(args.rounds):
        for name, agent in agents.items():
            w0, c0 = time.perf_counter(), time.process_time()
            for i in range(args.per_round):
                decide(agent=agent, data=request(counter + i))
            wall[name].append((time.perf_counter() - w0) / args.per_round * 1e6)
            cpu[name].append((time.process_time() - c0) / args.per_round * 1e6)
        counter += args.per_round
    sql, reads, evaluations = {}, {}, {}
    for name, agent in agents.items():
        with CaptureQueriesContext(connection) as queries, mock.patch.object(engine, "_evaluate", wraps=engine._evaluate) as ev:
            for i in range(100):
                decide(agent=agent, data=request(50_000 + i))
        sql[name], evaluations[name] = len(queries) / 100, ev.call_count / 100
        # Reads only: the state's questions (and the agent row, the audit chain head).
        reads[name] = sum(1 for q in queries if q["sql"].lstrip().upper().startswith("SELECT")) / 100
    med = {name: statistics.median(wall[name]) for name in agents}
    med_cpu = {name: statistics.median(cpu[name]) for name in agents}
    print(f"database: {connection.vendor}; {args.rounds} rounds × {args.per_round} decides per agent, interleaved")
    print(f"{'shadow':<8}{'wall µs':>10}{'CPU µs':>10}{'ratio':>8}{'SQL/decide':>12}{'SELECT/decide':>15}{'evals/decide':>14}")
    for name in agents:
        print(f"{name:<8}{med[name]:>10.0f}{med_cpu[name]:>10.0f}{med[name] / med['none']:>8.2f}{sql[name]:>12.2f}"
              f"{reads[name]:>15.2f}{evaluations[name]:>14.2f}")
    print("RESULT shadow_overhead " + " ".join([
        f"db={connection.vendor}",
        f"none_us={med['none']:.0f}",
        f"ident_us={med['ident']:.0f}",
        f"same_us={med['same']:.0f}",
        f"other_us={med['other']:.0f}",
        f"ident_ratio={med['ident'] / med['none']:.3f}",
        f"same_ratio={med['same'] / med['none']:.3f}",
        f"other_ratio={med['other'] / med['none']:.3f}",
        f"sql_none={sql['none']:.2f}",
        f"sql_same={sql['same']:.2f}",
        f"sql_other={sql['other']:.2f}",
        f"select_none={reads['none']:.2f}",
        f"select_same={reads['same']:.2f}",
        f"select_other={reads['other']:.2f}",
        f"evals_none={evaluations['none']:.2f}",
        f"evals_same={evaluations['same']:.2f}",
        f"cpu_ratio_ident={med_cpu['ident'] / med_cpu['none']:.3f}",
        f"cpu_ratio_same={med_cpu['same'] / med_cpu['none']:.3f}",
        f"sql_ident={sql['ident']:.2f}",
    ]))


if __name__ == "__main__":
    main()
