"""A Slack click and a web click at the same moment: exactly one outcome, and the loser is told
it was already decided (409 on the web, an ephemeral message in Slack)."""

import threading
import time

import pytest
from django.db import connection

from approvals.models import Vote
from approvals.services import approval_decide
from governance.errors import Conflict
from governance.models import AuditEvent, DecisionRequest
from tests.integrations.slack.conftest import (
    BIG_ORDER,
    buttons,
    click_payload,
    escalate,
    post_interaction,
    texts,
)

ROUNDS = 6


def race_once(request_id: str, bob, *, web_delay: float) -> dict:
    """alice approves in Slack while bob denies on the web, released by one barrier."""
    barrier = threading.Barrier(2)
    result: dict[str, object] = {}

    def slack_click():
        try:
            barrier.wait()
            result["slack"] = post_interaction(click_payload(request_id, "U0ALICE", "approve")).status_code
        finally:
            connection.close()

    def web_click():
        try:
            barrier.wait()
            # The Slack path has more to do before it reaches the row lock (signature,
            # parsing); holding the web back on some rounds lets either side win.
            time.sleep(web_delay)
            approval_decide(request_id=request_id, user=bob, choice="deny", via="web")
            result["web"] = "won"
        except Conflict as exc:
            result["web"] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=slack_click), threading.Thread(target=web_click)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return result


@pytest.mark.django_db(transaction=True)
def test_slack_click_and_web_click_produce_one_outcome(postgres, slack, procurement, people):
    winners = set()
    for round_no in range(ROUNDS):
        slack.ephemerals.clear()
        request_id = escalate(procurement, dict(BIG_ORDER, idempotency_key=f"race-{round_no}"))
        result = race_once(request_id, people["bob"], web_delay=0.03 * (round_no % 2))

        request = DecisionRequest.objects.get(pk=request_id)
        assert result["slack"] == 200
        assert Vote.objects.filter(escalation_id=request_id).count() == 1
        terminal = AuditEvent.objects.filter(
            request_id=request_id, kind__in=["escalation.approved", "escalation.rejected"]
        )
        assert terminal.count() == 1
        if request.status == "approved":  # Slack won: the web click got 409 already_decided
            winners.add("slack")
            assert request.decided_by == ["alice"] and result["web"] == "already_decided"
            assert slack.ephemerals == []
        else:  # the web won: alice is told in Slack, privately
            winners.add("web")
            assert (request.status, request.decided_by, result["web"]) == ("rejected", ["bob"], "won")
            assert [(e["user"], e["text"]) for e in slack.ephemerals] == [
                ("U0ALICE", "Too late: this request was already rejected by bob. Your click was not counted.")
            ]
        # Whatever raced, the message ends showing the one outcome.
        message = next(m for m in slack.messages.values() if request_id in str(m.blocks))
        assert buttons(message.blocks) == []
        word = "*Approved* by alice (Slack)" if request.status == "approved" else "*Rejected* by bob (web)"
        assert word in texts(message.blocks)
    print(f"race winners over {ROUNDS} rounds: {sorted(winners)}")
