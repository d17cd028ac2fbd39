"""The base of Airlock's middleware: sync- and async-capable, it runs in the handler's mode.

Under ASGI one sync-only middleware would run every request (long-polls included) in a thread
blocked for the whole request. A subclass overrides `handle` (sync) and `ahandle` (async);
by default both pass the request on.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class SyncAsyncMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.ahandle(request)
        return self.handle(request)

    def handle(self, request):
        return self.get_response(request)

    async def ahandle(self, request):
        return await self.get_response(request)
