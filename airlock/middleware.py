"""Reject oversized API bodies before anything reads them; serve static files.

All are sync- and async-capable (shared.middleware): under ASGI one sync-only middleware would
run every request (long-polls included) in a thread blocked for the whole request.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from shared.middleware import SyncAsyncMiddleware


class BodySizeLimitMiddleware(SyncAsyncMiddleware):
    def __init__(self, get_response):
        super().__init__(get_response)
        self.limit = settings.AIRLOCK_MAX_BODY_BYTES

    def handle(self, request):
        return self.refuse(request) or self.get_response(request)

    async def ahandle(self, request):
        return self.refuse(request) or await self.get_response(request)

    def refuse(self, request) -> JsonResponse | None:
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > self.limit:
                message = f"request body over {self.limit} bytes" if length > 0 else "bad Content-Length"
                code, status = ("too_large", 413) if length > 0 else ("invalid_request", 400)
                return JsonResponse({"error": {"code": code, "message": message}}, status=status)
        return None


class ApiErrorMiddleware(SyncAsyncMiddleware):
    """An exception escaping a view under /api/ is a logged JSON 503 deny, even with DEBUG
    (Django would answer its HTML or text/plain debug page). DRF views answer through
    api.errors.exception_handler first; this catches the rest (long-poll, schema)."""

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/"):
            return None
        from api.errors import unexpected_error_body

        return JsonResponse(unexpected_error_body(exception, request), status=503)


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, async-capable: only requests for static files touch a thread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if request.path_info.startswith(self.static_prefix):
            if self.autorefresh:
                static_file = await sync_to_async(self.find_file)(request.path_info)
            else:
                static_file = self.files.get(request.path_info)
            if static_file is not None:
                return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)
