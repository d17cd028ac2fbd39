"""One outcome under races (SPEC §6), through the real channels: a web POST with its CSRF
token (as the queue page sends it), a signed Slack request through /slack/interactions/, the
approver API over HTTP with a personal token, and the expiry, all on the same escalation at
once. Exactly one wins; every loser is told it was already decided, in its own channel.
PostgreSQL only: SQLite serialises all writers, so it could not show a race."""

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from rest_framework.test import APIClient

from approvals.models import Vote
from approvals.services import approval_decide, escalation_expire
from approvals.tokens import personal_token_create
from governance.decide import DecideInput, decide
from governance.errors import Conflict
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.conftest import LARGE_ORDER, envelope_with, person
from tests.integrations.slack.conftest import click_payload, post_interaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TRIALS = 48


class Contender:
    """One way of answering an escalation. answer() returns what that channel reports:
    the HTTP status (web, API), the Slack user id (Slack: the answer comes back as an
    ephemeral message, checked afterwards), or whether the expiry expired it."""

    via = ""

    def answer(self, rid: str, choice: str):
        raise NotImplementedError


class ApiContender(Contender):
    """POST /api/v1/escalations/{id}/approve|deny with a personal token."""

    via = "api"

    def __init__(self, user):
        self.user, self.token = user, personal_token_create(user=user)

    def answer(self, rid, choice):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        response = client.post(f"/api/v1/escalations/{rid}/{choice}", {"comment": "race"}, format="json")
        return response.status_code, response.json()


class WebContender(Contender):
    """The queue page's form: an htmx POST carrying the CSRF token the page gave out."""

    via = "web"

    def __init__(self, user):
        self.user = user
        self.client = Client(enforce_csrf_checks=True)
        self.client.force_login(user)
        assert self.client.get("/").status_code == 200
        self.csrf = self.client.cookies["csrftoken"].value

    def answer(self, rid, choice):
        response = self.client.post(
            f"/escalations/{rid}/vote", {"choice": choice, "csrfmiddlewaretoken": self.csrf}, HTTP_HX_REQUEST="true"
        )
        return response.status_code, response.content.decode()


class SlackContender(Contender):
    """A button click, signed with the signing secret, through the interactivity endpoint."""

    via = "slack"

    def __init__(self, user, slack_id):
        self.user, self.slack_id = user, slack_id

    def answer(self, rid, choice):
        response = post_interaction(click_payload(rid, self.slack_id, choice))
        return response.status_code, self.slack_id


class ExpiryContender(Contender):
    """The expiry task, its clock 1 ms past the deadline (the voters are well before it)."""

    via = "expiry"
    user = None

    def answer(self, rid, choice):
        deadline = DecisionRequest.objects.get(pk=rid).expires_at
        return escalation_expire(request_id=rid, now=deadline + timedelta(milliseconds=1))


class Race:
    """Everyone answers the same escalation at once, released by one barrier. Channels take
    different times to reach the row lock (an HTTP request does more than the expiry task),
    so each contender is held back by how much sooner its channel has reached the lock so
    far (measured at the lock itself, see reach_times), plus jitter: they arrive together
    and every channel gets to arrive first."""

    def __init__(self, pool, contenders, rng, arrivals: dict):
        self.pool, self.contenders, self.rng, self.arrivals = pool, contenders, rng, arrivals
        self.reach = {c.via: 0.0 for c in contenders}  # moving average: barrier → lock
        # A small handicap for recent winners keeps any one channel from winning every time
        # when its reach time is noisy (a loaded machine).
        self.bias = {c.via: 0.0 for c in contenders}

    def run(self, rid, choices):
        start = threading.Barrier(len(self.contenders))
        latest = max(self.reach.values())
        delays = [latest - self.reach[c.via] + self.bias[c.via] + self.rng.uniform(0, 0.01) for c in self.contenders]

        def answer(contender, choice, delay):
            start.wait(timeout=10)
            time.sleep(delay)
            began = time.perf_counter()
            try:
                return contender.answer(rid, choice), began, threading.get_ident()
            finally:
                connections.close_all()

        futures = [self.pool.submit(answer, *args) for args in zip(self.contenders, choices, delays, strict=True)]
        results = []
        for contender, future in zip(self.contenders, futures, strict=True):
            result, began, thread = future.result(timeout=60)
            arrived = self.arrivals.pop(thread, None)
            if arrived is not None:
                took = arrived - began
                self.reach[contender.via] = took if not self.reach[contender.via] else 0.7 * self.reach[contender.via] + 0.3 * took
            results.append(result)
        return results

    def won(self, winners: set[str]) -> None:
        for via in self.bias:
            change = 0.002 if via in winners else -0.002 / max(1, len(self.bias) - 1)
            self.bias[via] = max(0.0, self.bias[via] + change)


@pytest.fixture
def reach_times(monkeypatch) -> dict:
    """thread id → when that thread asked for the escalation's row lock (the race is decided
    there), for every channel alike: they all go through approvals.services."""
    from approvals import services

    arrivals: dict[int, float] = {}
    locked = services._locked_escalation

    def spy(request_id):
        arrivals[threading.get_ident()] = time.perf_counter()
        return locked(request_id)

    monkeypatch.setattr(services, "_locked_escalation", spy)
    return arrivals


def escalations(agent, count) -> list[str]:
    return [str(decide(agent=agent, data=DecideInput(**LARGE_ORDER))[0].pk) for _ in range(count)]


@pytest.fixture
def channels(postgres, slack, alice, bob, admin):
    """alice over the API, bob on the web queue, erin in Slack, and the expiry."""
    call_command("approver_add", "erin", "--group", "finance", "--slack-id", "U0ERIN")
    erin = person("erin", "finance")
    return [ApiContender(alice), WebContender(bob), SlackContender(erin, "U0ERIN"), ExpiryContender()]


def outcome_of(rid) -> tuple[DecisionRequest, str]:
    """The request after the race and which channel won it (the vote's via, or expiry)."""
    row = DecisionRequest.objects.get(pk=rid)
    votes = list(Vote.objects.filter(escalation_id=rid))
    if row.status == "expired":
        assert votes == []
        return row, "expiry"
    assert len(votes) == 1, votes
    return row, votes[0].via


def assert_told(contender, result, *, won: bool, final: str, slack) -> None:
    """Each channel reports the outcome its own way."""
    if contender.via == "api":
        status, body = result
        if won:  # the vote counted: it decided the request, or (quorum 2) left it pending
            assert status == 200 and body["status"] in (final, "pending"), body
        else:
            assert (status, body["error"]["code"]) == (409, "already_decided"), body
            assert body["error"]["message"] == f"already decided: request is {final}"
    elif contender.via == "web":
        status, html = result
        assert status == (200 if won else 409), html
        if not won:
            assert "Already decided" in html
    elif contender.via == "slack":
        status, slack_id = result
        assert status == 200  # Slack is always acknowledged; the answer is an ephemeral
        told = [e["text"] for e in slack.ephemerals if e["user"] == slack_id]
        if won:
            assert told == []
        else:
            assert len(told) == 1 and told[0].startswith(f"Too late: this request was already {final}"), told
    else:
        assert result is won


def test_web_slack_api_and_expiry_racing_produce_one_outcome(procurement, channels, slack, reach_times):
    rng = random.Random(20261121)
    rids = escalations(procurement.agent, TRIALS)
    winners, outcomes = Counter(), Counter()
    with ThreadPoolExecutor(len(channels)) as pool:
        race = Race(pool, channels, rng, reach_times)
        for rid in rids:
            slack.ephemerals.clear()
            choices = [rng.choice(["approve", "deny"]) for _ in channels]
            results = race.run(rid, choices)
            row, winner = outcome_of(rid)
            final = row.status
            for contender, choice, result in zip(channels, choices, results, strict=True):
                won = contender.via == winner
                if won and winner != "expiry":
                    assert final == ("approved" if choice == "approve" else "rejected")
                    assert row.decided_by == [contender.user.username]
                assert_told(contender, result, won=won, final=final, slack=slack)
            kinds = Counter(AuditEvent.objects.filter(request_id=rid).values_list("kind", flat=True))
            assert kinds["escalation.approved"] + kinds["escalation.rejected"] + kinds["escalation.expired"] == 1
            assert kinds["escalation.vote"] == (0 if winner == "expiry" else 1)
            race.won({winner})
            winners[winner] += 1
            outcomes[final] += 1
    # Every channel won some races and every outcome happened: the mix was real.
    assert set(winners) == {"api", "web", "slack", "expiry"}, winners
    assert set(outcomes) == {"approved", "rejected", "expired"}, outcomes
    print(f"\n{TRIALS} trials: winners by channel {dict(winners)}, outcomes {dict(outcomes)}")


def test_concurrent_votes_with_quorum_two_stay_consistent(make_agent, channels, slack, reach_times):
    voters = channels[:3]  # the API, the web queue and Slack; no expiry
    client = make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))
    rng = random.Random(7)
    rids = escalations(client.agent, 24)
    outcomes = Counter()
    with ThreadPoolExecutor(len(voters)) as pool:
        race = Race(pool, voters, rng, reach_times)
        for rid in rids:
            slack.ephemerals.clear()
            choices = [rng.choice(["approve", "approve", "deny"]) for _ in voters]
            results = race.run(rid, choices)
            row = DecisionRequest.objects.get(pk=rid)
            votes = list(Vote.objects.filter(escalation_id=rid).order_by("created_at", "id"))
            approves = [v for v in votes if v.choice == "approve"]
            denies = [v for v in votes if v.choice == "deny"]
            if row.status == "approved":
                assert len(approves) == 2 and not denies
            else:
                assert row.status == "rejected" and len(denies) == 1 and votes[-1].choice == "deny"
                assert len(approves) <= 1
            counted = {v.via for v in votes}
            race.won(counted)
            for contender, result in zip(voters, results, strict=True):
                assert_told(contender, result, won=contender.via in counted, final=row.status, slack=slack)
            kinds = Counter(AuditEvent.objects.filter(request_id=rid).values_list("kind", flat=True))
            assert kinds["escalation.vote"] == len(votes)
            assert kinds["escalation.approved"] + kinds["escalation.rejected"] == 1
            outcomes[row.status] += 1
    print(f"\nquorum 2, 24 trials: {dict(outcomes)}")


def test_a_vote_racing_the_expiry_produces_one_outcome(postgres, procurement, alice, bob):
    """At the deadline, the vote service (clock 1 ms before) and the expiry (1 ms after)
    collide. Service level, so both clocks can be injected; the race through the channels is
    test_web_slack_api_and_expiry_racing_produce_one_outcome."""
    rng = random.Random(11)
    rids = escalations(procurement.agent, 40)
    outcomes = Counter()
    with ThreadPoolExecutor(2) as pool:
        for rid in rids:
            deadline = DecisionRequest.objects.get(pk=rid).expires_at
            start = threading.Barrier(2)
            voter = rng.choice([alice, bob])

            def vote(voter=voter, rid=rid, deadline=deadline, start=start):
                start.wait(timeout=10)
                try:
                    return approval_decide(request_id=rid, user=voter, choice="approve",
                                           now=deadline - timedelta(milliseconds=1)).status
                except Conflict as exc:
                    return exc.code

            def expire(rid=rid, deadline=deadline, start=start):
                start.wait(timeout=10)
                return escalation_expire(request_id=rid, now=deadline + timedelta(milliseconds=1))

            voted, expired = pool.submit(vote), pool.submit(expire)
            voted, expired = voted.result(timeout=60), expired.result(timeout=60)
            row = DecisionRequest.objects.get(pk=rid)
            kinds = Counter(AuditEvent.objects.filter(request_id=rid).values_list("kind", flat=True))
            if expired:
                assert voted == "already_decided" and row.status == "expired"
                assert kinds["escalation.expired"] == 1 and kinds["escalation.vote"] == 0
            else:
                assert voted == "approved" and row.status == "approved"
                assert kinds["escalation.approved"] == 1 and kinds["escalation.expired"] == 0
            outcomes[row.status] += 1
        close = threading.Barrier(2)
        for future in [pool.submit(lambda: (connections.close_all(), close.wait(timeout=10))) for _ in range(2)]:
            future.result()
    print(f"\nvote vs expiry, 40 trials: {dict(outcomes)}")
