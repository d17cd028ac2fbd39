"""POST /api/v1/escalations/{id}/approve|deny (SPEC §4 Approver API)."""

import io

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client
from rest_framework.test import APIClient

from approvals.tokens import personal_token_create, personal_token_revoke
from governance.models import AuditEvent, DecisionRequest

pytestmark = pytest.mark.django_db


def url(rid, choice="approve") -> str:
    return f"/api/v1/escalations/{rid}/{choice}"


def as_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def kinds(rid) -> list[str]:
    return list(AuditEvent.objects.filter(request_id=rid).order_by("id").values_list("kind", flat=True))


def test_it_approves_with_a_personal_token(escalate, alice):
    rid = escalate()
    response = as_token(personal_token_create(user=alice)).post(url(rid), {"comment": "budgeted"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == rid and body["status"] == "approved"
    assert body["decided_by"] == ["alice"] and body["comment"] == "budgeted" and body["decided_at"]
    assert body["quorum"] == {"required": 1, "approvals": 1}
    assert body["vote"] == {"by": "alice", "choice": "approve", "via": "api"}
    assert {"decision", "reasons", "risk", "digest", "action", "resource", "params"} <= set(body)
    assert kinds(rid)[-2:] == ["escalation.vote", "escalation.approved"]
    assert AuditEvent.objects.get(request_id=rid, kind="escalation.vote").payload["via"] == "api"


def test_it_denies_and_the_loser_gets_409(escalate, alice, bob):
    rid = escalate()
    denied = as_token(personal_token_create(user=bob)).post(url(rid, "deny"), {"comment": "no"}, format="json")
    assert denied.status_code == 200 and denied.json()["status"] == "rejected"
    late = as_token(personal_token_create(user=alice)).post(url(rid), {}, format="json")
    assert late.status_code == 409
    assert late.json() == {"error": {"code": "already_decided", "message": "already decided: request is rejected"}}
    assert kinds(rid)[-1] == "escalation.rejected"


def test_it_reports_quorum_progress(make_agent, escalate, alice, bob):
    from tests.approvals.conftest import envelope_with

    rid = escalate(make_agent("capex-bot", envelope_with(agent="capex-bot", quorum=2)))
    first = as_token(personal_token_create(user=alice)).post(url(rid), {}, format="json").json()
    assert first["status"] == "pending" and first["quorum"] == {"required": 2, "approvals": 1}
    again = as_token(personal_token_create(user=alice)).post(url(rid), {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_voted"
    second = as_token(personal_token_create(user=bob)).post(url(rid), {}, format="json").json()
    assert second["status"] == "approved" and second["decided_by"] == ["alice", "bob"]


def test_an_ineligible_person_gets_403_and_nothing_changes(escalate, charlie):
    rid = escalate()
    response = as_token(personal_token_create(user=charlie)).post(url(rid), {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_eligible"
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    assert kinds(rid) == ["decision.escalate", "escalation.opened"]


@pytest.mark.parametrize("choice", ["approve", "deny"])
def test_agent_tokens_always_get_403(escalate, procurement, make_agent, choice):
    rid = escalate()
    for client in (procurement, make_agent("other-bot")):
        response = client.post(url(rid, choice), {"comment": "self-service"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "agent_forbidden"
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    assert kinds(rid) == ["decision.escalate", "escalation.opened"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic YWxpY2U6eA==",
                                    "Bearer alp_000000000000_x", "Bearer alk_000000000000_x"])
def test_no_or_bad_credentials_get_401(escalate, header):
    rid = escalate()
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = APIClient().post(url(rid), {}, format="json", **extra)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert DecisionRequest.objects.get(pk=rid).status == "pending"


def test_a_revoked_personal_token_gets_401(escalate, alice):
    rid = escalate()
    token = personal_token_create(user=alice)
    personal_token_revoke(user=alice)
    assert as_token(token).post(url(rid), {}, format="json").status_code == 401
    assert AuditEvent.objects.filter(kind="approver.token_revoked", payload__username="alice").exists()


def test_a_session_needs_csrf(escalate, alice):
    rid = escalate()
    browser = Client(enforce_csrf_checks=True)
    # django-axes needs the request that authenticates (the test client's login() has none).
    assert browser.login(request=HttpRequest(), username="alice", password="alice-pw-123")
    refused = browser.post(url(rid), {"comment": "x"}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    assert DecisionRequest.objects.get(pk=rid).status == "pending"
    browser.get("/accounts/login/")  # sets the csrftoken cookie
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post(url(rid), {"comment": "ok"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 200 and accepted.json()["vote"]["by"] == "alice"


def test_bad_bodies_are_400_and_change_nothing(escalate, alice):
    rid = escalate()
    client = as_token(personal_token_create(user=alice))
    for body in ({"comment": 5}, {"comment": "x" * 2001}, {"coment": "typo"}, ["comment"]):
        response = client.post(url(rid), body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"
    assert DecisionRequest.objects.get(pk=rid).status == "pending"


def test_unknown_escalation_is_404(alice, procurement):
    client = as_token(personal_token_create(user=alice))
    assert client.post(url("8c7a3c5e-0000-4000-8000-000000000000"), {}, format="json").status_code == 404
    allowed = procurement.decide({"action": "purchase_order.create", "resource": "vendor:staples",
                                  "params": {"amount": 5}}).json()
    assert client.post(url(allowed["id"]), {}, format="json").status_code == 404


def test_approver_token_command_prints_the_token_last(escalate, alice):
    out = io.StringIO()
    call_command("approver_token", "alice", "--label", "laptop", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    assert token.startswith("alp_")
    rid = escalate()
    assert as_token(token).post(url(rid), {}, format="json").status_code == 200
    created = AuditEvent.objects.get(kind="approver.token_created")
    assert created.payload["username"] == "alice" and created.payload["label"] == "laptop"
    assert token not in str(created.payload)


def test_the_schema_describes_the_approver_api(db):
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    for choice in ("approve", "deny"):
        operation = schema["paths"][f"/api/v1/escalations/{{request_id}}/{choice}"]["post"]
        assert {"200", "401", "403", "404", "409"} <= set(operation["responses"])
        assert {"personalToken": []} in operation["security"]
