# gunicorn settings of the production web process: `make serve`, deploy/Procfile and the
# systemd unit run `gunicorn -c deploy/gunicorn.conf.py airlock.asgi:application`.
# Why this configuration: docs/deploy.md ("The web process") and bench/README.md.
import os

# Decide and verify through Django's WSGI handler on a thread pool inside each worker
# (airlock/asgi_sync.py): Django's ASGI handler costs several ms of CPU per request.
# Set before the workers import the settings; AIRLOCK_SYNC_API=0 in the environment wins.
os.environ.setdefault("AIRLOCK_SYNC_API", "1")

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# One worker per core (WEB_CONCURRENCY overrides): each is one Python process, one GIL.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
worker_class = "airlock.serving.Worker"
# Keep-alive behind the proxy (nginx keeps upstream connections open).
keepalive = 5
# A worker that stops answering its heartbeat for this long is replaced.
timeout = 30
graceful_timeout = 20
# The proxy on this host sets X-Forwarded-Proto / X-Forwarded-For.
forwarded_allow_ips = "127.0.0.1"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
accesslog = None


def child_exit(server, worker):
    """A dead worker's live gauges leave the shared metrics directory (docs/deploy.md §5)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
