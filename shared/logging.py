"""Logging helpers: every record carries the current request id (None outside a request)."""

import logging

from shared.request_id import request_id_get


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs after the middleware has returned, with the request attached.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id_get()
        return True
