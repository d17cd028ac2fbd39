"""Approver API routes, included under /api/v1/ by governance/urls.py."""

from django.urls import path

from approvals import api

urlpatterns = [
    path("escalations/<uuid:request_id>/approve", api.approve_view, name="escalation-approve"),
    path("escalations/<uuid:request_id>/deny", api.deny_view, name="escalation-deny"),
]
