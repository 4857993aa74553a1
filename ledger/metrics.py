"""Ledger metrics on prometheus_client's default registry (served by ``/metrics``).

- ``fintech_ledger_operations_total{type, outcome}``: every money movement the services answer.
  ``outcome`` is ``created``, ``replayed`` (an idempotent repeat) or the refusal code
  (``insufficient_funds``, ``daily_limit_exceeded``, ``idempotency_key_reused``, ...). A bulk
  payment counts each of its transfers once, or one refusal. Counted in the process that served
  the call.
- ``fintech_ledger_reconciliation_ok`` (1 balanced, 0 mismatch, -1 never run),
  ``fintech_ledger_reconciliation_problems`` and
  ``fintech_ledger_reconciliation_last_run_timestamp_seconds``: the last ``check_ledger`` run
  (the daily beat task or the command). It runs in a worker and ``/metrics`` is served by the web
  processes, so the result goes through the shared cache, as the audit chain's status does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from django.core.cache import cache
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from kernel.metrics import ScrapeTimeGauges, register_once
from ledger.exceptions import LedgerError
from ledger.reconciliation import LedgerReport

LEDGER_OPERATIONS = Counter(
    "fintech_ledger_operations", "Money movements by type and outcome (created, replayed or the refusal code).",
    ["type", "outcome"],
)  # fmt: skip


def counted(kind: str) -> Callable:
    """Count what the decorated movement service answers (a MoveResult, a list of them, a refusal)."""

    def decorate(service: Callable) -> Callable:
        @functools.wraps(service)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = service(*args, **kwargs)
            except LedgerError as error:
                LEDGER_OPERATIONS.labels(kind, error.code).inc()
                raise
            items = result if isinstance(result, list) else [result]
            replayed = sum(item.replayed for item in items)
            for outcome, count in (("created", len(items) - replayed), ("replayed", replayed)):
                if count:
                    LEDGER_OPERATIONS.labels(kind, outcome).inc(count)
            return result

        return wrapper

    return decorate


RECONCILIATION_CACHE_KEY = "ledger:reconciliation:last"


def record_reconciliation(report: LedgerReport) -> None:
    """Keep the outcome of a ``check_ledger`` run for the metrics (counts only, never account data)."""
    cache.set(
        RECONCILIATION_CACHE_KEY,
        {"ok": report.ok, "problems": len(report.problems), "at": timezone.now().timestamp()},
        None,
    )


class LedgerReconciliationCollector(ScrapeTimeGauges):
    GAUGES: ClassVar = {
        "fintech_ledger_reconciliation_ok": ("1 if the last check_ledger run balanced, 0 if not, -1 if unknown.", ()),
        "fintech_ledger_reconciliation_problems": ("Mismatches found by the last check_ledger run.", ()),
        "fintech_ledger_reconciliation_last_run_timestamp_seconds": ("When check_ledger last ran.", ()),
    }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            status = cache.get(RECONCILIATION_CACHE_KEY)
        except Exception:  # noqa: BLE001 - a cache outage must not break the whole scrape
            status = None
        yield self.value("fintech_ledger_reconciliation_ok", -1 if status is None else int(bool(status["ok"])))
        yield self.value("fintech_ledger_reconciliation_problems", status["problems"] if status else 0)
        yield self.value("fintech_ledger_reconciliation_last_run_timestamp_seconds", status["at"] if status else 0)


def register() -> None:
    register_once(LedgerReconciliationCollector())
