"""The Celery app: broker is REDIS_URL (embedded redis-server by default)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")

app = Celery("airlock")
app.config_from_object("django.conf:settings", namespace="CELERY")
# tasks.py of every installed app: the domain apps, the interfaces and each registered channel.
app.autodiscover_tasks()
