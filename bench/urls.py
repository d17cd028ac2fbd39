"""The product's URLs plus /bench/baseline, the least a decide endpoint could do."""

from django.urls import path

from airlock.urls import handler404, handler500  # noqa: F401
from airlock.urls import urlpatterns as product_urlpatterns
from bench.views import baseline_view

urlpatterns = [
    path("bench/baseline", baseline_view, name="bench-baseline"),
    *product_urlpatterns,
]
