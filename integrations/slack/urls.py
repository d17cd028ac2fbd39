from django.urls import path

from integrations.slack import views

urlpatterns = [
    path("interactions/", views.interactions, name="slack-interactions"),
]
