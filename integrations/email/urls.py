from django.urls import path

from integrations.email import views

urlpatterns = [path("vote/<str:token>/", views.vote, name="email-vote")]
