"""The live queue socket: server-to-browser pushes only (every change is an ordinary POST)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from webqueue import live

# Per-person rendering runs in the thread pool, so many sockets render side by side instead
# of queueing behind one shared thread.
_render = database_sync_to_async(live.render_event, thread_sensitive=False)

# Application close code: htmx's ws extension does not reconnect on 4xxx codes.
SIGNED_OUT = 4401


class QueueConsumer(AsyncWebsocketConsumer):
    """Pushes queue fragments to one signed-in person: only escalations they may answer."""

    user_id: int | None = None
    session_key: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            # Closing before accepting refuses the handshake (HTTP 403).
            await self.close()
            return
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key
        await self.channel_layer.group_add(live.QUEUE_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            await self.channel_layer.group_discard(live.QUEUE_GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Ignored: the socket is one-way."""

    async def queue_event(self, message: dict) -> None:
        push = await _render(self.user_id, self.session_key, message)
        if push.close:
            await self.close(code=SIGNED_OUT)
        elif push.html:
            await self.send(text_data=push.html)
