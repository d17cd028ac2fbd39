"""Slack fixtures: a fake Slack Web API on 127.0.0.1, Airlock configured to use it, and the
named actors (alice and bob in finance, charlie in no approver group, dora linked only by
email)."""

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test import Client

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0AIRLOCK"
CHANNEL_ID = "C0APPROVALS"
BIG_ORDER = {
    "action": "purchase_order.create",
    "resource": "vendor:staples",
    "params": {"amount": 47000, "currency": "USD"},
    "context": {"reasoning": "office chairs for the new floor", "input_source": "user", "confidence": 0.9},
}


@pytest.fixture
def people(db):
    """alice, bob: finance approvers linked by Slack id; charlie: linked but in no approver
    group; dora: finance, linked only by email."""
    call_command("approver_add", "alice", "--group", "finance", "--email", "alice@example.com", "--slack-id", "U0ALICE")
    call_command("approver_add", "bob", "--group", "finance", "--email", "bob@example.com", "--slack-id", "U0BOB")
    call_command("approver_add", "charlie", "--group", "marketing", "--email", "charlie@example.com", "--slack-id", "U0CHARLIE")
    call_command("approver_add", "dora", "--group", "finance", "--email", "dora@example.com")
    from django.contrib.auth import get_user_model

    return {u.username: u for u in get_user_model().objects.all()}


def escalate(agent_client, body: dict | None = None) -> str:
    """Ask for the big order; returns the request id of the escalation."""
    response = agent_client.decide(body or BIG_ORDER)
    assert response.status_code == 200, response.content
    assert response.json()["decision"] == "escalate", response.json()
    return response.json()["id"]


def click_payload(request_id: str, slack_user: str, choice: str = "approve", *, ts: str = "1.000001") -> dict:
    """The block_actions payload Slack sends when a button in our message is pressed."""
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "airlock-test"},
        "user": {"id": slack_user, "username": slack_user.lower(), "team_id": TEAM},
        "api_app_id": "A0AIRLOCK",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL_ID, "is_ephemeral": False},
        "channel": {"id": CHANNEL_ID, "name": "approvals"},
        "trigger_id": "1.2.3",
        "response_url": "https://hooks.slack.com/actions/T0AIRLOCK/1/abc",
        "actions": [{
            "type": "button",
            "action_id": f"airlock_{choice}",
            "block_id": "airlock_decision",
            "value": request_id,
            "action_ts": str(time.time()),
        }],
    }


def sign(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    """Slack's v0 signing, computed independently of slack-sdk."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts, "HTTP_X_SLACK_SIGNATURE": f"v0={digest}"}


def post_interaction(payload: dict, *, client: Client | None = None, headers: dict | None = None, body: str | None = None):
    body = body if body is not None else urlencode({"payload": json.dumps(payload)})
    return (client or Client()).post(
        "/slack/interactions/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        **(headers if headers is not None else sign(body)),
    )


def texts(blocks: list, *, mrkdwn_only: bool = False) -> str:
    """All text in a message's blocks, for assertions."""
    out = []
    for block in blocks:
        if "text" in block and not (mrkdwn_only and block["text"]["type"] == "plain_text"):
            out.append(block["text"]["text"])
        out.extend(f["text"] for f in block.get("fields", []))
        out.extend(e.get("text", "") if isinstance(e.get("text"), str) else e.get("text", {}).get("text", "")
                   for e in block.get("elements", []))
    return "\n".join(out)


def buttons(blocks: list) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
