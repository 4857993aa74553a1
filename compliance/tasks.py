"""Scheduled audit-trail jobs. Thin: each calls one function; all are idempotent and acks_late."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from compliance.archive import export_segments
from compliance.audit_chain import seal_and_export_head, verify_and_alert


@shared_task(name="compliance.tasks.seal_audit_events", acks_late=True, ignore_result=True)
def seal_audit_events() -> dict[str, Any]:
    """Every few seconds (and on demand): chain the records committed since the last run."""
    result = seal_and_export_head()
    return {"sealed": result.sealed, "head_seq": result.head_seq}


@shared_task(name="compliance.tasks.verify_audit_chain", acks_late=True)
def verify_audit_chain() -> dict[str, Any]:
    """Hourly: verify the whole chain; a failure alerts (log, metric, admin warning)."""
    result = verify_and_alert()
    return {"ok": result.ok, "first_broken_seq": result.first_broken_seq, "checked": result.checked}


@shared_task(name="compliance.tasks.archive_audit_segments", acks_late=True)
def archive_audit_segments() -> dict[str, Any]:
    """Daily: seal, then export the newly sealed records as segments with a manifest."""
    seal_and_export_head(force_head=True)
    return export_segments()


# --- SPEC C8: retention purges and secret-rotation checks ---------------------------------------


@shared_task(name="compliance.retention.purge", acks_late=True, soft_time_limit=50 * 60, time_limit=55 * 60)
def purge_retention() -> dict[str, Any]:
    """Daily: purge rows past retention. A time limit mid-run leaves it resumable (next run)."""
    from compliance.retention import retention_purge

    report = retention_purge()
    return {"run": report.run_public_id, "total": report.total, "per_policy": report.per_policy()}


@shared_task(name="compliance.secrets.check", acks_late=True, soft_time_limit=5 * 60, time_limit=6 * 60)
def check_secrets() -> dict[str, Any]:
    """Daily: alert on overdue secrets and rotate the ones the platform owns."""
    from compliance.secrets_inventory import secrets_check

    result = secrets_check()
    return {"checked": result.checked, "alerts": result.alerts, "rotated": result.rotated}


@shared_task(
    name="compliance.crypto.continue_key_rotation", acks_late=True, soft_time_limit=50 * 60, time_limit=55 * 60
)
def continue_key_rotation(run_id: int) -> dict[str, Any]:
    """Advance a field-key re-encryption started by the secret check (resumable, idempotent)."""
    from compliance.crypto.rotation import key_rotation_run
    from compliance.models import KeyRotationRun

    run = KeyRotationRun.objects.get(pk=run_id)
    if run.state == KeyRotationRun.State.COMPLETED:
        return {"state": run.state, "rows_rewritten": run.rows_rewritten}
    run = key_rotation_run(run=run, pause_seconds=0.05)
    return {"state": run.state, "rows_rewritten": run.rows_rewritten}
