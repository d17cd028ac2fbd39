"""When Airlock cannot evaluate, the answer is no — never allow."""

import pytest
from django.db import OperationalError

from governance import decide as decide_module
from governance.models import DecisionRequest
from governance.state import DatabaseState

pytestmark = pytest.mark.django_db

SMALL = {"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 500}}


def test_database_error_while_evaluating_denies(procurement, monkeypatch):
    def broken(self, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(DatabaseState, "count", broken)
    response = procurement.decide(SMALL)
    assert response.status_code in (200, 503)
    body = response.json()
    assert body.get("decision") == "deny"
    if response.status_code == 200:
        assert body["reasons"][0]["code"] == "governance_error"


def test_database_down_when_recording_is_503_deny(procurement, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("could not connect to server")

    # decide writes its row and its audit event with audit_record(row=...) (one statement on
    # PostgreSQL, two elsewhere).
    monkeypatch.setattr(decide_module, "audit_record", broken)
    response = procurement.decide(SMALL)
    assert response.status_code == 503
    body = response.json()
    assert body["decision"] == "deny"
    assert body["error"]["code"] == "governance_unavailable"


def test_unexpected_error_preparing_evaluation_denies(procurement, monkeypatch):
    def broken(*args):
        raise RuntimeError("corrupt envelope document")

    monkeypatch.setattr(decide_module, "envelope_compiled_by_pk", broken)
    body = procurement.decide(SMALL).json()
    assert (body["decision"], body["reasons"][0]["code"]) == ("deny", "governance_error")
    assert DecisionRequest.objects.get(pk=body["id"]).status == "denied"


def test_cel_runtime_error_through_the_api_denies(make_agent):
    envelope = "agent: cel-bot\ncapabilities:\n  - action: pay\n    deny_when: ['params.amount > 100']\n"
    bot = make_agent("cel-bot", envelope=envelope)
    body = bot.decide({"action": "pay", "params": {"currency": "USD"}}).json()
    assert (body["decision"], body["reasons"][0]["code"]) == ("deny", "governance_error")


def test_unexpected_exception_in_the_view_is_a_json_503_deny(procurement, monkeypatch):
    def broken(**kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr("api.views.decide", broken)
    procurement.client.raise_request_exception = False
    response = procurement.decide(SMALL)
    # Never a 500 under /api/ (issue 9): the API could not evaluate, so the answer is deny.
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["decision"] == "deny"
    assert response.json()["error"]["code"] == "server_error"


def test_database_error_looking_up_the_token_is_a_503_deny(procurement, monkeypatch):
    def broken(token):
        raise OperationalError("connection timeout expired")

    monkeypatch.setattr("api.auth.agent_for_token", broken)
    response = procurement.decide(SMALL)
    assert response.status_code == 503
    assert response.json()["decision"] == "deny"
    assert response.json()["error"]["code"] == "governance_unavailable"
    assert DecisionRequest.objects.count() == 0
