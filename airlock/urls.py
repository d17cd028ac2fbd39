"""The project's URLs: the JSON API, login, the admin UI, each registered channel, the queue."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from integrations import registry

urlpatterns = [
    path("api/v1/", include("api.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("django-admin/", admin.site.urls),
    path("admin/", include("adminui.urls")),
    *registry.urlpatterns(),
    path("", include("webqueue.urls")),
]

handler400 = "api.errors.json_400"
handler403 = "api.errors.json_403"
handler404 = "api.errors.json_404"
handler500 = "api.errors.json_500"
