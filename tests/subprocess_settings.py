"""Settings for a child process (Celery worker, ASGI server) that must use the test database.

The parent passes the test database name in AIRLOCK_TEST_DB_NAME; everything else (engine,
SQLite WAL and IMMEDIATE transactions, Redis, queue and channel prefix) stays as configured.
"""

import os

from airlock.settings import *  # noqa: F403
from airlock.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["AIRLOCK_TEST_DB_NAME"]
