from django.urls import path

from tests.integrations.echo import views

urlpatterns = [path("vote/<uuid:request_id>", views.vote, name="echo-vote")]
