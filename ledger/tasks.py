"""Ledger routines run by Celery beat."""

from __future__ import annotations

import logging

from celery import shared_task

from ledger.metrics import record_reconciliation
from ledger.reconciliation import check_ledger

logger = logging.getLogger(__name__)


@shared_task(name="ledger.tasks.check_ledger", acks_late=True, ignore_result=False)
def check_ledger_task() -> dict[str, object]:
    """Daily reconciliation; read-only, so idempotent and safe to retry. Logs an error on mismatch."""
    report = check_ledger()
    record_reconciliation(report)
    if not report.ok:
        logger.error("ledger reconciliation failed", extra={"problems": report.problems[:50]})
    return {"ok": report.ok, "accounts": report.accounts, "postings": report.postings, "problems": len(report.problems)}
