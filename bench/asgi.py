"""The product's ASGI application, with /bench/baseline served the way decide is (through
the WSGI thread pool when AIRLOCK_SYNC_API=1), so the two compare like for like."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from airlock.asgi import build_application  # noqa: E402
from airlock.asgi_sync import SYNC_PATHS  # noqa: E402

application = build_application(sync_paths=SYNC_PATHS | {"/bench/baseline"})
