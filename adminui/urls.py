from django.urls import path

from adminui.views import agents, anomalies, audit, dashboard, envelopes, facts, incidents, reliability, requests

app_name = "adminui"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("agents/", agents.agents, name="agents"),
    path("agents/<str:name>/", agents.agent_detail, name="agent"),
    path("agents/<str:name>/rotate/", agents.agent_rotate, name="agent_rotate"),
    path("agents/<str:name>/breaker-reset/", agents.agent_breaker_reset, name="agent_breaker_reset"),
    path("agents/<str:name>/suspend/", agents.agent_suspend, name="agent_suspend"),
    path("agents/<str:name>/resume/", agents.agent_resume, name="agent_resume"),
    path("agents/<str:name>/shadow/", reliability.agent_shadow, name="agent_shadow"),
    path("agents/<str:name>/shadow/promote/", reliability.agent_shadow_promote, name="agent_shadow_promote"),
    path("agents/<str:name>/shadow/discard/", reliability.agent_shadow_discard, name="agent_shadow_discard"),
    path("agents/<str:name>/envelope/", envelopes.envelope_edit, name="envelope_edit"),
    path("agents/<str:name>/envelope/validate/", envelopes.envelope_validate_draft, name="envelope_validate"),
    path("agents/<str:name>/envelope/replay/", envelopes.envelope_replay, name="envelope_replay"),
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
    path("requests/<uuid:request_id>/", requests.request_detail, name="request"),
    path("facts/", facts.facts_edit, name="facts"),
    path("facts/<int:version>/", facts.facts_version, name="facts_version"),
    path("facts/proposals/<int:pk>/", facts.fact_proposal_review, name="fact_proposal"),
    path("incidents/", incidents.incidents, name="incidents"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident"),
    path("incidents/<int:pk>/contributions/", incidents.incident_contribution, name="incident_contribution"),
    path("incidents/<int:pk>/export.md", incidents.incident_export, name="incident_export"),
]
