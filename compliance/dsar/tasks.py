from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from compliance.dsar.erasure import destroy_keys_of_erased, erase_subject
from compliance.dsar.erasure_ledger import ledger_record_pending
from compliance.dsar.escalation import dsar_escalate
from compliance.dsar.export import export_create
from compliance.dsar.models import DataSubjectRequest
from compliance.dsar.notices import TASK_RETRIES, Delivery, notice_attempt, notices_resend_due


@shared_task(name="compliance.dsar.escalate", acks_late=True)
def escalate_dsar_deadlines() -> dict[str, int]:
    """Daily: notify officers of requests due within 7 days and overdue ones (idempotent per day)."""
    return dsar_escalate()


@shared_task(name="compliance.dsar.build_export", acks_late=True)
def build_dsar_export(dsar_id: int) -> str | None:
    """Gather, zip, encrypt and store an approved access/portability request (idempotent)."""
    export = export_create(dsar=DataSubjectRequest.objects.get(pk=dsar_id))
    return str(export.public_id) if export else None


@shared_task(name="compliance.dsar.erase_subject", acks_late=True)
def erase_dsar_subject(dsar_id: int) -> bool:
    """Carry out an approved deletion (idempotent: a fulfilled request is left alone)."""
    return erase_subject(dsar=DataSubjectRequest.objects.get(pk=dsar_id)) is not None


@shared_task(name="compliance.dsar.send_notice", bind=True, acks_late=True, max_retries=TASK_RETRIES)
def send_dsar_notice(self: Any, notice_id: int) -> bool:
    """Deliver one recorded notice to the data subject (idempotent: a sent notice is left alone).

    A failed attempt is recorded on the notice and retried with exponential backoff; after the
    task's retries the notice stays pending for the beat sweep (``resend_dsar_notices``)."""
    outcome = notice_attempt(notice_id=notice_id)
    if outcome is Delivery.RETRY and self.request.retries < TASK_RETRIES:
        raise self.retry(countdown=settings.DSAR_NOTICE_RETRY_SECONDS * 2**self.request.retries)
    return outcome is Delivery.SENT


@shared_task(name="compliance.dsar.resend_notices", acks_late=True)
def resend_dsar_notices() -> dict[str, int]:
    """Beat: one more attempt for each notice still pending after the resend delay."""
    return notices_resend_due()


@shared_task(
    name="compliance.dsar.record_erasures",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=20,
)
def record_erasures() -> int:
    """Append completed erasures to the erasure ledger outside the database (idempotent; retried
    with backoff until the archive answers, and swept by beat); then destroy any subject key a
    crash left live after its erasure committed (a separate key store destroys it after the commit)."""
    try:
        return ledger_record_pending()
    finally:
        destroy_keys_of_erased()
