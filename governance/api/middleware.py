"""Reject oversized API bodies before anything reads them."""

from django.conf import settings
from django.http import JsonResponse


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.AIRLOCK_MAX_BODY_BYTES

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > self.limit:
                message = f"request body over {self.limit} bytes" if length > 0 else "bad Content-Length"
                code, status = ("too_large", 413) if length > 0 else ("invalid_request", 400)
                return JsonResponse({"error": {"code": code, "message": message}}, status=status)
        return self.get_response(request)
