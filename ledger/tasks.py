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


@shared_task(name="ledger.tasks.expire_pending_deposits", acks_late=True, ignore_result=False)
def expire_pending_deposits_task() -> dict[str, int]:
    """Void deposits still unsettled past their expiry (ADR 0005). Idempotent: a deposit already
    settled or voided is skipped, so a retried or overlapping run voids nothing twice."""
    from ledger.settlement.services import expire_pending_deposits

    return {"voided": expire_pending_deposits()}


@shared_task(name="ledger.tasks.void_card_authorisation", acks_late=True, ignore_result=True)
def void_card_authorisation(reference: str) -> None:
    """Release the card hold of a voided card deposit at the processor (enqueued on commit of the
    void). Idempotent: voiding a released authorisation is a no-op at the processor."""
    from ledger.settlement.processors import card_processor

    card_processor().void(reference=reference)
