"""ASGI entry: HTTP through Django, websockets through Channels (added by approvals)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from governance.routing import websocket_application  # noqa: E402

http_application = django_asgi_app
if settings.AIRLOCK_SYNC_API:
    from django.core.wsgi import get_wsgi_application

    from governance.asgi_sync import SyncPaths

    http_application = SyncPaths(
        django_asgi_app, get_wsgi_application(),
        threads=settings.AIRLOCK_API_THREADS, max_body=settings.AIRLOCK_MAX_BODY_BYTES,
    )

application = ProtocolTypeRouter({"http": http_application, "websocket": websocket_application})
