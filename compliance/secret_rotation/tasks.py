"""Scheduled secret-rotation checks (SPEC C8). Thin: each calls one function; idempotent and acks_late."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="compliance.secrets.check", acks_late=True, soft_time_limit=5 * 60, time_limit=6 * 60)
def check_secrets() -> dict[str, Any]:
    """Daily: alert on overdue secrets and rotate the ones the platform owns."""
    from compliance.secret_rotation.inventory import secrets_check

    result = secrets_check()
    return {"checked": result.checked, "alerts": result.alerts, "rotated": result.rotated}


@shared_task(
    name="compliance.crypto.continue_key_rotation", acks_late=True, soft_time_limit=50 * 60, time_limit=55 * 60
)
def continue_key_rotation(run_id: int) -> dict[str, Any]:
    """Advance a field-key re-encryption started by the secret check (resumable, idempotent)."""
    from compliance.crypto.models import KeyRotationRun
    from compliance.secret_rotation.rotation import key_rotation_run

    run = KeyRotationRun.objects.get(pk=run_id)
    if run.state == KeyRotationRun.State.COMPLETED:
        return {"state": run.state, "rows_rewritten": run.rows_rewritten}
    run = key_rotation_run(run=run, pause_seconds=0.05)
    return {"state": run.state, "rows_rewritten": run.rows_rewritten}
