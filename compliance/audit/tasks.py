"""Scheduled audit-trail jobs. Thin: each calls one function; all are idempotent and acks_late."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from compliance.audit.archive import export_segments
from compliance.audit.chain import seal_and_export_head, verify_and_alert
from compliance.audit.transparency import archive_checkpoints


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
    """Daily: seal, then export the newly sealed records as segments with a manifest, and any
    checkpoint a storage outage kept out of the archive."""
    seal_and_export_head(force_head=True)
    return export_segments() | {"checkpoints_written": archive_checkpoints()}
