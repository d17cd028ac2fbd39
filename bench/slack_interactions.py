"""How long Slack waits for Airlock: POST /slack/interactions/ end to end, in process.

Slack gives an interactivity endpoint 3 seconds. Each timed click runs the whole path —
signature check, payload parse, Slack id -> person, approval_decide (one transaction with its
audit events), and after-commit enqueueing of the Slack tasks to Redis — but never a Slack API
call (those run in the worker). Baselines in the same run: the approver API doing the same
vote (POST /api/v1/escalations/{id}/approve with a personal token), and a forged click
(signature check only, 401).

    .venv/bin/python bench/slack_interactions.py [N]

Uses a throwaway SQLite database (or DATABASE_URL) and REDIS_URL or an embedded redis-server.
"""

import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRLOCK_VAR_DIR", tempfile.mkdtemp(prefix="airlock-bench-slack-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="airlock.settings",
    SLACK_BOT_TOKEN="xoxb-bench",
    SLACK_SIGNING_SECRET="bench-signing-secret",
    SLACK_CHANNEL="#bench",
    SLACK_API_URL="http://127.0.0.1:9/api/",  # never reached: no worker consumes the tasks
    LOG_LEVEL="WARNING",
    ALLOWED_HOSTS="testserver",
)
import django  # noqa: E402

import tests.embedded_services  # noqa: E402,F401  (REDIS_URL: given, or an embedded redis-server)

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from airlock.celery import app as celery_app  # noqa: E402
from approvals.tokens import personal_token_create  # noqa: E402
from governance.decide import DecideInput, decide  # noqa: E402
from governance.services import agent_create, envelope_apply  # noqa: E402

SECRET = os.environ["SLACK_SIGNING_SECRET"]
ENVELOPE = """
agent: bench-bot
approvers: [finance]
capabilities:
  - action: purchase_order.create
    escalate_when: ["params.amount > 10000"]
"""


def signed(body: str, secret: str = SECRET) -> dict:
    ts = str(int(time.time()))
    sig = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts, "HTTP_X_SLACK_SIGNATURE": f"v0={sig}"}


def click_body(request_id: str) -> str:
    payload = {
        "type": "block_actions", "user": {"id": "U0ALICE"}, "team": {"id": "T0BENCH"},
        "channel": {"id": "C0BENCH"}, "container": {"message_ts": "1.1"},
        "actions": [{"action_id": "airlock_approve", "value": request_id}],
    }
    return urlencode({"payload": json.dumps(payload)})


def summary(name: str, samples: list[float]) -> float:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    median = statistics.median(ms)
    print(f"{name:<34} n={len(ms):<4} median {median:6.2f} ms   p95 {p95:6.2f} ms   max {ms[-1]:6.2f} ms")
    return median


def main(n: int) -> None:
    import logging

    for name in ("airlock.slack", "django.request"):  # 200 expected 401 warnings
        logging.getLogger(name).setLevel(logging.ERROR)
    call_command("migrate", verbosity=0)
    agent, _ = agent_create(name=f"bench-bot-{os.getpid()}")
    envelope_apply(source=ENVELOPE.replace("bench-bot", agent.name))
    agent.refresh_from_db()
    call_command("approver_add", "alice", "--group", "finance", "--slack-id", "U0ALICE", stdout=open(os.devnull, "w"))
    from django.contrib.auth import get_user_model

    token = personal_token_create(user=get_user_model().objects.get(username="alice"))
    ids = [str(decide(agent=agent, data=DecideInput(action="purchase_order.create", params={"amount": 20000}))[0].id)
           for _ in range(2 * n + 10)]
    client = Client()
    for request_id in ids[-10:]:  # warm-up: imports, connections, template of the code paths
        client.post("/slack/interactions/", click_body(request_id), content_type="application/x-www-form-urlencoded",
                    **signed(click_body(request_id)))

    slack, api, forged = [], [], []
    for i in range(n):
        body = click_body(ids[i])
        headers = signed(body)
        start = time.perf_counter()
        response = client.post("/slack/interactions/", body, content_type="application/x-www-form-urlencoded", **headers)
        slack.append(time.perf_counter() - start)
        assert response.status_code == 200

        start = time.perf_counter()
        response = client.post(f"/api/v1/escalations/{ids[n + i]}/approve", "{}", content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}")
        api.append(time.perf_counter() - start)
        assert response.status_code == 200, response.content

        forged_headers = signed(body, secret="wrong")
        start = time.perf_counter()
        response = client.post("/slack/interactions/", body, content_type="application/x-www-form-urlencoded", **forged_headers)
        forged.append(time.perf_counter() - start)
        assert response.status_code == 401

    print(f"database: {django.db.connection.vendor}; Slack tasks enqueued to Redis, not run")
    s = summary("Slack click (approve, 200)", slack)
    a = summary("approver API approve (baseline)", api)
    summary("forged click (401)", forged)
    print(f"Slack click / approver API median: {s / a:.2f}x;  Slack's budget is 3000 ms")
    celery_app.control.purge()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
