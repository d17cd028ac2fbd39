"""ASGI entry: HTTP through Django, websockets through Channels (added by approvals)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from approvals.longpoll_asgi import LongPollApp  # noqa: E402
from governance.routing import websocket_application  # noqa: E402

# Long-polls (GET /api/v1/requests/{id}?wait=N) are answered before Django: no thread each.
application = ProtocolTypeRouter({"http": LongPollApp(django_asgi_app), "websocket": websocket_application})
