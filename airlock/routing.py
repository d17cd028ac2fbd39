"""Websocket routes. Approvals adds the live queue consumer here."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from webqueue.consumers import QueueConsumer

websocket_urlpatterns: list = [
    path("ws/queue/", QueueConsumer.as_asgi()),
]

websocket_application = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
)
