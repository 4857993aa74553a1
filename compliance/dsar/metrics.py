"""Prometheus metrics for the DSAR backlog, computed at scrape time (one aggregate query).

``fintech_dsar_open`` (by type), ``fintech_dsar_overdue`` and ``fintech_dsar_due_within_7_days``
let alerting page the Information Officer before a statutory deadline passes (SPEC C6, C9).
``fintech_dsar_erasures_unrecorded``: completed erasures not in the erasure ledger outside the
database after ``ERASURE_LEDGER_GRACE_SECONDS`` (a restore would bring those subjects back).
``fintech_dsar_notices_undelivered``: notices to subjects failed for good or pending past the
resend delay (``compliance.dsar.notices``): the officer must reach the subject another way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import ClassVar

from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from kernel.metrics import ScrapeTimeGauges, register_once


class DsarBacklogCollector(ScrapeTimeGauges):
    GAUGES: ClassVar = {
        "fintech_dsar_open": ("Open data-subject requests.", ("type",)),
        "fintech_dsar_overdue": ("Open data-subject requests past their deadline.", ()),
        "fintech_dsar_due_within_7_days": ("Open requests due within seven days.", ()),
        "fintech_dsar_erasures_unrecorded": (
            "Completed erasures not yet recorded in the erasure ledger outside the database.",
            (),
        ),
        "fintech_dsar_notices_undelivered": (
            "Notices to data subjects not delivered: failed for good, or still pending after the resend delay.",
            (),
        ),
    }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from compliance.dsar.erasure_ledger import unrecorded_erasures
        from compliance.dsar.models import DataSubjectRequest, DsarType
        from compliance.dsar.notices import undelivered_notices

        now = timezone.now()
        try:
            rows = list(
                DataSubjectRequest.objects.open()
                .values("type")
                .annotate(
                    total=Count("id"),
                    overdue=Count("id", filter=Q(due_at__lt=now)),
                    soon=Count("id", filter=Q(due_at__gte=now, due_at__lt=now + timedelta(days=7))),
                )
            )
            unrecorded = unrecorded_erasures()
            undelivered = undelivered_notices()
        except Exception:  # noqa: BLE001 - a database outage must not break the whole scrape
            return
        by_type = {row["type"]: row for row in rows}
        open_requests = self.gauge("fintech_dsar_open")
        for dsar_type in DsarType.values:
            open_requests.add_metric([dsar_type], by_type.get(dsar_type, {}).get("total", 0))
        yield open_requests
        yield self.value("fintech_dsar_overdue", sum(row["overdue"] for row in rows))
        yield self.value("fintech_dsar_due_within_7_days", sum(row["soon"] for row in rows))
        yield self.value("fintech_dsar_erasures_unrecorded", unrecorded)
        yield self.value("fintech_dsar_notices_undelivered", undelivered)


def register() -> None:
    register_once(DsarBacklogCollector())
