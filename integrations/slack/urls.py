from django.urls import path

from approvals.slack import views

urlpatterns = [
    path("interactions/", views.interactions, name="slack-interactions"),
]
