import os

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from approvals import longpoll
from governance.api import views as api

api_v1 = [
    path("decide", api.decide_view, name="decide"),
    path("requests/<uuid:request_id>", longpoll.request_read, name="request"),
    path("verify", api.verify_view, name="verify"),
    path("", include("approvals.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("django-admin/", admin.site.urls),
    path("admin/", include("governance.adminui.urls")),
    path("", include("approvals.urls")),
]

handler400 = "governance.api.errors.json_400"
handler403 = "governance.api.errors.json_403"
handler404 = "governance.api.errors.json_404"
handler500 = "governance.api.errors.json_500"

# bench/decide_http.py compares POST /api/v1/decide with a bare endpoint on the same server.
# Off unless the benchmark starts the server with AIRLOCK_BENCH_BASELINE=1.
if os.environ.get("AIRLOCK_BENCH_BASELINE") == "1":
    from governance.bench_views import baseline_view

    urlpatterns.insert(0, path("bench/baseline", baseline_view, name="bench-baseline"))
