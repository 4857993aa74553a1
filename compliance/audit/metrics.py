"""Prometheus metrics for the audit chain, computed at scrape time from the cached status.

The hourly verification runs in a Celery worker, but ``/metrics`` is served by the web process;
a collector that reads the shared (Redis) status lets whichever process is scraped report it.
Registered on prometheus_client's default registry, which django-prometheus's ``/metrics``
exports.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily

from kernel.metrics import ScrapeTimeGauges, register_once


class AuditChainCollector(ScrapeTimeGauges):
    GAUGES: ClassVar = {
        "fintech_audit_chain_intact": (
            "1 if the last audit-chain verification passed, 0 if it found a broken link, -1 if unknown.",
            (),
        ),
        "fintech_audit_chain_last_verified_timestamp_seconds": ("When the audit chain was last verified.", ()),
        "fintech_audit_chain_head_seq": ("Sealed head seq at the last verification.", ()),
        "fintech_audit_oldest_unsealed_seconds": ("Age of the oldest unsealed record at the last verification.", ()),
    }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from compliance.audit.chain import last_status

        try:
            status = last_status()
        except Exception:  # noqa: BLE001 - a cache outage must not break the whole scrape
            status = None
        yield self.value("fintech_audit_chain_intact", -1 if status is None else int(bool(status["ok"])))
        yield self.value(
            "fintech_audit_chain_last_verified_timestamp_seconds",
            datetime.fromisoformat(status["verified_at"]).timestamp() if status else 0,
        )
        yield self.value("fintech_audit_chain_head_seq", status["head_seq"] if status else 0)
        yield self.value(
            "fintech_audit_oldest_unsealed_seconds", status.get("oldest_unsealed_seconds", 0) if status else 0
        )


def register() -> None:
    register_once(AuditChainCollector())
