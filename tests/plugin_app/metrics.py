"""The loyalty programme's scrape-time gauges (guide step 11): declared once, computed at scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily

from kernel.metrics import ScrapeTimeGauges, register_once


class LoyaltyCollector(ScrapeTimeGauges):
    GAUGES: ClassVar = {"fintech_loyalty_members_open": ("Open loyalty-programme memberships.", ())}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from tests.plugin_app.models import LoyaltyMember

        yield self.value("fintech_loyalty_members_open", LoyaltyMember.objects.filter(closed_at__isnull=True).count())


def register() -> None:
    register_once(LoyaltyCollector())
