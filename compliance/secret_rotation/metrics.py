"""Prometheus metrics for the secret inventory, computed at scrape time (SPEC C8, C9)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily

from compliance.secret_rotation.models import AlertState, SecretRotation
from kernel.metrics import ScrapeTimeGauges, register_once


class SecretsCollector(ScrapeTimeGauges):
    """``fintech_secrets_overdue`` from the inventory at scrape time, whichever process serves it."""

    GAUGES: ClassVar = {
        "fintech_secrets_overdue": ("Secrets past their maximum age after the last rotation check (-1: unknown).", ())
    }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            overdue = SecretRotation.objects.filter(alert_state=AlertState.OVERDUE).count()
        except Exception:  # noqa: BLE001 - a database outage must not break the whole scrape
            overdue = -1
        yield self.value("fintech_secrets_overdue", overdue)


def register() -> None:
    register_once(SecretsCollector())
