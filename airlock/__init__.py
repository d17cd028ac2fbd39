"""The Airlock project package: settings, URLs, ASGI/WSGI entry points, Celery, websocket routing.

Celery is bound here, as in Celery's Django recipe, so that every process that loads the
project (web, worker, beat, manage.py) gives @shared_task our app. The domain packages below
(governance, approvals, the policy engine) never import this package.
"""

from airlock.celery import app as celery_app

__all__ = ("celery_app",)
