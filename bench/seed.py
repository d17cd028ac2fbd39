"""Seed a benchmark database: the ops-bot agent, the 20-capability envelope and a month of
history as DecisionRequest rows, for --agents agents (ops-bot, ops-bot-2, ...). Prints
their tokens on stdout, one per line.

    DATABASE_URL=... .venv/bin/python -m bench.seed [--agents N] [--background N]

Run by bench/decide_http.py against a database it created and migrated; never point it at
a database you care about.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")

import django  # noqa: E402

django.setup()

import yaml  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.envelope20 import AGENT, airlock_document  # noqa: E402
from bench.history import build_history  # noqa: E402
from governance.canonical import action_digest  # noqa: E402
from governance.models import Agent, DecisionRequest  # noqa: E402
from governance.services import agent_create, envelope_apply  # noqa: E402

DECISION = {"allowed": "allow", "approved": "escalate", "pending": "escalate", "denied": "deny", "expired": "escalate"}


def http_document(scale: int, name: str = AGENT) -> dict:
    """The benchmark envelope with velocity and cumulative limits and the circuit breaker's
    threshold raised `scale` times, so the thousands of requests a run adds (a quarter of
    them violations) do not turn its allows into escalations half-way. The queries behind
    those checks still run, over ever more rows."""
    document = {**airlock_document(), "agent": name}
    document["breaker"] = {**document["breaker"], "violations": document["breaker"]["violations"] * scale}
    for cap in document["capabilities"]:
        for key in ("velocity", "cumulative"):
            if key in cap:
                cap[key] = {**cap[key], "max": cap[key]["max"] * scale}
    return document


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--background", type=int, default=5000, help="history rows older than a day")
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--scale", type=int, default=1000, help="multiply velocity/cumulative limits")
    args = parser.parse_args()

    tokens = []
    agent_create(name="other-bot")
    for i in range(args.agents):
        name = AGENT if i == 0 else f"{AGENT}-{i + 1}"
        _agent, token = agent_create(name=name)
        tokens.append(token)
        envelope_apply(source=yaml.safe_dump(http_document(args.scale, name), sort_keys=False), comment="benchmark")
    agents = {a.name: a for a in Agent.objects.all()}
    rows = []
    for i in range(args.agents):
        name = AGENT if i == 0 else f"{AGENT}-{i + 1}"
        for r in build_history(name, timezone.now(), background=args.background, seed=7 + i):
            rows.append(
                DecisionRequest(
                    agent=agents[r.agent],
                    action=r.action,
                    resource=r.resource,
                    params=r.params,
                    context=r.context,
                    session=r.context.get("session", ""),
                    digest=action_digest(r.action, r.resource, r.params),
                    decision=DECISION[r.status],
                    status=r.status,
                    created_at=r.at,
                )
            )
    DecisionRequest.objects.bulk_create(rows, batch_size=2000)
    print(f"seeded {args.agents} agents and {len(rows)} history rows", file=sys.stderr)
    print("\n".join(tokens))

if __name__ == "__main__":
    main()
