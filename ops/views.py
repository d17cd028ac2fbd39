"""/healthz (the process serves), /readyz (database, migrations, Redis), /metrics (Prometheus).

Probes are plain Django views with no session or login: a load balancer or Prometheus calls
them. /readyz bounds every check (READY_TIMEOUT), so an unreachable database or Redis answers
503 quickly instead of holding the probe until its own timeout.
"""

import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ops.metrics import CONTENT_TYPE, metrics_text

logger = logging.getLogger("airlock.ops")
READY_TIMEOUT = 2.0  # seconds per check
# Checks run here so a hung connect cannot hold the request past READY_TIMEOUT. Bounded: when
# the database hangs, later probes queue behind the stuck ones and time out too (503).
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
_migrated = False  # once every migration is applied it stays so until the code changes


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_check() -> dict[str, str]:
    global _migrated
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        results = {"database": "ok"}
        if not _migrated:
            from django.db.migrations.executor import MigrationExecutor

            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if plan:
                return {**results, "migrations": f"{len(plan)} unapplied"}
            _migrated = True
        return {**results, "migrations": "ok"}
    finally:
        connection.close()  # this thread's connection (returned to the pool under PostgreSQL)


def _redis_check() -> dict[str, str]:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=READY_TIMEOUT,
                                  socket_connect_timeout=READY_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()
    return {"redis": "ok"}


def _run(check, names: tuple[str, ...]) -> dict[str, str]:
    try:
        return _checks.submit(check).result(timeout=READY_TIMEOUT)
    except FutureTimeout:
        return dict.fromkeys(names, f"timeout after {READY_TIMEOUT:g}s")
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready", with its kind
        logger.warning("readyz: %s failed: %s", "/".join(names), exc)
        return dict.fromkeys(names, f"error: {type(exc).__name__}")


@never_cache
@require_GET
def readyz(request):
    database = _checks.submit(_database_check)
    checks: dict[str, str] = {}
    checks.update(_run(_redis_check, ("redis",)))
    try:
        checks.update(database.result(timeout=READY_TIMEOUT))
    except FutureTimeout:
        checks.update(database=f"timeout after {READY_TIMEOUT:g}s", migrations="unknown")
    except Exception as exc:  # noqa: BLE001
        logger.warning("readyz: database failed: %s", exc)
        checks.update(database=f"error: {type(exc).__name__}", migrations="unknown")
    checks.setdefault("migrations", "unknown")
    failed = [name for name in ("database", "migrations", "redis") if checks.get(name) != "ok"]
    if failed:
        message = "; ".join(f"{name}: {checks[name]}" for name in failed)
        return JsonResponse(
            {"status": "unavailable", "checks": checks, "failed": failed,
             "error": {"code": "not_ready", "message": message}},
            status=503,
        )
    return JsonResponse({"status": "ready", "checks": checks})


@never_cache
@require_GET
def metrics(request):
    token = settings.METRICS_TOKEN
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = JsonResponse(
                {"error": {"code": "unauthorized", "message": "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>"}},
                status=401,
            )
            response["WWW-Authenticate"] = 'Bearer realm="airlock-metrics"'
            return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE)
