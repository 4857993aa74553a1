"""Scheduled retention jobs (SPEC C8). Thin: each calls one function; idempotent and acks_late."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="compliance.retention.purge", acks_late=True, soft_time_limit=50 * 60, time_limit=55 * 60)
def purge_retention() -> dict[str, Any]:
    """Daily: purge rows past retention. A time limit mid-run leaves it resumable (next run)."""
    from compliance.retention.engine import retention_purge

    report = retention_purge()
    return {
        "run": report.run_public_id,
        "total": report.total,
        "per_policy": report.per_policy(),
        "errors": report.errors,
    }
