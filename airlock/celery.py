"""The Celery app: broker is REDIS_URL (embedded redis-server by default)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("airlock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["governance", "approvals", "approvals.slack"])
