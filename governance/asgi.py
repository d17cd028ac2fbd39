"""ASGI entry: HTTP through Django, websockets through Channels (added by approvals)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from approvals.longpoll_asgi import LongPollApp  # noqa: E402
from governance.api.body_limit import BodyLimitApp  # noqa: E402
from governance.routing import websocket_application  # noqa: E402

# Long-polls (GET /api/v1/requests/{id}?wait=N) are answered before Django: no thread each.
http_application = LongPollApp(django_asgi_app)
if settings.AIRLOCK_SYNC_API:
    from django.core.wsgi import get_wsgi_application

    from governance.asgi_sync import SyncPaths

    # POST decide and verify through Django's WSGI handler on a thread pool (asgi_sync.py).
    http_application = SyncPaths(
        http_application, get_wsgi_application(),
        threads=settings.AIRLOCK_API_THREADS, max_body=settings.AIRLOCK_MAX_BODY_BYTES,
    )

# Outermost: body limits enforced while reading, before anything (authentication included)
# touches the body; any error escaping the app under /api/ answers JSON 503 deny.
http_application = BodyLimitApp(http_application)

application = ProtocolTypeRouter({"http": http_application, "websocket": websocket_application})
