from __future__ import annotations

from celery import shared_task

from compliance.dsar.erasure import destroy_keys_of_erased, erase_subject
from compliance.dsar.erasure_ledger import ledger_record_pending
from compliance.dsar.escalation import dsar_escalate
from compliance.dsar.export import export_create
from compliance.dsar.models import DataSubjectRequest
from compliance.dsar.notices import notice_deliver


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


@shared_task(name="compliance.dsar.send_notice", acks_late=True)
def send_dsar_notice(notice_id: int) -> bool:
    """Deliver one recorded notice to the data subject (idempotent: a sent notice is left alone)."""
    return notice_deliver(notice_id=notice_id)


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
