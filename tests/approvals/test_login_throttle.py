"""Login throttling (issue 9 point 10), django-axes per username AND address, with backoff.

Named actors: alice (finance approver, password alice-pw-123) logs in from her office address
198.51.100.7; mallory guesses alice's password from 203.0.113.66. Before: 300 wrong passwords,
then the right one logged in (302). After: from the 5th failure the pair (alice, mallory's
address) is locked out, the right password is refused with 429, every lockout is audited,
and alice from her own address, agents and approver tokens are unaffected."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from airlock.login_throttle import cool_off_seconds
from approvals.tokens import personal_token_create
from governance.audit import audit_verify
from governance.models import AuditEvent
from tests.conftest import is_postgres

pytestmark = pytest.mark.django_db(transaction=True)

MALLORY = "203.0.113.66"
OFFICE = "198.51.100.7"
LOGIN = "/accounts/login/"


def login(password: str, *, address: str, username: str = "alice", client: Client | None = None, **extra):
    return (client or Client()).post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def logged_in(response) -> bool:
    return response.status_code == 302 and response.headers["Location"] == settings.LOGIN_REDIRECT_URL


def lockouts(username: str = "alice") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(kind="auth.lockout", payload__username=username).order_by("id"))


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """Set before alice exists (autouse runs first), so her password uses it too."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def frozen():
    with time_machine.travel(dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC), tick=False) as traveller:
        yield traveller


def test_300_wrong_passwords_then_the_right_one_is_refused(alice, frozen):
    """The reviewer's 300 in the PostgreSQL pass; 40 on SQLite (the same path, less time)."""
    attempts = 300 if is_postgres() else 40
    answers = [login(f"guess-{i}", address=MALLORY).status_code for i in range(attempts)]

    assert answers[:4] == [200] * 4  # the login form again, "wrong username or password"
    assert set(answers[4:]) == {429}  # locked from the 5th failure on
    right = login("alice-pw-123", address=MALLORY)
    assert right.status_code == 429 and not logged_in(right)
    assert "Too many failed logins" in right.content.decode()
    # Every lockout is audited (the 5th failure and each refused attempt after it), on an
    # intact chain.
    events = lockouts()
    assert len(events) == attempts - 4 + 1
    assert events[0].payload == {"username": "alice", "ip_address": MALLORY, "failures": 5,
                                 "cool_off_seconds": 60, "path": LOGIN}
    assert events[0].actor == "system:axes"
    assert audit_verify() is None


def test_the_lockout_backs_off_and_then_ends(alice, frozen):
    for i in range(5):
        login(f"guess-{i}", address=MALLORY)
    first = login("guess-5", address=MALLORY)  # the 6th failure: refused, extends the lockout
    assert first.status_code == 429 and first.headers["Retry-After"] == "120"
    for i in range(2):
        login(f"more-{i}", address=MALLORY)  # 7th, 8th: 240 s, 480 s
    assert lockouts()[-1].payload["cool_off_seconds"] == 480

    frozen.shift(479)
    assert login("alice-pw-123", address=MALLORY).status_code == 429  # still locked (and extended)
    frozen.shift(60 * 60 * 24 + 1)  # past the 1-day cap
    assert logged_in(login("alice-pw-123", address=MALLORY))


def test_cool_off_doubles_from_the_limit_up_to_the_cap():
    assert [cool_off_seconds(n, limit=5, base=60, cap=3600) for n in (0, 4, 5, 6, 7, 8, 11, 300)] == [
        60, 60, 60, 120, 240, 480, 3600, 3600]


def test_a_single_lockout_ends_after_the_base_cool_off(alice, frozen):
    for i in range(5):
        login(f"guess-{i}", address=MALLORY)
    frozen.shift(59)
    assert login("alice-pw-123", address=MALLORY).status_code == 429  # the 6th failure: now 120 s
    frozen.shift(121)
    assert logged_in(login("alice-pw-123", address=MALLORY))
    # A success starts the count again: one more wrong password is not a lockout.
    assert login("wrong", address=MALLORY).status_code == 200


def test_mallory_cannot_lock_alice_out_of_her_own_address(alice, frozen):
    for i in range(20):
        login(f"guess-{i}", address=MALLORY)
    assert logged_in(login("alice-pw-123", address=OFFICE))
    assert lockouts() and all(e.payload["ip_address"] == MALLORY for e in lockouts())


def test_lockout_answers_json_to_a_json_client(alice, frozen):
    for i in range(5):
        login(f"guess-{i}", address=MALLORY)
    response = login("alice-pw-123", address=MALLORY, HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "login_locked_out"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_bearer_tokens_keep_their_own_401s_from_a_locked_address(alice, escalate, procurement, frozen):
    """Axes must not intercept bearer auth: the agent API and approver tokens from mallory's
    (locked) address answer as before, wrong tokens with their own JSON 401."""
    for i in range(6):
        login(f"guess-{i}", address=MALLORY)
    assert login("alice-pw-123", address=MALLORY).status_code == 429

    agent = APIClient(REMOTE_ADDR=MALLORY)
    ok = agent.post("/api/v1/decide", {"action": "catalogue.read"}, format="json",
                    HTTP_AUTHORIZATION=f"Bearer {procurement.token}")
    assert ok.status_code == 200 and ok.json()["decision"] == "allow"
    bad = agent.post("/api/v1/decide", {"action": "catalogue.read"}, format="json",
                     HTTP_AUTHORIZATION="Bearer alk_000000000000_nope")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"

    rid = escalate()
    approver = APIClient(REMOTE_ADDR=MALLORY)
    wrong = approver.post(f"/api/v1/escalations/{rid}/approve", {}, format="json",
                          HTTP_AUTHORIZATION="Bearer alp_000000000000_nope")
    assert wrong.status_code == 401 and "error" in wrong.json()
    voted = approver.post(f"/api/v1/escalations/{rid}/approve", {}, format="json",
                          HTTP_AUTHORIZATION=f"Bearer {personal_token_create(user=alice)}")
    assert voted.status_code == 200 and voted.json()["status"] == "approved"
    assert all(e.payload["ip_address"] == MALLORY for e in lockouts())
