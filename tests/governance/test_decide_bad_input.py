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


# Issue 9 point 5. Before: duplicate keys were accepted, last one wins
# ({"action": "evil.do", "action": "thing.read"} was decided as thing.read); JSON nested
# ~1,000 deep was a 500; ?wait=² was a 500 text/plain.
@pytest.mark.parametrize(
    "body",
    [
        '{"action": "evil.do", "action": "purchase_order.create", "resource": "vendor:staples",'
        ' "params": {"amount": 5}}',
        '{"action": "purchase_order.create", "resource": "vendor:staples",'
        ' "params": {"amount": 5000000, "amount": 5}}',
        '{"action": "purchase_order.create", "context": {"input_source": "model", "input_source": "user"}}',
        '{"action": "x", "params": {"list": [{"a": 1, "a": 2}]}}',
    ],
)
def test_duplicate_json_keys_anywhere_are_400(procurement, body):
    before = AuditEvent.objects.count()
    response = raw(procurement, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "malformed_json"
    assert "duplicate key" in error["message"]
    assert_nothing_changed(before)


@pytest.mark.parametrize("depth", [33, 100, 1000, 5000])
def test_json_nested_past_the_limit_is_400(procurement, depth):
    before = AuditEvent.objects.count()
    body = '{"action": "x", "params": {"a": ' + "[" * depth + "]" * depth + "}}"
    response = raw(procurement, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "malformed_json"
    assert "nested deeper than 32" in response.json()["error"]["message"]
    assert_nothing_changed(before)


def test_json_nested_to_the_limit_is_accepted(procurement):
    # The body object is level 1 and params level 2: 30 more arrays make 32 in all.
    body = '{"action": "x", "params": {"a": ' + "[" * 30 + "]" * 30 + "}}"
    response = raw(procurement, body)
    assert response.status_code == 200, response.content
    assert response.json()["decision"] == "deny"  # "x" is outside the envelope


def test_brackets_inside_strings_do_not_count_as_nesting(procurement):
    body = '{"action": "purchase_order.create", "resource": "vendor:staples", "params": {"amount": 5, "note": "' + "[{" * 100 + '"}}'
    response = raw(procurement, body)
    assert response.status_code == 200, response.content


def test_escaped_quotes_do_not_hide_nesting(procurement):
    body = '{"action": "x", "params": {"a": "\\"", "b": ' + "[" * 40 + "]" * 40 + "}}"
    response = raw(procurement, body)
    assert response.status_code == 400


# Found by the schemathesis suite on PostgreSQL: a NUL in any string (a params key, a context
# value) made the insert fail with DataError and decide answered 503.
@pytest.mark.parametrize("body", [
    '{"action": "purchase_order.create", "params": {"a\\u0000b": 1}}',
    '{"action": "purchase_order.create", "context": {"session": "x\\u0000"}}',
    '{"action": "purchase_order.create", "resource": "vendor:\\u0000"}',
    '{"action": "purchase_order.create", "params": {"note": "\\ud83d"}}',
    '{"action": "purchase_order.create", "params": {"list": ["\\uDC00"]}}',
])
def test_strings_postgresql_cannot_store_are_400(procurement, body):
    before = AuditEvent.objects.count()
    response = raw(procurement, body)
    assert response.status_code == 400, response.content
    assert "U+0000" in response.json()["error"]["message"]
    assert_nothing_changed(before)


def test_a_surrogate_pair_is_an_ordinary_character(procurement):
    body = ('{"action": "purchase_order.create", "resource": "vendor:staples",'
            ' "params": {"amount": 5, "note": "\\ud83d\\ude00 \\\\u0000 is text"}}')
    response = raw(procurement, body)
    assert response.status_code == 200, response.content
    assert DecisionRequest.objects.get().params["note"] == "\U0001F600 \\u0000 is text"
