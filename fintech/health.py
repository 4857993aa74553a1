"""Liveness and readiness probes.

``/healthz`` does no I/O: it answers while the process can serve at all, so an orchestrator only
restarts a replica that is really stuck. ``/readyz`` checks what a request needs (the database,
Redis when configured, and no unapplied migrations) and answers 503 otherwise, so the load
balancer stops routing to a replica that would fail.
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from kernel.errors import method_not_allowed

logger = logging.getLogger(__name__)

# Migrations are applied at deploy time, never while a process runs, so once this process has seen
# them all applied it need not load the migration graph again on every probe.
_migration_state = {"all_applied": False}


def _check_database() -> str | None:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any driver error means "not ready"
        logger.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return None


def _check_redis() -> str | None:
    if not settings.REDIS_URL:
        return None
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except redis.RedisError as exc:
        logger.warning("readiness: redis unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return None


def _check_migrations() -> str | None:
    if _migration_state["all_applied"]:
        return None
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # noqa: BLE001 - any failure means "unknown", never a 500
        logger.warning("readiness: migration state unknown (%s)", type(exc).__name__)
        return "unknown"
    if pending:
        return f"{len(pending)} unapplied"
    _migration_state["all_applied"] = True
    return None


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request, ["GET", "HEAD"])
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request, ["GET", "HEAD"])
    started = time.monotonic()
    checks: dict[str, str] = {}
    database = _check_database()
    checks["database"] = database or "ok"
    redis_state = _check_redis()
    checks["redis"] = redis_state or ("ok" if settings.REDIS_URL else "not configured")
    # Without a database the migration state cannot be read; report it as unknown.
    checks["migrations"] = (_check_migrations() or "ok") if database is None else "unknown"
    ready = all(value in ("ok", "not configured") for value in checks.values())
    body = {
        "status": "ready" if ready else "unavailable",
        "checks": checks,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    return JsonResponse(body, status=200 if ready else 503)
