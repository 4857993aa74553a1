from __future__ import annotations

from celery import shared_task

from compliance.dsar.escalation import dsar_escalate


@shared_task(name="compliance.dsar.escalate", acks_late=True)
def escalate_dsar_deadlines() -> dict[str, int]:
    """Daily: notify officers of requests due within 7 days and overdue ones (idempotent per day)."""
    return dsar_escalate()
