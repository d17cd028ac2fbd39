"""Django admin: anomalies for triage (changes go through the audited services), the rest
read-only. The application's own admin UI is the main tool; this is the fallback."""

from django.contrib import admin, messages

from governance.anomalies import anomaly_resolve, anomaly_retag
from governance.errors import AirlockError
from governance.models import Agent, Anomaly, AuditEvent, DecisionRequest, Envelope


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse only: every change must go through a service that writes the audit trail."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Agent)
class AgentAdmin(ReadOnlyAdmin):
    list_display = ("name", "status", "breaker_tripped_at", "active_envelope", "last_seen_at")
    list_filter = ("status",)
    search_fields = ("name",)


@admin.register(Envelope)
class EnvelopeAdmin(ReadOnlyAdmin):
    list_display = ("agent", "version", "created_via", "created_by", "created_at")
    list_filter = ("created_via",)
    search_fields = ("agent__name", "comment")


@admin.register(DecisionRequest)
class DecisionRequestAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "agent", "action", "resource", "decision", "status", "violation")
    list_filter = ("decision", "status", "violation", "input_source")
    search_fields = ("id", "agent__name", "action", "resource", "session")
    date_hierarchy = "created_at"
    list_select_related = ("agent",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "chain", "seq", "kind", "actor", "request_id")
    list_filter = ("kind",)
    search_fields = ("actor", "kind", "request_id")
    date_hierarchy = "created_at"


def _each(modeladmin, request, queryset, change, done: str):
    count = 0
    for anomaly in queryset:
        try:
            change(anomaly)
            count += 1
        except AirlockError as exc:
            modeladmin.message_user(request, f"anomaly {anomaly.pk}: {exc.message}", messages.WARNING)
    if count:
        modeladmin.message_user(request, f"{count} anomalies {done}")


def _retag_action(tag: str):
    def action(modeladmin, request, queryset):
        _each(modeladmin, request, queryset, lambda a: anomaly_retag(anomaly=a, tag=tag, by=request.user), f"tagged {tag}")

    action.__name__ = f"retag_{tag}"
    action.short_description = f"Tag selected anomalies as {tag}"
    return action


@admin.action(description="Resolve selected anomalies")
def resolve(modeladmin, request, queryset):
    note = f"resolved from Django admin by {request.user.get_username()}"
    _each(modeladmin, request, queryset, lambda a: anomaly_resolve(anomaly=a, note=note, by=request.user), "resolved")


@admin.register(Anomaly)
class AnomalyAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "agent", "code", "tag", "state", "tag_reason")
    list_filter = ("tag", "state", "code")
    search_fields = ("agent__name", "code", "tag_reason", "note")
    date_hierarchy = "created_at"
    list_select_related = ("agent",)
    actions = [_retag_action(t) for t in Anomaly.Tag.values] + [resolve]
