from django.urls import path

from adminui.views import agents, anomalies, audit, authoring, dashboard, envelopes

app_name = "adminui"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("agents/", agents.agents, name="agents"),
    path("agents/<str:name>/", agents.agent_detail, name="agent"),
    path("agents/<str:name>/rotate/", agents.agent_rotate, name="agent_rotate"),
    path("agents/<str:name>/breaker-reset/", agents.agent_breaker_reset, name="agent_breaker_reset"),
    path("agents/<str:name>/suspend/", agents.agent_suspend, name="agent_suspend"),
    path("agents/<str:name>/resume/", agents.agent_resume, name="agent_resume"),
    path("agents/<str:name>/envelope/", envelopes.envelope_edit, name="envelope_edit"),
    path("agents/<str:name>/envelope/validate/", envelopes.envelope_validate_draft, name="envelope_validate"),
    path("agents/<str:name>/envelope/replay/", envelopes.envelope_replay, name="envelope_replay"),
    path("agents/<str:name>/envelope/check/", authoring.envelope_check, name="envelope_check"),
    path("agents/<str:name>/envelope/template/<slug:slug>/", authoring.envelope_template, name="envelope_template"),
    path("requests/<uuid:request_id>/always-allow/", authoring.always_allow, name="always_allow"),
    path("suggestions/", authoring.suggestions, name="suggestions"),
    path("suggestions/draft/", authoring.suggestion_draft, name="suggestion_draft"),
    path("agents/<str:name>/envelopes/", envelopes.envelope_versions, name="envelope_versions"),
    path("agents/<str:name>/envelopes/<int:version>/", envelopes.envelope_version, name="envelope_version"),
    path("agents/<str:name>/envelopes/<int:version>.yaml", envelopes.envelope_download, name="envelope_download"),
    path("audit/", audit.audit_list, name="audit"),
    path("audit/<int:pk>/", audit.audit_event, name="audit_event"),
    path("audit/verify/", audit.audit_chain_verify, name="audit_verify"),
    path("audit/export.jsonl", audit.audit_export, name="audit_export"),
    path("anomalies/", anomalies.anomalies, name="anomalies"),
    path("anomalies/<int:pk>/", anomalies.anomaly_detail, name="anomaly"),
    path("anomalies/<int:pk>/retag/", anomalies.anomaly_retag, name="anomaly_retag"),
    path("anomalies/<int:pk>/resolve/", anomalies.anomaly_resolve, name="anomaly_resolve"),
]
