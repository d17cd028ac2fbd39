"""POST /api/v1/decide answers plain agent requests without DRF (api/views.py) and everything
else through the DRF view: both must answer the same bytes, statuses and headers."""

import json

import pytest
from django.test import Client
from rest_framework.renderers import JSONRenderer

from api import views
from governance.errors import Unavailable

pytestmark = pytest.mark.django_db

BODY = {
    "action": "purchase_order.create",
    "resource": "vendor:staples",
    "params": {"amount": 500, "currency": "USD"},
    "context": {"reasoning": "office supplies", "confidence": 0.91},
}
FAST = "application/json"
VIA_DRF = "application/json; charset=utf-8"  # a media-type parameter: the fast path declines


def post(token, body, content_type=FAST, **extra):
    return Client().post(
        "/api/v1/decide", json.dumps(body), content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}", **extra
    )


@pytest.fixture
def drf_calls(monkeypatch):
    calls = []
    drf = views._drf_decide_view

    def counted(request, *args, **kwargs):
        calls.append(request.path)
        return drf(request, *args, **kwargs)

    monkeypatch.setattr(views, "_drf_decide_view", counted)
    return calls


def same_answer(a, b):
    """The same status, JSON and headers, each body written exactly as DRF's renderer writes it.
    (Not byte-equal to each other: a stored answer read back from PostgreSQL's jsonb has its
    keys in jsonb's order, whichever path answers.)"""
    assert a.status_code == b.status_code
    assert a.json() == b.json()
    for response in (a, b):
        assert response.content == JSONRenderer().render(json.loads(response.content))
    assert a["Content-Type"] == b["Content-Type"] == "application/json"
    assert a["Allow"] == b["Allow"] and set(a["Allow"].split(", ")) == {"POST", "OPTIONS"}


@pytest.mark.parametrize("amount", [500, 47000, 200000])  # allow, escalate, deny
def test_the_fast_path_and_the_drf_view_answer_the_same_bytes(procurement, drf_calls, amount):
    body = {**BODY, "params": {"amount": amount, "currency": "USD"}, "idempotency_key": f"same-{amount}"}
    fast = post(procurement.token, body)
    assert drf_calls == []
    # The same key through the DRF view: the stored answer, which must read the same.
    slow = post(procurement.token, body, content_type=VIA_DRF)
    assert drf_calls == ["/api/v1/decide"]
    same_answer(fast, slow)
    assert fast.json()["decision"] == {500: "allow", 47000: "escalate", 200000: "deny"}[amount]


@pytest.mark.parametrize(
    "change",
    [
        {"HTTP_AUTHORIZATION": "Bearer alk_000000000000_nope"},  # unknown token: DRF's 401
        {"HTTP_AUTHORIZATION": "Basic abc"},
        {"HTTP_ACCEPT": "text/html"},  # DRF's 406
        {"content_type": "text/plain"},  # DRF's 415
    ],
)
def test_anything_unusual_goes_to_the_drf_view(procurement, drf_calls, change):
    kwargs = {"content_type": FAST, "HTTP_AUTHORIZATION": f"Bearer {procurement.token}", **change}
    response = Client().post("/api/v1/decide", json.dumps(BODY), **kwargs)
    assert drf_calls == ["/api/v1/decide"]
    assert response.status_code in (401, 406, 415)
    assert set(response.json()["error"]) >= {"code", "message"}


@pytest.mark.parametrize(
    "body",
    [
        {"action": "Not An Action"},
        {**BODY, "surprise": 1},
        {"action": "a.b", "action2": None},
    ],
)
def test_a_body_to_refuse_is_refused_by_the_drf_view_and_writes_nothing(procurement, drf_calls, body):
    from governance.models import DecisionRequest

    response = post(procurement.token, body)
    assert drf_calls == ["/api/v1/decide"]
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert not DecisionRequest.objects.exists()


def test_malformed_json_is_the_drf_views_400(procurement, drf_calls):
    response = Client().post("/api/v1/decide", '{"action": "a.b", "action": "c.d"}', content_type=FAST,
                             HTTP_AUTHORIZATION=f"Bearer {procurement.token}")
    assert drf_calls == ["/api/v1/decide"]
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("content_type", [FAST, VIA_DRF])
def test_a_decide_failure_is_the_same_503_deny_on_both_paths(procurement, monkeypatch, content_type):
    def broken(**kwargs):
        raise Unavailable("decision store unavailable (OperationalError); treat as deny")

    monkeypatch.setattr(views, "decide", broken)
    response = post(procurement.token, BODY, content_type=content_type)
    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "governance_unavailable", "message": "decision store unavailable (OperationalError); treat as deny"},
        "decision": "deny",
    }


@pytest.mark.parametrize("content_type", [FAST, VIA_DRF])
def test_an_unexpected_error_is_a_503_deny_on_both_paths(procurement, monkeypatch, content_type):
    def broken(**kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(views, "decide", broken)
    response = post(procurement.token, BODY, content_type=content_type)
    assert response.status_code == 503
    assert response.json()["decision"] == "deny"


def test_a_reused_key_for_another_action_is_the_same_409_on_both_paths(procurement):
    post(procurement.token, {**BODY, "idempotency_key": "k1"})
    other = {**BODY, "resource": "vendor:other", "idempotency_key": "k1"}
    fast, slow = post(procurement.token, other), post(procurement.token, other, content_type=VIA_DRF)
    assert fast.status_code == 409 and fast.json()["error"]["code"] == "idempotency_conflict"
    same_answer(fast, slow)


def test_the_openapi_schema_still_documents_decide(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/decide"]["post"]
    assert operation["operationId"] == "decide"
    assert {"200", "400", "401", "503"} <= set(operation["responses"])
