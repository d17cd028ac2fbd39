"""The JSON API v1, for agents and approvers, mounted at /api/v1/ by airlock/urls.py."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import escalations, inbox, longpoll, outcomes, views

urlpatterns = [
    path("decide", views.decide_view, name="decide"),
    path("requests/<uuid:request_id>", longpoll.request_read, name="request"),
    path("requests/<uuid:request_id>/outcome", outcomes.outcome_view, name="request-outcome"),
    path("verify", views.verify_view, name="verify"),
    path("escalations/<uuid:request_id>/approve", escalations.approve_view, name="escalation-approve"),
    path("escalations/<uuid:request_id>/deny", escalations.deny_view, name="escalation-deny"),
    path("escalations/<uuid:request_id>/extend", inbox.extend_view, name="escalation-extend"),
    path("escalations/batch", inbox.batch_view, name="escalation-batch"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
