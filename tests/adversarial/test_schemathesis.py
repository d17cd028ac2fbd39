"""The permanent adversarial suite (issue 9, point 13): schemathesis against the live schema.

A real uvicorn server (the production ASGI stack, body limits and long-poll front included)
serves the test database; schemathesis reads /api/v1/schema/ from it and generates requests
for every operation, valid (positive) and schema-violating (negative), mostly with a valid
agent token so the engine runs, some with an unknown token or none. Every answer must hold:

- no 5xx, and JSON (never text/plain) under /api/;
- no allow from rejected input: a negative case is never allowed, and neither is any non-200;
- no state change on a 4xx: request rows and audit events are counted before and after
  each call (the one exception is 409 idempotency_conflict, audited by design: +1 event);
- the schema served is the one the server enforces (params/context never null).

CI's PostgreSQL pass generates AIRLOCK_FUZZ_EXAMPLES in all (default 2,000, asserted); the
SQLite pass runs a smoke count (the same checks, a twentieth of the requests).
"""

import json
import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from governance.models import AuditEvent, DecisionRequest
from tests.approvals.asgi_server import asgi_server
from tests.conftest import is_postgres

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_url")]

# Anything is allowed: then any schema-violating body the server wrongly accepted would show
# up as an allow, and the engine runs on every valid one.
OPEN_ENVELOPE = """
agent: fuzz-bot
default: deny
approvers: [finance]
capabilities:
  - name: everything
    action: "*"
    resources: ["*"]
"""
INPUT = (ParameterLocation.BODY, ParameterLocation.QUERY, ParameterLocation.PATH)
FULL = int(os.environ.get("AIRLOCK_FUZZ_EXAMPLES", "2000"))
# Share of the examples per operation (decide gets most: it is the engine's door).
WEIGHTS = {"POST /api/v1/decide": 0.4, "POST /api/v1/verify": 0.18, "GET /api/v1/requests/{request_id}": 0.12,
           "POST /api/v1/requests/{request_id}/outcome": 0.05,
           "POST /api/v1/escalations/{request_id}/approve": 0.07,
           "POST /api/v1/escalations/{request_id}/deny": 0.07,
           "POST /api/v1/escalations/{request_id}/extend": 0.06,
           "POST /api/v1/escalations/batch": 0.05}


def state() -> tuple[int, int]:
    return DecisionRequest.objects.count(), AuditEvent.objects.count()


def test_generated_requests_never_allow_bad_input_fail_or_change_state(make_agent):
    bot = make_agent("fuzz-bot", OPEN_ENVELOPE)
    total = FULL if is_postgres() else max(FULL // 20, 50)
    tokens = {"valid": bot.token, "unknown": "alk_0123456789ab_" + "x" * 43, "none": None}
    calls, accepted_negative, problems = Counter(), Counter(), []
    timing = Counter()
    began = time.monotonic()

    with asgi_server() as base:
        schema = schemathesis.openapi.from_url(f"{base}/api/v1/schema/")
        session = requests.Session()
        operations = {op.label: op for op in (result.ok() for result in schema.get_all_operations())}
        assert set(operations) == set(WEIGHTS), sorted(operations)

        def check(case, who: str, mode: GenerationMode) -> None:
            headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] else {}
            before = state()
            started = time.monotonic()
            response = case.call(base_url=base, headers=headers, timeout=30, session=session)
            timing["call"] += time.monotonic() - started
            after = state()
            calls[(case.operation.label, mode.value, response.status_code)] += 1
            where = f"{case.operation.label} [{mode.value}, {who} token] {case.body!r} {case.query!r}"
            kind = (response.headers.get("content-type") or [""])[0]
            text = response.content.decode("utf-8", "replace")
            if response.status_code >= 500 and response.status_code != 503:
                problems.append(f"{response.status_code} for {where}: {text[:200]}")
            if response.status_code == 503:
                problems.append(f"503 (could not evaluate) for {where}: {text[:200]}")
            if not kind.startswith("application/json"):
                problems.append(f"{kind!r} answer for {where}")
                return
            body = json.loads(response.content)
            # The token is ours to set: "negative" means the body, query or path broke the schema.
            rejected = case.meta is not None and any(case.meta.is_negative_at(place) for place in INPUT)
            if rejected and response.status_code < 300:
                accepted_negative[case.operation.label] += 1
            if isinstance(body, dict) and body.get("decision") == "allow":
                if rejected or response.status_code != 200 or who != "valid":
                    problems.append(f"ALLOW from rejected input: {where} → {response.status_code}")
            if 400 <= response.status_code < 500:
                code = body.get("error", {}).get("code") if isinstance(body, dict) else None
                expected = (before[0], before[1] + 1) if code == "idempotency_conflict" else before
                if after != expected:
                    problems.append(f"state changed on {response.status_code} {code}: {before} → {after} for {where}")

        def fuzz(operation, mode: GenerationMode, examples: int) -> None:
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode),
                   who=st.sampled_from(["valid"] * 8 + ["unknown", "none"]))
            def run(case, who):
                check(case, who, mode)

            run()

        for label, operation in operations.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, max(int(total * WEIGHTS[label] / 2), 5))

    made = sum(calls.values())
    print(f"{time.monotonic() - began:.1f}s in all, {timing['call']:.1f}s in calls")
    summary = "\n".join(f"{op} {mode} {status}: {n}" for (op, mode, status), n in sorted(calls.items()))
    print(f"{made} generated requests\n{summary}\nschema-violating input answered 2xx: {dict(accepted_negative)}")
    assert not problems, f"{len(problems)} problems in {made} requests:\n" + "\n".join(problems[:30])
    assert made >= total * 0.95, f"only {made} requests generated, wanted {total}"
    allows = DecisionRequest.objects.filter(decision="allow").count()
    assert allows > 0, "no valid request was allowed: the suite never reached the engine's allow path"
