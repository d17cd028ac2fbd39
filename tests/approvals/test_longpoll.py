"""GET /api/v1/requests/{id}?wait=N: long-poll (SPEC §4).

Transactional: the waiter reads in the long-poll thread pool, which must see committed rows.
"""

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, override_settings
from django.utils import timezone

from api.longpoll import parse_wait
from approvals.services import approval_decide
from governance.models import DecisionRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_url")]


def auth(client) -> dict:
    return {"Authorization": f"Bearer {client.token}"}


async def poll(client, rid, wait):
    started = time.monotonic()
    response = await AsyncClient().get(f"/api/v1/requests/{rid}", {"wait": wait}, headers=auth(client))
    return response, time.monotonic() - started


def decide_later(delay: float, **kwargs):
    async def run():
        await asyncio.sleep(delay)
        return await sync_to_async(approval_decide, thread_sensitive=False)(**kwargs)
    return run()


def test_a_waiter_returns_as_soon_as_the_request_is_approved(procurement, escalate, alice):
    rid = escalate()

    async def main():
        return await asyncio.gather(poll(procurement, rid, 30), decide_later(0.5, request_id=rid, user=alice,
                                                                             choice="approve", comment="ok"))

    (response, elapsed), outcome = asyncio.run(main())
    assert outcome.status == "approved"
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and body["decided_by"] == ["alice"] and body["comment"] == "ok"
    assert elapsed < 15, f"returned after {elapsed:.2f}s: on the end of the wait, not on the decision"


def test_a_waiter_sees_a_rejection(procurement, escalate, bob):
    rid = escalate()

    async def main():
        return await asyncio.gather(poll(procurement, rid, 30),
                                    decide_later(0.3, request_id=rid, user=bob, choice="deny"))

    (response, elapsed), _ = asyncio.run(main())
    assert response.json()["status"] == "rejected" and elapsed < 15


def test_the_wait_ends_with_pending(procurement, escalate):
    rid = escalate()
    response, elapsed = asyncio.run(poll(procurement, rid, 1))
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert elapsed >= 1


def test_the_deadline_ends_the_wait_as_expired_without_a_worker(procurement, escalate):
    rid = escalate()
    DecisionRequest.objects.filter(pk=rid).update(expires_at=timezone.now() + timedelta(seconds=1))
    response, elapsed = asyncio.run(poll(procurement, rid, 30))
    assert response.json()["status"] == "expired"
    assert 0.9 <= elapsed < 15
    assert DecisionRequest.objects.get(pk=rid).status == "pending"  # reported, not yet persisted


def test_a_decided_request_returns_at_once_with_the_same_json(procurement, escalate, alice):
    rid = escalate()
    approval_decide(request_id=rid, user=alice, choice="approve")
    waited, _ = asyncio.run(poll(procurement, rid, 30))
    plain = procurement.get(f"/api/v1/requests/{rid}")
    assert waited.json() == plain.json()
    assert waited["Content-Type"] == "application/json"


def test_wait_zero_reads_once(procurement, escalate):
    rid = escalate()
    response, _ = asyncio.run(poll(procurement, rid, 0))
    assert response.json()["status"] == "pending"


@pytest.mark.parametrize("wait", ["-1", "61", "abc", "1.5", "", "1e3", "0061"])
def test_bad_wait_values_are_400(procurement, escalate, wait):
    rid = escalate()
    response, _ = asyncio.run(poll(procurement, rid, wait))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_parse_wait():
    assert [parse_wait(v) for v in ("0", "60", " 7 ", "61", "-0", "x")] == [0, 60, 7, None, None, None]


def test_waiting_needs_the_agents_own_token(procurement, make_agent, escalate, alice):
    rid = escalate()
    other = make_agent("other-bot")

    async def main():
        client = AsyncClient()
        url = f"/api/v1/requests/{rid}"
        return (
            await client.get(url, {"wait": 5}),
            await client.get(url, {"wait": 5}, headers={"Authorization": "Bearer alk_000000000000_x"}),
            await client.get(url, {"wait": 5}, headers=auth(other)),
        )

    missing, bad, foreign = asyncio.run(main())
    assert (missing.status_code, bad.status_code, foreign.status_code) == (401, 401, 404)
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert foreign.json()["error"]["code"] == "not_found"


def test_waiters_poll_when_redis_is_unreachable(procurement, escalate, alice):
    rid = escalate()

    async def main():
        with override_settings(REDIS_URL="unix:///nonexistent/redis.sock"):
            return await asyncio.gather(poll(procurement, rid, 30),
                                        decide_later(0.3, request_id=rid, user=alice, choice="approve"))

    (response, elapsed), _ = asyncio.run(main())
    assert response.json()["status"] == "approved" and elapsed < 15


def test_the_schema_documents_wait(procurement):
    schema = procurement.client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/requests/{request_id}"]["get"]
    assert "wait" in [p["name"] for p in operation["parameters"]]
    assert {"200", "400", "401", "404"} <= set(operation["responses"])
