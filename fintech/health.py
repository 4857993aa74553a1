"""Liveness and readiness probes.

``/healthz`` does no I/O: it answers while the process can serve at all, so an orchestrator only
restarts a replica that is really stuck.

``/readyz`` answers "should the load balancer send this instance requests?". The app is stateless
and every instance shares one database and one Redis, so an outage of either is the same on every
instance: failing readiness for it would take every instance out of the load balancer at once,
and clients would get the balancer's own error page (or a refused connection) for the whole
failover, instead of the app's 503 in the JSON shape with Retry-After (kernel/errors.py), and
no instance would be in rotation at the moment the new leader is elected. So (docs/ARCHITECTURE.md,
"Availability"):

- readiness gates on what is particular to this process: it has seen every migration it knows
  applied (its code matches the schema); checked once, remembered, so a database outage after
  start-up does not make it unready, while a new instance started during an outage stays out
  until it can check;
- the shared dependencies (database, Redis) are still checked and reported in the body (status
  ``degraded``) for the dashboard and the on-call; their outages page through the alerts
  (FintechServiceUnavailable, the database and Redis alerts), not through the balancer.
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
    """A fresh connection that gives up after one second: a hung database (or one mid-failover)
    cannot hold the probe past the orchestrator's and the load balancer's probe timeouts."""
    params = {**connections[DEFAULT_DB_ALIAS].get_connection_params(), "connect_timeout": 1}
    try:
        if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
            import psycopg

            with psycopg.connect(**params) as probe:
                probe.execute("SELECT 1")
        else:
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
    # Once confirmed the migration state is remembered; before that it needs the database.
    if _migration_state["all_applied"] or database is None:
        checks["migrations"] = _check_migrations() or "ok"
    else:
        checks["migrations"] = "unknown"
    ready = checks["migrations"] == "ok"
    healthy = ready and all(value in ("ok", "not configured") for value in checks.values())
    body = {
        "status": "ready" if healthy else ("degraded" if ready else "unavailable"),
        "checks": checks,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    return JsonResponse(body, status=200 if ready else 503)
