"""The live queue socket against the real ASGI server (uvicorn) with a real websocket client:
authenticated, origin-checked, and carrying only what each person may see."""

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from approvals.services import approval_decide
from governance.breaker import breaker_reset, breaker_trip
from governance.models import AuditEvent
from tests.approvals.asgi_server import asgi_server, decide_over_http, session_cookie, websocket_url
from tests.approvals.conftest import LARGE_ORDER, envelope_with

pytestmark = pytest.mark.django_db(transaction=True)

# A guard against hanging, not a latency assertion (latency is measured in bench/).
RECV_TIMEOUT = 15


@pytest.fixture(scope="module")
def server(django_db_setup, redis_url, tmp_path_factory):
    """One server for the module: each test's rows are committed, then flushed after it."""
    with asgi_server(log=tmp_path_factory.mktemp("uvicorn") / "uvicorn.log") as base:
        yield base


def socket(base: str, user=None, origin: str | None = None) -> ClientConnection:
    headers = {"Cookie": session_cookie(user)} if user is not None else {}
    return connect(websocket_url(base), origin=origin or base, additional_headers=headers, proxy=None, open_timeout=10)


@pytest.fixture
def deploy_bot(make_agent):
    """An agent whose escalations go to engineering (charlie), not finance (alice, bob)."""
    return make_agent("deploy-bot", envelope_with(agent="deploy-bot", approvers="[engineering]"))


def test_unauthenticated_socket_is_refused(server):
    with pytest.raises(InvalidStatus) as refused:
        socket(server)
    assert refused.value.response.status_code == 403


def test_socket_from_another_origin_is_refused(server, alice):
    with pytest.raises(InvalidStatus) as refused:
        socket(server, alice, origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_socket_carries_only_escalations_the_person_may_answer(server, procurement, deploy_bot, alice, charlie):
    with socket(server, alice) as alice_ws, socket(server, charlie) as charlie_ws:
        finance = decide_over_http(server, procurement.token, LARGE_ORDER)["id"]
        engineering = decide_over_http(server, deploy_bot.token, LARGE_ORDER)["id"]

        first = alice_ws.recv(timeout=RECV_TIMEOUT)
        assert f'id="esc-{finance}"' in first and 'hx-swap-oob="beforeend:#queue-list"' in first
        assert "$47,000" in first

        # Messages on one socket arrive in order: charlie's first is the later, engineering one,
        # so the finance escalation before it was never sent to him.
        seen = charlie_ws.recv(timeout=RECV_TIMEOUT)
        assert f'id="esc-{engineering}"' in seen and finance not in seen

        approval_decide(request_id=finance, user=alice, choice="approve", comment="ok")
        approval_decide(request_id=engineering, user=charlie, choice="deny", comment="not today")
        resolved = alice_ws.recv(timeout=RECV_TIMEOUT)
        assert f'id="esc-{finance}"' in resolved and 'data-state="approved"' in resolved
        assert 'hx-swap-oob="outerHTML"' in resolved
        seen = charlie_ws.recv(timeout=RECV_TIMEOUT)
        assert f'id="esc-{engineering}"' in seen and 'data-state="rejected"' in seen and finance not in seen
    assert AuditEvent.objects.filter(request_id=finance, kind="escalation.approved").exists()
    assert AuditEvent.objects.filter(request_id=engineering, kind="escalation.rejected").exists()


def test_partial_vote_pushes_progress(server, make_agent, alice, bob):
    capex = make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))
    with socket(server, bob) as bob_ws:
        rid = decide_over_http(server, capex.token, LARGE_ORDER)["id"]
        assert rid in bob_ws.recv(timeout=RECV_TIMEOUT)
        approval_decide(request_id=rid, user=alice, choice="approve", comment="fine by me")
        progress = bob_ws.recv(timeout=RECV_TIMEOUT)
        assert f'id="esc-{rid}-progress"' in progress and 'hx-swap-oob="outerHTML"' in progress
        assert "1 of 2" in progress and "alice approved" in progress and "fine by me" in progress
        # Only alice's own sockets get her "you approved" actions; bob keeps his buttons.
        assert f"esc-{rid}-actions" not in progress
    assert AuditEvent.objects.filter(request_id=rid, kind="escalation.vote").count() == 1


def test_signed_out_socket_is_closed_at_the_next_event(server, procurement, alice):
    browser = Client()
    browser.force_login(alice)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    with connect(websocket_url(server), origin=server, additional_headers={"Cookie": cookie}, proxy=None) as ws:
        assert browser.post("/accounts/logout/").status_code == 302  # in another tab
        decide_over_http(server, procurement.token, LARGE_ORDER)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=RECV_TIMEOUT)
    assert closed.value.rcvd.code == 4401


def test_breaker_trip_and_reset_update_the_banner_for_everyone(server, procurement, charlie, admin):
    # charlie approves nothing of this agent's, but supervised mode concerns every approver.
    with socket(server, charlie) as ws:
        breaker_trip(agent=procurement.agent, reason="5 violations within 10m (threshold 5)")
        banner = ws.recv(timeout=RECV_TIMEOUT)
        assert '<section id="breakers"' in banner and 'hx-swap-oob="outerHTML"' in banner
        assert "procurement-bot is supervised" in banner and "5 violations within 10m" in banner
        breaker_reset(agent=procurement.agent, by=admin)
        banner = ws.recv(timeout=RECV_TIMEOUT)
        assert '<section id="breakers"' in banner and "procurement-bot" not in banner
    kinds = list(AuditEvent.objects.filter(agent=procurement.agent, kind__startswith="breaker.").values_list("kind", flat=True))
    assert sorted(kinds) == ["breaker.reset", "breaker.tripped"]
