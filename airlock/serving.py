"""The production web process (`make serve`, deploy/Procfile, docs/deploy.md): gunicorn
supervising uvicorn workers, one per core, each serving airlock.asgi:application with
AIRLOCK_SYNC_API=1 (decide and verify through Django's WSGI handler on a thread pool;
pages, long-polls and websockets on the ASGI handler). Why: bench/README.md, decide_http.py.

The gunicorn settings are in deploy/gunicorn.conf.py; this module is the worker class.
"""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    """uvicorn-worker's worker as uvicorn runs in make run: no lifespan (Channels' router has
    none), no Server header; access log, keep-alive and proxy addresses from gunicorn."""

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "lifespan": "off", "server_header": False}
