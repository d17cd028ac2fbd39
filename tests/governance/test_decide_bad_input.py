"""Bad input gets a clear JSON error and changes nothing; it never reaches the engine."""

import pytest
from django.test import Client

from governance.models import AuditEvent, DecisionRequest
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def raw(procurement, body: bytes | str, content_type="application/json"):
    return Client().post("/api/v1/decide", body, content_type=content_type, **bearer(procurement.token))


def assert_nothing_changed(before):
    assert DecisionRequest.objects.count() == 0
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    "body, where",
    [
        ("not json", "malformed_json"),
        ("[1, 2]", "invalid_request"),
        ('"a string"', "invalid_request"),
        ("{}", "invalid_request"),
        ('{"action": 5}', "invalid_request"),
        ('{"action": ""}', "invalid_request"),
        ('{"action": "a b"}', "invalid_request"),
        ('{"action": "x", "params": [1]}', "invalid_request"),
        ('{"action": "x", "params": "amount=5"}', "invalid_request"),
        ('{"action": "x", "context": {"confidence": "high"}}', "invalid_request"),
        ('{"action": "x", "context": {"confidence": 1.5}}', "invalid_request"),
        ('{"action": "x", "context": {"input_source": "email"}}', "invalid_request"),
        ('{"action": "x", "resource": {"id": 1}}', "invalid_request"),
        ('{"action": "x", "param": {"amount": 1}}', "invalid_request"),
        ('{"action": "x", "params": {"amount": NaN}}', "malformed_json"),
    ],
)
def test_malformed_body_is_400_and_creates_nothing(procurement, body, where):
    before = AuditEvent.objects.count()
    response = raw(procurement, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == where
    assert error["message"]
    assert_nothing_changed(before)


def test_unknown_field_is_named_in_the_error(procurement):
    response = raw(procurement, '{"action": "x", "param": {"amount": 1}}')
    assert "param" in response.json()["error"]["message"]


def test_oversized_body_is_413(procurement):
    before = AuditEvent.objects.count()
    body = '{"action": "x", "params": {"blob": "' + "a" * 70000 + '"}}'
    response = raw(procurement, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert_nothing_changed(before)


def test_oversized_params_field_is_400(procurement):
    response = raw(procurement, '{"action": "x", "params": {"blob": "' + "a" * 20000 + '"}}')
    assert response.status_code == 400
    assert "params" in response.json()["error"]["message"]


def test_wrong_content_type_is_415(procurement):
    response = raw(procurement, "action=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert DecisionRequest.objects.count() == 0
