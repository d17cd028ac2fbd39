"""Sequences are exact across agents under concurrency (issue 9, point 2): two agents completing
a chain at the same instant are detected every time. PostgreSQL only (each agent on its own
connection; SQLite serialises every writer).

The pricing bots' repricing-war chain (three price.update on one product within 15 minutes,
by any agent): after one update, pricing-bot-a and pricing-bot-b update the product at the same
instant. Whichever commits second has made the third update and must escalate. Decide locks
only its own agent, so without the sequence-key locks (governance/locks.py) neither saw the
other: the review missed 25/100; this test, before the locks, detected 0/100 (missed all).
"""

import threading

import pytest
from django.db import connection

from governance.decide import DecideInput, decide
from governance.models import DecisionRequest

pytestmark = pytest.mark.postgres

TRIALS = 100


def update(product: str) -> DecideInput:
    return DecideInput(action="price.update", resource=product,
                       params={"price": 99.0, "current_price": 100.0, "floor": 1.0})


def test_two_agents_completing_a_chain_at_the_same_instant_are_always_detected(postgres, make_agent):
    a = make_agent("pricing-bot-a", "pricing-bot-a.yaml")
    b = make_agent("pricing-bot-b", "pricing-bot-b.yaml")
    start, done = threading.Barrier(3), threading.Barrier(3)
    results: dict[tuple[int, str], set[str]] = {}
    errors: list[BaseException] = []

    def agent_loop(client) -> None:
        try:
            for trial in range(TRIALS):
                start.wait(60)
                row, _ = decide(agent=client.agent, data=update(f"product:trial-{trial}"))
                results[trial, client.agent.name] = {r["code"] for r in row.reasons}
                done.wait(60)
        except BaseException as exc:  # reported below; a broken barrier frees the others
            errors.append(exc)
            start.abort()
            done.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=agent_loop, args=(c,)) for c in (a, b)]
    for t in threads:
        t.start()
    for trial in range(TRIALS):
        decide(agent=a.agent, data=update(f"product:trial-{trial}"))  # the first step
        start.wait(60)
        done.wait(60)
    for t in threads:
        t.join(60)
    assert not errors, errors

    per_trial = [
        sum("sequence_complete" in results[trial, name] for name in ("pricing-bot-a", "pricing-bot-b"))
        for trial in range(TRIALS)
    ]
    detected = sum(1 for n in per_trial if n)
    assert detected == TRIALS, f"detected {detected}/{TRIALS}"
    # Exactly one of the two made the third update: the other made the second.
    assert per_trial == [1] * TRIALS
    assert DecisionRequest.objects.filter(action="price.update").count() == 3 * TRIALS
