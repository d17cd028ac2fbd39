"""The Celery app: broker is REDIS_URL (embedded redis-server by default)."""

import os

from celery import Celery
from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")

app = Celery("airlock")
app.config_from_object("django.conf:settings", namespace="CELERY")
# tasks.py of every installed app: the domain apps, the interfaces and each registered channel.
app.autodiscover_tasks()



# The outbox relay (governance/outbox.py) runs in every process that executes tasks: each
# prefork child (started after the fork, so no thread or database connection crosses a fork),
# or the worker itself with the threads and solo pools. Two relays never deliver one row.
@worker_process_init.connect
def _outbox_relay_start_in_child(**kwargs) -> None:
    from governance.outbox import relay_start

    relay_start()


@worker_process_shutdown.connect
def _outbox_relay_stop_in_child(**kwargs) -> None:
    from governance.outbox import relay_stop

    relay_stop()


@worker_ready.connect
def _outbox_relay_start(sender=None, **kwargs) -> None:
    from governance.outbox import relay_start

    if not type(getattr(sender, "pool", None)).__module__.endswith(".prefork"):  # children run it there
        relay_start()


@worker_shutdown.connect
def _outbox_relay_stop(**kwargs) -> None:
    from governance.outbox import relay_stop

    relay_stop()
