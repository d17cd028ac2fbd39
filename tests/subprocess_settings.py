"""Settings for a child process (Celery worker, ASGI server) that must use the test database.

The parent passes the test database name in AIRLOCK_TEST_DB_NAME; everything else (engine,
SQLite WAL and IMMEDIATE transactions, Redis, queue and channel prefix) stays as configured,
except that callbacks may go to the tests' local receivers (AIRLOCK_CALLBACK_ALLOW_PRIVATE).
"""

import os

from airlock.settings import *  # noqa: F403
from airlock.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["AIRLOCK_TEST_DB_NAME"]
AIRLOCK_CALLBACK_ALLOW_PRIVATE = os.environ.get("AIRLOCK_CALLBACK_ALLOW_PRIVATE", "true").lower() == "true"
