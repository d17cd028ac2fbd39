from django.urls import include, path

from approvals import views

urlpatterns = [
    path("", views.queue, name="queue"),
    path("slack/", include("approvals.slack.urls")),
]
