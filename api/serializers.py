"""Input and output shapes of the agent API (SPEC §4; the shape is fixed)."""

import math
import re

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.canonical import canonical_json
from governance.policy.types import INPUT_SOURCES

ACTION_PATTERN = r"^[A-Za-z0-9_.:\-]{1,200}$"


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error: a typo like 'param' must not silently drop the limits."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({unknown[0]: ["unknown field"]})
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string, never a number or boolean coerced to one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("must be a string")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 200, "pattern": ACTION_PATTERN})
class ActionField(StrictCharField):
    r"""Exactly the characters sent: no trimming, and `\Z` so a trailing newline is refused
    too (Python's `$` matches before one). The schema states the same rule in ECMA syntax."""

    def __init__(self, **kwargs):
        super().__init__(max_length=200, trim_whitespace=False, **kwargs)
        self.validators.append(RegexValidator(ACTION_PATTERN.removesuffix("$") + r"\Z",
                                              "letters, digits and . _ : - only"))


# What the server accepts, stated in the schema (issue 9: the schema said params/context could
# be null, which the server refuses). null is refused on purpose: SPEC §4 says both are JSON
# objects, and a client that means "none" omits the field.
OBJECT_SCHEMA = {"type": "object", "additionalProperties": True}


@extend_schema_field({**OBJECT_SCHEMA, "description": "A JSON object (not null), at most "
                      "AIRLOCK_MAX_FIELD_BYTES (16 KB) as canonical JSON, finite numbers only."})
class BoundedObjectField(serializers.JSONField):
    """A JSON object no larger than AIRLOCK_MAX_FIELD_BYTES, with finite numbers only."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be a JSON object")
        try:
            size = len(canonical_json(data).encode())
        except ValueError:
            raise serializers.ValidationError("numbers must be finite") from None
        if size > settings.AIRLOCK_MAX_FIELD_BYTES:
            raise serializers.ValidationError(f"larger than {settings.AIRLOCK_MAX_FIELD_BYTES} bytes")
        return data


CONTEXT_SCHEMA = {
    **OBJECT_SCHEMA,
    "description": "A JSON object (not null), at most AIRLOCK_MAX_FIELD_BYTES (16 KB). Known keys "
    "are checked; others are kept.",
    "properties": {
        "input_source": {"type": "string", "enum": list(INPUT_SOURCES), "nullable": True},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
        "reasoning": {"type": "string"},
        "session": {"type": "string"},
        "model_version": {"type": "string"},
    },
}


@extend_schema_field(CONTEXT_SCHEMA)
class ContextField(BoundedObjectField):
    """The decide context: a bounded object whose known keys have fixed types."""


class DecideInputSerializer(StrictSerializer):
    action = ActionField(help_text="e.g. purchase_order.create")
    resource = StrictCharField(required=False, allow_blank=True, max_length=500, default="", trim_whitespace=False)
    params = BoundedObjectField(required=False, default=dict)
    context = ContextField(required=False, default=dict)
    idempotency_key = StrictCharField(required=False, allow_null=True, max_length=200)

    def validate_context(self, context: dict) -> dict:
        source = context.get("input_source")
        if source is not None and source not in INPUT_SOURCES:
            raise serializers.ValidationError(f"input_source must be one of {', '.join(INPUT_SOURCES)}")
        confidence = context.get("confidence")
        if confidence is not None:
            if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not math.isfinite(confidence):
                raise serializers.ValidationError("confidence must be a number between 0 and 1")
            if not 0 <= confidence <= 1:
                raise serializers.ValidationError("confidence must be between 0 and 1")
        for key in ("reasoning", "session", "model_version"):
            if key in context and not isinstance(context[key], str):
                raise serializers.ValidationError(f"{key} must be a string")
        return context


_DECIDE_FIELDS = frozenset(("action", "resource", "params", "context", "idempotency_key"))
_ACTION = re.compile(ACTION_PATTERN.removesuffix("$") + r"\Z")


def _plain(value, max_length: int) -> bool:
    """A string DecideInputSerializer's char fields take unchanged: ASCII (so no surrogate),
    no NUL, within max_length."""
    return isinstance(value, str) and len(value) <= max_length and value.isascii() and "\x00" not in value


def _bounded(value) -> bool:
    if not isinstance(value, dict):
        return False
    try:
        return len(canonical_json(value).encode()) <= settings.AIRLOCK_MAX_FIELD_BYTES
    except ValueError:
        return False


def _context_ok(context: dict) -> bool:
    try:
        DecideInputSerializer.validate_context(None, context)
    except serializers.ValidationError:
        return False
    return True


def decide_input(data) -> dict | None:
    """The validated decide body, for the bodies agents send (plain ASCII strings, objects
    within bounds): what DecideInputSerializer(data=data).validated_data holds, without DRF's
    per-field machinery (~15 % of a decide's CPU). None for anything else: the caller then
    runs the serializer, which answers exactly as before (errors included)."""
    if not isinstance(data, dict) or not data.keys() <= _DECIDE_FIELDS:
        return None
    action = data.get("action")
    if not _plain(action, 200) or _ACTION.match(action) is None:
        return None
    out = {"action": action, "resource": data.get("resource", ""), "params": data.get("params", None),
           "context": data.get("context", None)}
    if not _plain(out["resource"], 500):
        return None
    for name in ("params", "context"):
        if out[name] is None and name not in data:
            out[name] = {}
        elif not _bounded(out[name]):
            return None
    if not _context_ok(out["context"]):
        return None
    if "idempotency_key" in data:
        key = data["idempotency_key"]
        if key is not None and not (_plain(key, 200) and key and key == key.strip()):
            return None
        out["idempotency_key"] = key
    return out


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    rule = serializers.CharField(allow_blank=True)


class RiskFactorSerializer(serializers.Serializer):
    name = serializers.CharField()
    weight = serializers.FloatField()


class RiskSerializer(serializers.Serializer):
    score = serializers.FloatField()
    factors = RiskFactorSerializer(many=True)


STATUSES = ["allowed", "denied", "pending", "approved", "rejected", "expired"]


class DecisionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    decision = serializers.ChoiceField(["allow", "deny", "escalate"])
    status = serializers.ChoiceField(STATUSES)
    reasons = ReasonSerializer(many=True)
    risk = RiskSerializer()
    expires_at = serializers.DateTimeField(allow_null=True)
    envelope_version = serializers.IntegerField(allow_null=True)
    digest = serializers.CharField(help_text="SHA-256 of canonical JSON of action, resource and params")


class OutcomeSerializer(serializers.Serializer):
    status = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)
    effects = serializers.JSONField()
    reported_at = serializers.DateTimeField()


class RequestOutputSerializer(DecisionOutputSerializer):
    action = serializers.CharField()
    resource = serializers.CharField()
    params = serializers.JSONField()
    created_at = serializers.DateTimeField()
    decided_by = serializers.ListField(child=serializers.CharField())
    decided_at = serializers.DateTimeField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    approved_params = serializers.JSONField(allow_null=True)
    outcome = OutcomeSerializer(allow_null=True)


class OutcomeInputSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=["succeeded", "failed", "rolled_back"])
    detail = StrictCharField(required=False, allow_blank=True, max_length=10_000, default="", trim_whitespace=False)
    effects = BoundedObjectField(required=False, default=dict)


class VerifyInputSerializer(StrictSerializer):
    id = serializers.UUIDField()
    action = ActionField()
    resource = StrictCharField(required=False, allow_blank=True, max_length=500, default="", trim_whitespace=False)
    params = BoundedObjectField(required=False, default=dict)


class VerifyOutputSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    status = serializers.CharField()
    reason = serializers.CharField()


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
