"""The Celery app: broker is REDIS_URL (embedded redis-server by default)."""

import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")

app = Celery("airlock")
app.config_from_object("django.conf:settings", namespace="CELERY")
# tasks.py of every installed app: the domain apps, the interfaces and each registered channel.
app.autodiscover_tasks()


@worker_ready.connect
def _outbox_relay_start(**kwargs) -> None:
    """Every worker delivers the transactional outbox (governance/outbox.py)."""
    from governance.outbox import relay_start

    relay_start()


@worker_shutdown.connect
def _outbox_relay_stop(**kwargs) -> None:
    from governance.outbox import relay_stop

    relay_stop()
