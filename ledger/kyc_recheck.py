"""Periodic KYC re-checks (the ``kyc`` purpose): which verified customers are due for a refresh of
their due diligence, and whose re-check is paused by a restriction.

Decision (ADR 0004): a restriction on ``kyc`` (POPIA s14) pauses this non-essential re-check; it
never stops the verification FICA s21 requires before money moves (``kyc_submit``/``kyc_decide``
do not ask) nor FICA record-keeping (s22): POPIA s14(6) lets restricted information be stored and
processed where the law requires. The plan says so for each paused record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from compliance.consent.consumers import register_purpose_consumer
from compliance.consent.selectors import processable_subjects
from ledger.models import KycRecord, KycStatus

KYC = "kyc"
register_purpose_consumer(KYC, "ledger.kyc_recheck.kyc_rechecks_due")

DEFAULT_RECHECK_DAYS = 730
PAUSED_REASON = (
    "Paused: the customer restricted or objected to KYC processing (POPIA s14 / s11(3)). The periodic "
    "re-check is not required by law and waits; the FICA verification before money moves and the FICA "
    "records (s21, s22) continue, as POPIA s14(6) allows."
)


@dataclass(frozen=True)
class KycRecheckPlan:
    due: list[KycRecord] = field(default_factory=list)
    paused: list[KycRecord] = field(default_factory=list)
    paused_reason: str = PAUSED_REASON


def recheck_after() -> timedelta:
    return timedelta(days=int(getattr(settings, "LEDGER_KYC_RECHECK_DAYS", DEFAULT_RECHECK_DAYS)))


def kyc_rechecks_due(*, now: datetime | None = None) -> KycRecheckPlan:
    """Verified records of active customers decided longer ago than the re-check period, split into
    due (``may_process(user, "kyc")``) and paused (restricted or objected)."""
    now = now or timezone.now()
    candidates = KycRecord.objects.filter(
        status=KycStatus.VERIFIED, user__is_active=True, decided_at__lt=now - recheck_after()
    ).order_by("decided_at", "pk")
    allowed = processable_subjects(KYC).values("pk")
    return KycRecheckPlan(
        due=list(candidates.filter(user__in=allowed)), paused=list(candidates.exclude(user__in=allowed))
    )
