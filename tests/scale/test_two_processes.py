"""Scale out (issue 16, must-show 4): two web processes and two Celery workers on one
PostgreSQL database and one Redis, as a deployment with several of each runs them.

- decides split across both processes stay exact: velocity, cumulative budget, sequences;
- an envelope activated through one process is what the other enforces at its next decide;
- the live queue in a browser connected to one process shows escalations made through the other
  (and, without a browser, a websocket client on one process gets them);
- with both workers running (ETA tasks on both, the beat sweep in one), each escalation expires
  exactly once: one audit event, one callback, and the audit chain verifies.

PostgreSQL only (SQLite is one writer on one machine: nothing to scale out); skipped with the
reason on SQLite (CI's first pass too), a failure in the PostgreSQL pass
(AIRLOCK_REQUIRE_POSTGRES); a missing Redis or Chromium skips locally and fails under CI=true.
"""

import io
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
from django.core.management import call_command
from django.db import connection

from governance.models import AuditEvent, DecisionRequest
from tests.approvals.asgi_server import asgi_server, session_cookie, websocket_url
from tests.approvals.callback_receiver import CallbackReceiver
from tests.approvals.conftest import LARGE_ORDER, envelope_with
from tests.approvals.test_queue_browser import browser  # noqa: F401  (Chromium, or skip/fail)
from tests.conftest import is_postgres
from tests.waiting import wait_until
from tests.worker import purge_queue, start_worker

pytestmark = [pytest.mark.postgres, pytest.mark.worker]

CLIENTS = 8  # concurrent agents' connections, split across both processes
WAIT = 60  # seconds: a bound against hanging on a loaded machine, never a speed check

COUNTING = """\
agent: {name}
description: Two web processes share its counts.
default: deny
approvers: [finance]
escalation_ttl: 15m
capabilities:
  - name: pings
    action: ping.send
    resources: ["host:*"]
    velocity: {{max: 20, per: 10m, over: deny}}
  - name: spending
    action: spend.create
    resources: ["budget:*"]
    params_schema:
      type: object
      required: [amount]
      properties:
        amount: {{type: number, minimum: 0}}
    cumulative: {{param: amount, max: 1000, per: 24h, over: deny}}
  - name: price changes
    action: price.update
    resources: ["product:*"]
sequences:
  - name: repricing-war
    within: 15m
    match: [price.update, price.update, price.update]
    key: resource
    on_complete: escalate
"""

SWITCHABLE = """\
agent: switch-bot
default: deny
approvers: [finance]
capabilities:
  - name: catalogue
    action: catalogue.read
    resources: ["*"]
"""
CLOSED = SWITCHABLE.replace('resources: ["*"]', 'resources: ["*"]\n    deny_when:\n'
                            '      - when: "true"\n        code: closed\n        message: "closed for stocktaking"')


@pytest.fixture(scope="module")
def cluster(django_db_setup, redis_url, tmp_path_factory):
    """Two web processes (A, B), each as `make serve` runs it (gunicorn, one uvicorn worker),
    and two workers (beat sweeps in the first) on the test database and the test Redis; one
    set for the module (each test's rows are flushed after it)."""
    if not is_postgres():
        if os.environ.get("AIRLOCK_REQUIRE_POSTGRES"):
            pytest.fail("the scale-out test must run on PostgreSQL (DATABASE_URL)", pytrace=False)
        pytest.skip("scale-out needs PostgreSQL: run with DATABASE_URL=postgres://... (.ci/run does)")
    logs = tmp_path_factory.mktemp("scale")
    with ExitStack() as stack:
        a = stack.enter_context(asgi_server(log=logs / "web-a.log", production=True))
        b = stack.enter_context(asgi_server(log=logs / "web-b.log", production=True))
        purge_queue()  # messages left by earlier tests name rows that no longer exist
        workers = [
            start_worker(f"scale{os.getpid()}-1", beat=True, schedule=logs / "beat"),
            start_worker(f"scale{os.getpid()}-2"),
        ]
        for worker in workers:
            stack.callback(worker.stop)
        connection.close()  # the fixture's own connection must not outlive the test database
        yield a, b, workers


def decide_at(client: httpx.Client, base: str, token: str, body: dict) -> dict:
    response = client.post(f"{base}/api/v1/decide", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 201), response.text
    return response.json()


def fan_out(bases: tuple[str, str], token: str, bodies: list[dict]) -> list[dict]:
    """Every body decided once, CLIENTS at a time, alternating between the two processes."""
    clients = [httpx.Client(timeout=WAIT) for _ in range(CLIENTS)]
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(decide_at, clients[i % CLIENTS], bases[i % 2], token, body)
                       for i, body in enumerate(bodies)]
            return [f.result() for f in futures]
    finally:
        for client in clients:
            client.close()


def codes(answer: dict) -> set[str]:
    return {r["code"] for r in answer.get("reasons", [])}


def test_decides_on_both_processes_stay_exact(cluster, make_agent):
    a, b = cluster[:2]
    bot = make_agent("count-bot", COUNTING.format(name="count-bot"))
    rival = make_agent("rival-bot", COUNTING.format(name="rival-bot"))

    # Velocity: 20 per 10 minutes, 50 asked at once through both processes.
    pings = fan_out((a, b), bot.token, [{"action": "ping.send", "resource": f"host:{i}"} for i in range(50)])
    assert sum(p["decision"] == "allow" for p in pings) == 20, [p["decision"] for p in pings]
    assert all("velocity_exceeded" in codes(p) for p in pings if p["decision"] != "allow")

    # Cumulative: 1,000 a day in 30s; 40 asked at once: exactly 33 fit (990), never more.
    spends = fan_out((a, b), bot.token,
                     [{"action": "spend.create", "resource": "budget:ops", "params": {"amount": 30}} for _ in range(40)])
    assert sum(s["decision"] == "allow" for s in spends) == 33
    assert all("cumulative_exceeded" in codes(s) for s in spends if s["decision"] != "allow")
    allowed = DecisionRequest.objects.filter(agent=bot.agent, action="spend.create", decision="allow")
    assert sum(r.params["amount"] for r in allowed) == 990

    # Sequences across agents: product k's first update by count-bot through A, then count-bot
    # through A and rival-bot through B at the same time. Whichever commits second made the
    # third update in 15 minutes and must escalate; the other did not: exactly one per product.
    products = [f"product:p{k}" for k in range(12)]
    with httpx.Client(timeout=WAIT) as first:
        for product in products:
            assert decide_at(first, a, bot.token, {"action": "price.update", "resource": product})["decision"] == "allow"
    pairs = [(a, bot.token, product) for product in products] + [(b, rival.token, product) for product in products]
    clients = [httpx.Client(timeout=WAIT) for _ in range(CLIENTS)]
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            order = [pairs[i // 2 + (i % 2) * len(products)] for i in range(len(pairs))]  # A, B, A, B...
            futures = {(base, product): pool.submit(decide_at, clients[i % CLIENTS], base, token,
                                                    {"action": "price.update", "resource": product})
                       for i, (base, token, product) in enumerate(order)}
            answers = {key: f.result() for key, f in futures.items()}
    finally:
        for client in clients:
            client.close()
    for product in products:
        completed = ["sequence_complete" in codes(answers[base, product]) for base in (a, b)]
        assert sorted(completed) == [False, True], (product, answers[a, product], answers[b, product])
    assert DecisionRequest.objects.filter(action="price.update").count() == 3 * len(products)


def test_an_envelope_change_through_one_process_holds_at_the_next_decide_on_the_other(cluster, make_agent, admin):
    a, b = cluster[:2]
    bot = make_agent("switch-bot", SWITCHABLE)
    read = {"action": "catalogue.read", "resource": "catalogue:chairs"}
    with httpx.Client(timeout=WAIT) as agent, httpx.Client(timeout=WAIT) as browser_a, \
            httpx.Client(timeout=WAIT) as browser_b:
        # Both processes have compiled (and cached) version 1.
        assert decide_at(agent, a, bot.token, read)["decision"] == "allow"
        assert decide_at(agent, b, bot.token, read)["decision"] == "allow"

        def activate(session: httpx.Client, base: str, source: str) -> None:
            """An admin activates `source` in the envelope editor served by `base`."""
            name, value = session_cookie(admin).split("=", 1)
            session.cookies.set(name, value)
            page = session.get(f"{base}/admin/agents/switch-bot/envelope/")  # sets the CSRF cookie
            assert page.status_code == 200, page.text[:500]
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            saved = session.post(f"{base}/admin/agents/switch-bot/envelope/", data={
                "source": source, "comment": "scale-out test", "skip_preview": "1",
                "skip_reason": "test of two processes", "csrfmiddlewaretoken": token,
            })
            assert saved.status_code == 302, saved.text[:2000]

        activate(browser_a, a, CLOSED)  # through A ...
        answer = decide_at(agent, b, bot.token, read)  # ... B's very next decide obeys it
        assert (answer["decision"], codes(answer)) == ("deny", {"closed"}), answer
        assert decide_at(agent, a, bot.token, read)["decision"] == "deny"

        activate(browser_b, b, SWITCHABLE)  # and back, through B: A obeys at once
        assert decide_at(agent, a, bot.token, read)["decision"] == "allow"
        assert decide_at(agent, b, bot.token, read)["decision"] == "allow"
    versions = list(AuditEvent.objects.filter(kind="envelope.activated", agent=bot.agent)
                    .order_by("id").values_list("payload__version", flat=True))
    assert versions == [1, 2, 3]


def test_the_queue_on_one_process_shows_escalations_made_through_the_other(cluster, browser, make_agent, alice):  # noqa: F811
    from playwright.sync_api import expect

    a, b = cluster[:2]
    bot = make_agent("queue-bot", envelope_with(agent="queue-bot"))
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(f"{a}/accounts/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "alice-pw-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"{a}/")
        expect(page.locator("#live")).to_have_attribute("data-state", "open")
        page.evaluate("window.__sameDocument = true")  # survives only if never reloaded
        with httpx.Client(timeout=WAIT) as agent:
            rids = [decide_at(agent, b, bot.token, {**LARGE_ORDER, "resource": f"vendor:v{i}"})["id"] for i in range(2)]
        for rid in rids:
            card = page.locator(f"#esc-{rid}")
            expect(card).to_be_visible(timeout=WAIT * 1000)
            expect(card).to_have_attribute("data-state", "pending")
            expect(card.locator(".amount-value")).to_have_text("$47,000")
        expect(page.locator("#queue-count")).to_have_text("2")
        assert page.evaluate("window.__sameDocument === true")
    finally:
        context.close()


def test_the_queue_socket_on_one_process_gets_escalations_made_through_the_other(cluster, make_agent, alice):
    """The same push at the protocol level, with a real websocket client (runs without Chromium)."""
    from websockets.sync.client import connect

    a, b = cluster[:2]
    bot = make_agent("socket-bot", envelope_with(agent="socket-bot"))
    with connect(websocket_url(a), origin=a, additional_headers={"Cookie": session_cookie(alice)},
                 proxy=None, open_timeout=WAIT) as queue_on_a, httpx.Client(timeout=WAIT) as agent:
        rid = decide_at(agent, b, bot.token, LARGE_ORDER)["id"]
        pushed = queue_on_a.recv(timeout=WAIT)
    assert f'id="esc-{rid}"' in pushed and "$47,000" in pushed


def test_each_escalation_expires_exactly_once_with_two_workers(cluster, callback_agent):
    a, b, workers = cluster
    count = 8
    with CallbackReceiver() as receiver:
        bot = callback_agent(receiver.url, ttl="3s", name="expiry-bot")
        receiver.secret = bot.agent.callback_secret
        with httpx.Client(timeout=WAIT) as agent:
            rids = [decide_at(agent, (a, b)[i % 2], bot.token, {**LARGE_ORDER, "resource": f"vendor:e{i}"})["id"]
                    for i in range(count)]
        assert all(DecisionRequest.objects.get(pk=rid).status == "pending" for rid in rids)
        expired = wait_until(lambda: DecisionRequest.objects.filter(pk__in=rids, status="expired").count() == count, WAIT)
        assert expired, "\n".join(w.log() for w in workers)
        delivered = wait_until(lambda: AuditEvent.objects.filter(request_id__in=rids, kind="callback.delivered").count() >= count, WAIT)
        assert delivered, "\n".join(w.log() for w in workers)
        # Every ETA task has run (on either worker) and a sweep ran after the last expiry and
        # found nothing left: whatever could expire one twice has had its chance.
        mark = len(workers[0].lines)
        ran = wait_until(lambda: sum(_eta_tasks_done(w) for w in workers) >= count and _empty_sweep_after(workers[0], mark), WAIT)
        assert ran, "\n".join(w.log() for w in workers)
        deliveries = receiver.deliveries[:]
        print(f"\nexpiry ETA tasks per worker: {[_eta_tasks_done(w) for w in workers]}")

    for rid in rids:
        assert AuditEvent.objects.filter(request_id=rid, kind="escalation.expired").count() == 1, rid
        assert AuditEvent.objects.filter(request_id=rid, kind="callback.delivered").count() == 1, rid
    ids = sorted(json.loads(d.body)["id"] for d in deliveries)
    assert ids == sorted(str(rid) for rid in rids)  # one callback each, none twice
    assert all(d.signature_ok and json.loads(d.body)["status"] == "expired" for d in deliveries)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "audit chain intact" in out.getvalue()


def _eta_tasks_done(worker) -> int:
    return sum("approvals.expire_escalation[" in line and "succeeded" in line for line in worker.lines)


def _empty_sweep_after(worker, mark: int) -> bool:
    """The beat worker logged, after its line `mark`, an expiry sweep that found nothing."""
    return any("approvals.expire_due_escalations[" in line and "succeeded" in line and line.rstrip().endswith(": 0")
               for line in worker.lines[mark:])
