"""200 concurrent long-polls against a real ASGI server (uvicorn) neither starve other requests
nor hold a thread or DB connection each. Numbers: bench/longpoll.py."""

import asyncio
import functools
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from asgiref.sync import sync_to_async

from api import longpoll
from approvals.services import approval_decide
from tests.approvals.conftest import LARGE_ORDER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_url")]

WAITERS = 200
SMALL_ORDER = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5},
               "context": {"reasoning": "pens", "confidence": 0.95, "input_source": "user"}}


@pytest.fixture
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config("airlock.asgi:application", host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off", access_log=False)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield instance, f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(10)
    longpoll.longpoll_close_connections()


def waiting_now() -> int:
    return sum(len(events) for hub in list(longpoll._hubs.values()) for events in hub.waiters.values())


def test_200_waiters_do_not_starve_other_requests(server, procurement, make_agent, alice, bob):
    _, base = server
    rids = [procurement.decide(LARGE_ORDER).json()["id"] for _ in range(4)]
    headers = {"Authorization": f"Bearer {procurement.token}"}
    other = {"Authorization": f"Bearer {make_agent('other-bot').token}"}
    threads_before = threading.active_count()

    async def main():
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as client:
            waiters = [asyncio.create_task(client.get(f"/api/v1/requests/{rids[i % 4]}", params={"wait": 30}))
                       for i in range(WAITERS)]
            while waiting_now() < WAITERS:
                await asyncio.sleep(0.05)
            threads_waiting = threading.active_count()
            # Other agents' work goes on while every waiter is parked.
            others = []
            for _ in range(20):
                began = time.perf_counter()
                response = await client.post("/api/v1/decide", json=SMALL_ORDER, headers=other)
                assert response.status_code == 200 and response.json()["decision"] == "allow", response.json()
                others.append(time.perf_counter() - began)
            assert not any(w.done() for w in waiters), "a waiter returned before anything was decided"
            # Resolve one request: its 50 waiters return; the rest keep waiting.
            decided = time.perf_counter()
            await sync_to_async(approval_decide, thread_sensitive=False)(
                request_id=rids[0], user=alice, choice="approve")
            first = [w for i, w in enumerate(waiters) if i % 4 == 0]
            answers = await asyncio.gather(*first)
            woke_after = time.perf_counter() - decided
            assert all(a.json()["status"] == "approved" for a in answers)
            assert not any(w.done() for i, w in enumerate(waiters) if i % 4)
            for rid in rids[1:]:
                await sync_to_async(approval_decide, thread_sensitive=False)(request_id=rid, user=bob, choice="deny")
            rest = await asyncio.gather(*waiters)
            assert all(r.status_code == 200 for r in rest)
            assert {r.json()["status"] for r in rest} == {"approved", "rejected"}
            return threads_waiting, others, woke_after

    threads_waiting, others, woke_after = asyncio.run(main())
    # No thread per waiter: the server's thread count does not grow with the waiters.
    assert threads_waiting - threads_before < WAITERS / 4, (threads_before, threads_waiting)
    others.sort()
    print(f"\n{WAITERS} waiters: threads {threads_before} -> {threads_waiting}; "
          f"decide while waiting p50 {others[10] * 1000:.1f} ms, max {others[-1] * 1000:.1f} ms; "
          f"50 waiters answered {woke_after * 1000:.0f} ms after the approval")


def test_the_asgi_front_answers_errors_like_the_api(server, procurement, make_agent):
    _, base = server
    # httpx's default 5 s read timeout is not what this test is about (a loaded CI machine).
    get = functools.partial(httpx.get, timeout=60)
    rid = procurement.decide(LARGE_ORDER).json()["id"]
    other = make_agent("other-bot")
    url = f"{base}/api/v1/requests/{rid}"
    mine = {"Authorization": f"Bearer {procurement.token}"}
    assert get(url, params={"wait": 1}).status_code == 401
    assert get(url, params={"wait": 1}, headers={"Authorization": "Bearer nope"}).status_code == 401
    bad = get(url, params={"wait": 99}, headers=mine)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    foreign = get(url, params={"wait": 1}, headers={"Authorization": f"Bearer {other.token}"})
    assert foreign.status_code == 404
    evil = get(url, params={"wait": 1}, headers={**mine, "Host": "evil.example"})
    assert evil.status_code == 400
    done = get(url, params={"wait": 1}, headers=mine)
    assert done.status_code == 200 and done.json() == procurement.get(f"/api/v1/requests/{rid}").json()
    assert done.headers["x-content-type-options"] == "nosniff"
    # Without wait, Django (the DRF view) answers as before.
    assert get(url, headers=mine).json()["status"] == "pending"


def test_a_waiter_that_hangs_up_stops_waiting(server, procurement):
    _, base = server
    rid = procurement.decide(LARGE_ORDER).json()["id"]

    async def main():
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            task = asyncio.create_task(client.get(f"/api/v1/requests/{rid}", params={"wait": 60},
                                                  headers={"Authorization": f"Bearer {procurement.token}"}))
            while waiting_now() < 1:
                await asyncio.sleep(0.02)
            task.cancel()
        # Eventually, not quickly: the bound only stops a broken server from hanging the suite
        # (a loaded CI machine can take seconds to notice the hang-up).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if waiting_now() == 0:
                return True
            await asyncio.sleep(0.02)
        return False

    assert asyncio.run(main()), "the server kept waiting for a client that had gone"
