"""airlock_client.Airlock against a real running Airlock (and, for answers a real Airlock
never gives, a scripted local HTTP server)."""

import asyncio
import json
import threading

import httpx
import pytest
from airlock_client import Airlock, Decision, Denied, Expired, Rejected, Unavailable, action_digest
from conftest import FakeAirlock, approve, decision_ids, envelope, free_port

pytestmark = pytest.mark.django_db(transaction=True)

SMALL = {"amount": 500, "currency": "USD"}
LARGE = {"amount": 47000, "currency": "USD"}
HUGE = {"amount": 200000, "currency": "USD"}
NOT_JSON = object()


def client(url, agent, **kwargs) -> Airlock:
    return Airlock(url, agent.token, **kwargs)


def in_thread(fn):
    """Run fn in a thread; returns (thread, box) where box gets "value" or "error"."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


# -- decide / require against the real server --------------------------------------------------

def test_require_returns_an_allowed_decision_for_exactly_what_was_asked(airlock_url, agent):
    with client(airlock_url, agent) as airlock:
        decision = airlock.require("purchase_order.create", resource="vendor:staples", params=SMALL)
    assert isinstance(decision, Decision)
    assert decision.decision == "allow" and decision.status == "allowed" and decision.ok
    assert decision.digest == action_digest("purchase_order.create", "vendor:staples", SMALL)
    assert decision.expires_at is None and decision.id


def test_a_deny_raises_denied_with_the_reasons(airlock_url, agent):
    with client(airlock_url, agent) as airlock, pytest.raises(Denied) as refused:
        airlock.require("purchase_order.create", resource="vendor:staples", params=HUGE)
    error = refused.value
    assert type(error) is Denied
    assert error.status == "denied" and "amount_over_hard_limit" in error.codes and error.request_id


def test_decide_does_not_wait_and_does_not_raise_on_deny_or_escalate(airlock_url, agent):
    with client(airlock_url, agent) as airlock:
        denied = airlock.decide("purchase_order.create", resource="vendor:staples", params=HUGE)
        pending = airlock.decide("purchase_order.create", resource="vendor:acme", params=LARGE)
    assert (denied.decision, denied.status) == ("deny", "denied")
    assert (pending.decision, pending.status) == ("escalate", "pending") and pending.expires_at


def test_require_waits_and_returns_when_a_person_approves_over_the_api(airlock_url, agent, approver_token):
    seen = threading.Event()
    pending: list[Decision] = []

    def on_pending(decision, waited):
        pending.append(decision)
        seen.set()

    with client(airlock_url, agent, poll_wait=30) as airlock:
        thread, box = in_thread(lambda: airlock.require("purchase_order.create", resource="vendor:acme",
                                                        params=LARGE, on_pending=on_pending))
        assert seen.wait(20), "require never started waiting"
        answer = approve(airlock_url, approver_token, pending[0].id)
        assert answer.status_code == 200, answer.text
        thread.join(30)
    assert "error" not in box, box.get("error")
    decision = box["value"]
    assert decision.status == "approved" and decision.id == pending[0].id
    assert decision.raw["decided_by"] == ["alice"]


def test_a_person_saying_no_raises_rejected(airlock_url, agent, approver_token):
    seen = threading.Event()
    ids: list[str] = []
    with client(airlock_url, agent) as airlock:
        thread, box = in_thread(lambda: airlock.require(
            "purchase_order.create", resource="vendor:acme", params=LARGE,
            on_pending=lambda d, w: (ids.append(d.id), seen.set())))
        assert seen.wait(20)
        assert approve(airlock_url, approver_token, ids[0], "deny").status_code == 200
        thread.join(30)
    assert isinstance(box.get("error"), Rejected)
    assert box["error"].status == "rejected" and box["error"].request_id == ids[0]
    assert isinstance(box["error"], Denied)


def test_nobody_answering_raises_expired(airlock_url, make_agent):
    short = make_agent("short-bot", envelope(name="short-bot", ttl="2s"))
    with Airlock(airlock_url, short.token) as airlock, pytest.raises(Expired) as expired:
        airlock.require("purchase_order.create", resource="vendor:acme", params=LARGE)
    assert expired.value.status == "expired" and expired.value.request_id


def test_wait_false_refuses_a_pending_request_at_once(airlock_url, agent):
    with client(airlock_url, agent) as airlock, pytest.raises(Denied) as refused:
        airlock.require("purchase_order.create", resource="vendor:acme", params=LARGE, wait=False)
    assert refused.value.status == "pending" and "amount_over_limit" in refused.value.codes


def test_a_bad_token_is_denied_not_unavailable(airlock_url, agent):
    with Airlock(airlock_url, "alk_nope_nope") as airlock, pytest.raises(Denied) as refused:
        airlock.require("purchase_order.create", resource="vendor:staples", params=SMALL)
    assert type(refused.value) is Denied
    assert refused.value.status == "error" and refused.value.codes == ["unauthorized"]


def test_a_retried_call_never_doubles_a_decision(airlock_url, agent):
    """The first attempt reaches Airlock but its answer is lost; the retry carries the same
    idempotency key, so Airlock answers with the same decision and creates nothing new."""
    real = httpx.HTTPTransport()
    attempts: list[str] = []

    class LoseFirstAnswer(httpx.BaseTransport):
        def handle_request(self, request):
            response = real.handle_request(request)
            attempts.append(json.loads(request.content)["idempotency_key"])
            if len(attempts) == 1:
                response.read()
                raise httpx.ReadTimeout("answer lost", request=request)
            return response

    airlock = Airlock(airlock_url, agent.token, transport=LoseFirstAnswer(), sleep=lambda s: None)
    decision = airlock.require("purchase_order.create", resource="vendor:staples", params=SMALL)
    assert len(attempts) == 2 and attempts[0] == attempts[1]
    assert decision_ids(agent) == [decision.id]  # the server's own record: one decision
    # Two separate calls with the same inputs are two questions (a key per call).
    again = airlock.require("purchase_order.create", resource="vendor:staples", params=SMALL)
    assert sorted(decision_ids(agent)) == sorted([decision.id, again.id]) and again.id != decision.id


# -- Airlock down, broken or lying: always Unavailable, never a pass ----------------------------

def test_airlock_down_raises_unavailable(agent):
    airlock = Airlock(f"http://127.0.0.1:{free_port()}", "alk_x_y", sleep=lambda s: None)
    with pytest.raises(Unavailable) as down:
        airlock.require("purchase_order.create", resource="vendor:staples", params=SMALL)
    assert down.value.status == "unavailable" and down.value.codes == ["unreachable"]
    assert isinstance(down.value, Denied)


def test_not_configured_raises_unavailable(monkeypatch):
    monkeypatch.delenv("AIRLOCK_URL", raising=False)
    monkeypatch.delenv("AIRLOCK_TOKEN", raising=False)
    with pytest.raises(Unavailable) as missing:
        Airlock().require("anything")
    assert missing.value.codes == ["not_configured"]


def test_url_and_token_fall_back_to_the_environment(monkeypatch, airlock_url, agent):
    monkeypatch.setenv("AIRLOCK_URL", airlock_url)
    monkeypatch.setenv("AIRLOCK_TOKEN", agent.token)
    assert Airlock().require("purchase_order.create", resource="vendor:staples", params=SMALL).ok
    assert agent.token not in repr(Airlock())


def answer(**overrides):
    body = {"id": "11111111-1111-1111-1111-111111111111", "decision": "allow", "status": "allowed",
            "reasons": [], "risk": {"score": 0.1, "factors": []}, "expires_at": None, "envelope_version": 1,
            "digest": action_digest("x.y", "", {})}
    return {**body, **overrides}


@pytest.mark.parametrize("reply, code", [
    ((500, {"error": {"code": "server_error", "message": "boom"}}), "server_error"),
    ((503, {"decision": "deny", "error": {"code": "unavailable", "message": "db down"}}), "unavailable"),
    ((200, b"<html>proxy error</html>"), "malformed_response"),
    ((200, {"decision": "allow"}), "malformed_response"),
    ((200, answer(decision="allow", status="approved")), "malformed_response"),
    ((200, answer(status="allowed!")), "malformed_response"),
    ((200, answer(digest=action_digest("x.y", "", {"amount": 1}))), "digest_mismatch"),
    ((302, b""), "http_302"),
], ids=["500", "503", "html", "partial", "contradiction", "unknown-status", "other-digest", "redirect"])
def test_answers_that_are_not_a_clear_yes_never_pass(reply, code):
    with FakeAirlock([reply]) as fake, Airlock(fake.url, "alk_x_y", sleep=lambda s: None) as airlock:
        with pytest.raises(Denied) as refused:
            airlock.require("x.y")
    assert code in refused.value.codes
    if reply[0] >= 500 or reply[0] == 200:
        assert isinstance(refused.value, Unavailable)


def test_the_wait_reconnects_after_errors_and_keeps_the_answer(agent):
    """Pending, then the long-poll fails twice (500, a dropped body), then approved."""
    pending = answer(decision="escalate", status="pending", expires_at="2999-01-01T00:00:00Z")
    approved = {**pending, "status": "approved", "decided_by": ["alice"]}
    script = [(200, pending), (500, {"error": {"code": "x", "message": "y"}}), (503, b""), (200, approved)]
    slept: list[float] = []
    with FakeAirlock(script) as fake, Airlock(fake.url, "alk_x_y", sleep=slept.append) as airlock:
        decision = airlock.require("x.y")
    assert decision.status == "approved"
    assert [m for m, _, _ in fake.requests] == ["POST", "GET", "GET", "GET"]
    assert slept == [0.5, 1.0]  # backoff between reconnects


def test_the_wait_gives_up_at_the_deadline_as_expired_with_an_injected_clock():
    """A server that says pending forever: the client stops at expires_at + grace (fake clock)."""
    now = [0.0]
    pending = answer(decision="escalate", status="pending", expires_at="2000-01-01T00:00:00Z")

    def tick(method, path, body):
        now[0] += 10
        return 200, pending

    with FakeAirlock([tick]) as fake, \
            Airlock(fake.url, "alk_x_y", wait_grace=0, clock=lambda: now[0]) as airlock, pytest.raises(Expired) as late:
        airlock.require("x.y")
    assert "deadline_passed" in late.value.codes
    assert [m for m, _, _ in fake.requests] == ["POST"]  # the deadline was already behind us


def test_the_wait_gives_up_when_airlock_stays_unreachable():
    pending = answer(decision="escalate", status="pending", expires_at="2999-01-01T00:00:00Z")
    now = [0.0]

    def later(seconds):
        now[0] += 100

    script = [(200, pending), (502, b"bad gateway")]
    with FakeAirlock(script) as fake, Airlock(fake.url, "alk_x_y", clock=lambda: now[0], sleep=later) as airlock, \
            pytest.raises(Unavailable) as lost:
        airlock.require("x.y", wait=250)
    assert lost.value.codes == ["unreachable"]


def test_a_bounded_wait_ends_pending_not_allowed():
    pending = answer(decision="escalate", status="pending", expires_at="2999-01-01T00:00:00Z")
    now = [0.0]

    def tick(method, path, body):
        now[0] += 5
        return 200, pending

    with FakeAirlock([tick]) as fake, Airlock(fake.url, "alk_x_y", clock=lambda: now[0]) as airlock, \
            pytest.raises(Denied) as waited:
        airlock.require("x.y", wait=12)
    assert waited.value.status == "pending" and "wait_exceeded" in waited.value.codes


def test_an_approval_with_edited_params_is_not_a_yes_for_the_original():
    pending = answer(decision="escalate", status="pending", expires_at="2999-01-01T00:00:00Z")
    approved = {**pending, "status": "approved", "params": {}, "approved_params": {"amount": 1}}
    with FakeAirlock([(200, pending), (200, approved)]) as fake, Airlock(fake.url, "alk_x_y") as airlock, \
            pytest.raises(Denied) as edited:
        airlock.require("x.y")
    assert "approved_params_differ" in edited.value.codes


# -- the decorator ------------------------------------------------------------------------------

def test_guarded_runs_the_function_only_when_allowed(airlock_url, agent):
    calls: list[tuple] = []
    airlock = Airlock(airlock_url, agent.token)

    @airlock.guarded("purchase_order.create", resource=lambda vendor, amount, currency="USD": f"vendor:{vendor}")
    def create_order(vendor: str, amount: int, currency: str = "USD") -> str:
        calls.append((vendor, amount, currency))
        return f"PO for {amount}"

    assert create_order("staples", 500) == "PO for 500"
    with pytest.raises(Denied):
        create_order("staples", amount=200000)
    with pytest.raises(Denied) as waiting:
        airlock.guarded("purchase_order.create", resource="vendor:acme", wait=False)(create_order.__wrapped__)(
            "acme", 47000)
    assert waiting.value.status == "pending"
    assert calls == [("staples", 500, "USD")]
    assert create_order.__name__ == "create_order"


def test_positional_arguments_become_params_too(airlock_url, agent):
    """Calling pay(200000) must ask about amount=200000, not about nothing."""
    airlock = Airlock(airlock_url, agent.token)
    ran = []

    @airlock.guarded("purchase_order.create", resource="vendor")
    def pay(vendor, amount, **extra):
        ran.append(amount)

    with pytest.raises(Denied) as refused:
        pay("vendor:staples", 200000)
    assert "amount_over_hard_limit" in refused.value.codes and ran == []
    pay("vendor:staples", 20, currency="USD")
    assert ran == [20]


def test_guarded_methods_leave_self_out(airlock_url, agent):
    airlock = Airlock(airlock_url, agent.token)

    class Buyer:
        @airlock.guarded("purchase_order.create", resource="vendor:staples")
        def buy(self, amount):
            return amount * 2

    assert Buyer().buy(10) == 20
    with pytest.raises(Denied):
        Buyer().buy(200000)


def test_guarded_async_functions(airlock_url, agent):
    airlock = Airlock(airlock_url, agent.token)
    ran = []

    @airlock.guarded("purchase_order.create", resource="vendor:staples", params=["amount"])
    async def buy(amount, note=NOT_JSON):  # note is not JSON: only "amount" is sent
        ran.append(amount)
        return "ok"

    assert asyncio.run(buy(7)) == "ok"
    with pytest.raises(Denied):
        asyncio.run(buy(200000))
    assert ran == [7]


def test_guarded_never_runs_on_any_error(agent):
    ran = []
    down = Airlock("http://127.0.0.1:9", agent.token, sleep=lambda s: None)

    @down.guarded("purchase_order.create", resource="vendor:staples")
    def buy(amount):
        ran.append(amount)

    @down.guarded("purchase_order.create", resource=lambda amount: 1 / 0)
    def broken_resource(amount):
        ran.append(amount)

    @Airlock("http://127.0.0.1:9", agent.token).guarded("x.y")
    def not_json(thing):
        ran.append(thing)

    with pytest.raises(Unavailable):
        buy(5)
    with pytest.raises(Denied) as guard:
        broken_resource(5)
    assert guard.value.codes == ["guard_error"]
    with pytest.raises(Denied) as bad:
        not_json(object())
    assert bad.value.codes == ["invalid_request"]
    with pytest.raises(Denied):
        buy()  # a call that does not even bind
    assert ran == []


def test_outcomes_go_to_the_reporter_seam(airlock_url, agent):
    reports: list[tuple] = []
    airlock = Airlock(airlock_url, agent.token, outcome_reporter=lambda d, ok, detail: reports.append((d.id, ok, detail)))

    @airlock.guarded("purchase_order.create", resource="vendor:staples")
    def buy(amount):
        if amount == 13:
            raise ValueError("unlucky")
        return amount

    assert buy(12) == 12
    with pytest.raises(ValueError):
        buy(13)
    assert [(ok, detail) for _, ok, detail in reports] == [(True, ""), (False, "ValueError: unlucky")]
    assert all(rid for rid, _, _ in reports)


def test_the_decorator_reports_outcomes_to_airlock(airlock_url, agent):
    from governance.models import DecisionRequest

    airlock = Airlock(airlock_url, agent.token)

    @airlock.guarded("purchase_order.create", resource="vendor:staples")
    def buy(amount):
        if amount == 13:
            raise ValueError("unlucky")
        return amount

    assert buy(12) == 12
    with pytest.raises(ValueError):
        buy(13)
    rows = list(DecisionRequest.objects.filter(agent=agent.agent).order_by("created_at"))
    assert [r.reported_outcome["status"] for r in rows] == ["succeeded", "failed"]
    assert rows[1].reported_outcome["detail"] == "ValueError: unlucky"
    # A second report is refused by the server (409 outcome_exists) and only logged.
    decision = airlock.decide("purchase_order.create", resource="vendor:x", params={"amount": 1})
    airlock.report_outcome(decision, succeeded=True, effects={"po": 1})
    airlock.report_outcome(decision, succeeded=False)
    assert DecisionRequest.objects.get(pk=decision.id).reported_outcome["effects"] == {"po": 1}


def test_a_failing_reporter_never_changes_the_result(airlock_url, agent):
    def broken(*args):
        raise RuntimeError("reporter down")

    airlock = Airlock(airlock_url, agent.token, outcome_reporter=broken)
    assert airlock.guarded("purchase_order.create", resource="vendor:staples")(lambda amount: amount + 1)(1) == 2


def test_the_readme_snippet_against_the_demo_envelope(airlock_url, make_agent):
    """README "Govern an agent in five minutes", step 2, with the demo procurement-bot."""
    demo = make_agent()
    airlock = Airlock(airlock_url, demo.token)

    @airlock.guarded("purchase_order.create", resource=lambda vendor, amount, currency="USD": f"vendor:{vendor}")
    def create_order(vendor: str, amount: int, currency: str = "USD") -> str:
        return f"PO for {amount} {currency} from {vendor}"

    assert create_order("staples", 500) == "PO for 500 USD from staples"
    with pytest.raises(Denied) as waiting:
        airlock.guarded("purchase_order.create", resource="vendor:acme-furniture", wait=False)(
            create_order.__wrapped__)("acme-furniture", 47000)
    assert waiting.value.status == "pending" and "amount_over_limit" in waiting.value.codes


def test_on_pending_can_stop_the_wait_with_a_refusal():
    """The gateway stops waiting for a cancelled tool call this way; the answer is still no."""
    pending = answer(decision="escalate", status="pending", expires_at="2999-01-01T00:00:00Z")

    def stop(decision, waited):
        raise Denied(status="cancelled", request_id=decision.id, reasons=[{"code": "cancelled"}])

    def blow_up(decision, waited):
        raise RuntimeError("a buggy callback is logged, not a pass")

    now = [0.0]

    def tick(method, path, body):
        now[0] += 5
        return 200, pending

    with FakeAirlock([tick]) as fake, Airlock(fake.url, "alk_x_y", clock=lambda: now[0]) as airlock:
        with pytest.raises(Denied) as stopped:
            airlock.require("x.y", on_pending=stop)
        assert stopped.value.status == "cancelled" and [m for m, _, _ in fake.requests] == ["POST"]
        with pytest.raises(Denied) as bounded:
            airlock.require("x.y", on_pending=blow_up, wait=12)
        assert bounded.value.status == "pending" and len(fake.requests) == 1 + 1 + 3
