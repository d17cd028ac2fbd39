"""One outcome under races (SPEC §6): approvers clicking at once through the API, the web and
Slack produce exactly one outcome; every loser is told it was already decided. PostgreSQL only:
SQLite serialises all writers, so it could not show a race."""

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.test import APIClient

from approvals.models import Vote
from approvals.services import approval_decide
from approvals.tokens import personal_token_create
from governance.decide import DecideInput, decide
from governance.errors import Conflict
from governance.models import AuditEvent, DecisionRequest
from tests.approvals.conftest import LARGE_ORDER, envelope_with, person

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TRIALS = 200
CONTENDERS = 4


class Contender:
    """One person answering through one channel: 'api' (HTTP, personal token), 'web' or 'slack'."""

    def __init__(self, user, via: str):
        self.user, self.via = user, via
        self.token = personal_token_create(user=user) if via == "api" else None

    def vote(self, rid: str, choice: str) -> tuple[str, str]:
        """('ok', status after the vote) or ('conflict', 'code: message')."""
        if self.via == "api":
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
            response = client.post(f"/api/v1/escalations/{rid}/{choice}", {"comment": "race"}, format="json")
            if response.status_code == 200:
                return "ok", response.json()["status"]
            assert response.status_code == 409, response.content
            error = response.json()["error"]
            return "conflict", f"{error['code']}: {error['message']}"
        try:
            return "ok", approval_decide(request_id=rid, user=self.user, choice=choice, via=self.via).status
        except Conflict as exc:
            return "conflict", f"{exc.code}: {exc.message}"


class Race:
    """Everyone votes on the same escalation at once. The HTTP path takes longer to reach the
    lock than a service call, so each contender is held back by how much faster its channel
    has been so far (plus a little jitter): every channel then gets to arrive first."""

    def __init__(self, pool, contenders, rng):
        self.pool, self.contenders, self.rng = pool, contenders, rng
        self.took = {c.via: 0.0 for c in contenders}  # moving average of call duration

    def run(self, rid, choices):
        start = threading.Barrier(len(self.contenders))
        slowest = max(self.took.values())
        delays = [slowest - self.took[c.via] + self.rng.uniform(0, 0.01) for c in self.contenders]

        def vote(contender, choice, delay):
            start.wait(timeout=10)
            time.sleep(delay)
            began = time.perf_counter()
            result = contender.vote(rid, choice)
            return result, time.perf_counter() - began

        futures = [self.pool.submit(vote, *args) for args in zip(self.contenders, choices, delays, strict=True)]
        results = []
        for contender, future in zip(self.contenders, futures, strict=True):
            result, took = future.result(timeout=60)
            self.took[contender.via] = 0.8 * self.took[contender.via] + 0.2 * took
            results.append(result)
        return results


def close_pool_connections(pool):
    barrier = threading.Barrier(CONTENDERS)

    def close():
        connections.close_all()
        barrier.wait(timeout=10)

    for future in [pool.submit(close) for _ in range(CONTENDERS)]:
        future.result()


def escalations(agent, count) -> list[str]:
    return [str(decide(agent=agent, data=DecideInput(**LARGE_ORDER))[0].pk) for _ in range(count)]


@pytest.fixture
def people(postgres, alice, bob, admin):
    erin = person("erin", "finance")
    # Two over HTTP, one through the web service, one through the Slack service.
    return [Contender(alice, "api"), Contender(bob, "web"), Contender(erin, "slack"), Contender(admin, "api")]


def test_concurrent_approve_and_deny_produce_one_outcome(procurement, people):
    rng = random.Random(20261121)
    rids = escalations(procurement.agent, TRIALS)
    winners, outcomes = Counter(), Counter()
    with ThreadPoolExecutor(CONTENDERS) as pool:
        race = Race(pool, people, rng)
        try:
            for rid in rids:
                choices = [rng.choice(["approve", "deny"]) for _ in people]
                results = race.run(rid, choices)
                won = [i for i, (kind, _) in enumerate(results) if kind == "ok"]
                assert len(won) == 1, results
                winner = won[0]
                final = "approved" if choices[winner] == "approve" else "rejected"
                assert results[winner] == ("ok", final)
                for i, result in enumerate(results):
                    if i != winner:
                        assert result == ("conflict", f"already_decided: already decided: request is {final}")
                row = DecisionRequest.objects.get(pk=rid)
                assert (row.status, row.decided_by) == (final, [people[winner].user.username])
                assert Vote.objects.filter(escalation_id=rid).count() == 1
                kinds = Counter(AuditEvent.objects.filter(request_id=rid).values_list("kind", flat=True))
                assert kinds["escalation.vote"] == 1
                assert kinds["escalation.approved"] + kinds["escalation.rejected"] == 1
                winners[people[winner].via] += 1
                outcomes[final] += 1
        finally:
            close_pool_connections(pool)
    # Every channel won some races and both outcomes happened: the mix was real.
    assert set(winners) == {"api", "web", "slack"} and set(outcomes) == {"approved", "rejected"}
    print(f"\n{TRIALS} trials: winners by channel {dict(winners)}, outcomes {dict(outcomes)}")


def test_concurrent_votes_with_quorum_two_stay_consistent(make_agent, people):
    client = make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2))
    rng = random.Random(7)
    rids = escalations(client.agent, 40)
    outcomes = Counter()
    with ThreadPoolExecutor(CONTENDERS) as pool:
        race = Race(pool, people, rng)
        try:
            for rid in rids:
                choices = [rng.choice(["approve", "approve", "deny"]) for _ in people]
                results = race.run(rid, choices)
                row = DecisionRequest.objects.get(pk=rid)
                votes = list(Vote.objects.filter(escalation_id=rid).order_by("created_at", "id"))
                approves = [v for v in votes if v.choice == "approve"]
                denies = [v for v in votes if v.choice == "deny"]
                assert sum(kind == "ok" for kind, _ in results) == len(votes)
                if row.status == "approved":
                    assert len(approves) == 2 and not denies
                else:
                    assert row.status == "rejected" and len(denies) == 1 and votes[-1].choice == "deny"
                    assert len(approves) <= 1
                for kind, detail in results:
                    if kind == "conflict":
                        assert detail == f"already_decided: already decided: request is {row.status}"
                kinds = Counter(AuditEvent.objects.filter(request_id=rid).values_list("kind", flat=True))
                assert kinds["escalation.vote"] == len(votes)
                assert kinds["escalation.approved"] + kinds["escalation.rejected"] == 1
                outcomes[row.status] += 1
        finally:
            close_pool_connections(pool)
    print(f"\nquorum 2, 40 trials: {dict(outcomes)}")


def test_a_vote_racing_the_expiry_produces_one_outcome(procurement, people):
    """At the deadline, a vote (clock just before) and the expiry task (just after) collide."""
    from datetime import timedelta

    from approvals.services import escalation_expire

    rng = random.Random(11)
    rids = escalations(procurement.agent, 40)
    outcomes = Counter()
    with ThreadPoolExecutor(2) as pool:
        for rid in rids:
            deadline = DecisionRequest.objects.get(pk=rid).expires_at
            start = threading.Barrier(2)
            voter = people[rng.randrange(1, 3)]  # the web or the Slack service

            def vote(voter=voter, rid=rid, deadline=deadline, start=start):
                start.wait(timeout=10)
                try:
                    return approval_decide(request_id=rid, user=voter.user, choice="approve", via=voter.via,
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
