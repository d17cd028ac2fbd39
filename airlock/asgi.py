"""ASGI entry: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from airlock.asgi_sync import SYNC_PATHS, SyncPaths  # noqa: E402
from airlock.routing import websocket_application  # noqa: E402
from api.body_limit import BodyLimitApp  # noqa: E402
from api.longpoll_asgi import LongPollApp  # noqa: E402


def build_application(*, sync_paths=SYNC_PATHS) -> ProtocolTypeRouter:
    # Long-polls (GET /api/v1/requests/{id}?wait=N) are answered before Django: no thread each.
    http_application = LongPollApp(django_asgi_app)
    if settings.AIRLOCK_SYNC_API:
        from django.core.wsgi import get_wsgi_application

        # POST decide and verify through Django's WSGI handler on a thread pool (asgi_sync.py).
        http_application = SyncPaths(
            http_application, get_wsgi_application(), paths=sync_paths,
            threads=settings.AIRLOCK_API_THREADS, max_body=settings.AIRLOCK_MAX_BODY_BYTES,
        )
    # Outermost: body limits enforced while reading, before anything (authentication included)
    # touches the body; any error escaping the app under /api/ answers JSON 503 deny.
    http_application = BodyLimitApp(http_application)
    return ProtocolTypeRouter({"http": http_application, "websocket": websocket_application})


application = build_application()
