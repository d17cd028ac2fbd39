"""decide_input() (the decide view's fast validation) accepts only bodies the serializer accepts,
with exactly the serializer's validated data; everything else goes to the serializer."""

import pytest
from django.test import override_settings

from api.serializers import DecideInputSerializer, decide_input

BIG = "x" * 17_000

BODIES = [
    {"action": "purchase_order.create"},
    {"action": "a", "resource": "", "params": {}, "context": {}},
    {"action": "a:b-c_d.e", "resource": "vendor:acme", "params": {"amount": 5, "n": [1, 2.5, None]},
     "context": {"input_source": "user", "confidence": 0.5, "reasoning": "r", "session": "s", "model_version": "m"}},
    {"action": "a", "idempotency_key": "k-1"},
    {"action": "a", "idempotency_key": None},
    {"action": "a", "idempotency_key": ""},
    {"action": "a", "idempotency_key": " k "},
    {"action": "a", "idempotency_key": "k" * 201},
    {"action": "a", "idempotency_key": "ké"},
    {"action": "a", "idempotency_key": 5},
    {"action": "a", "resource": "r" * 501},
    {"action": "a", "resource": "r" * 500},
    {"action": "a", "resource": " padded "},
    {"action": "a", "resource": "nul\x00"},
    {"action": "a", "resource": "ünïcode"},
    {"action": "a", "resource": "\ud800"},
    {"action": "a", "resource": None},
    {"action": "a", "resource": 5},
    {"action": "a\n"},
    {"action": ""},
    {"action": "a b"},
    {"action": "a" * 201},
    {"action": 5},
    {"action": True},
    {"action": None},
    {},
    {"action": "a", "param": {}},
    {"action": "a", "params": None},
    {"action": "a", "params": []},
    {"action": "a", "params": {"x": float("inf")}},
    {"action": "a", "params": {"x": BIG}},
    {"action": "a", "context": None},
    {"action": "a", "context": {"input_source": "nope"}},
    {"action": "a", "context": {"input_source": None, "confidence": None}},
    {"action": "a", "context": {"confidence": 1.5}},
    {"action": "a", "context": {"confidence": True}},
    {"action": "a", "context": {"confidence": float("nan")}},
    {"action": "a", "context": {"reasoning": 5}},
    {"action": "a", "context": {"other": {"deep": [1]}}},
    [1, 2],
    "a string",
    None,
]


def serializer_result(body):
    serializer = DecideInputSerializer(data=body)
    return dict(serializer.validated_data) if serializer.is_valid() else None


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_fast_path_agrees_with_the_serializer(body):
    fast = decide_input(body)
    if fast is not None:
        assert fast == serializer_result(body)


def test_the_usual_bodies_take_the_fast_path():
    for body in BODIES[:5]:
        assert decide_input(body) is not None, body


@override_settings(AIRLOCK_MAX_FIELD_BYTES=10)
def test_the_size_limit_is_the_setting():
    body = {"action": "a", "params": {"long": "0123456789"}}
    assert decide_input(body) is None
    assert serializer_result(body) is None
