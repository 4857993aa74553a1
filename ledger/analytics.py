"""Usage analytics (the ``analytics`` purpose, consent-based): per-customer activity, pseudonymous.

Only subjects ``may_process(subject, "analytics")`` allows are counted (``processable_subjects``,
the same rule in bulk): no consent, a withdrawal, an objection or a restriction leaves the subject
out. The subject is named by a keyed pseudonym (stable per subject, meaningless without our key),
never by an identifier that leads back to them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import Abs

from compliance.consent.consumers import register_purpose_consumer
from compliance.consent.selectors import processable_subjects
from ledger.models import AccountKind, Posting

ANALYTICS = "analytics"
register_purpose_consumer(ANALYTICS, "ledger.analytics.usage_analytics")


@dataclass(frozen=True)
class UsageRow:
    subject: str  # keyed pseudonym
    postings: int
    volume: int  # minor units moved in or out


def _pseudonym(public_id: object) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"analytics|{public_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def usage_analytics(*, since: datetime) -> list[UsageRow]:
    """Wallet activity since ``since`` per subject who may be processed for analytics."""
    rows = (
        Posting.objects.filter(
            account__kind=AccountKind.CUSTOMER_WALLET,
            account__owner__in=processable_subjects(ANALYTICS).values("pk"),
            created_at__gte=since,
        )
        .values("account__owner__public_id")
        .annotate(postings=Count("id"), volume=Sum(Abs("amount")))
        .order_by("account__owner__public_id")
    )
    return [UsageRow(_pseudonym(row["account__owner__public_id"]), row["postings"], row["volume"] or 0) for row in rows]
