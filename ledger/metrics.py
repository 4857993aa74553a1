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
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger.exceptions import LedgerError

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
            for item in result if isinstance(result, list) else [result]:
                LEDGER_OPERATIONS.labels(kind, "replayed" if item.replayed else "created").inc()
            return result

        return wrapper

    return decorate


RECONCILIATION_CACHE_KEY = "ledger:reconciliation:last"
_registered = False


def record_reconciliation(*, ok: bool, problems: int) -> None:
    """Keep the outcome of a ``check_ledger`` run for the metrics (counts only, never account data)."""
    cache.set(RECONCILIATION_CACHE_KEY, {"ok": ok, "problems": problems, "at": timezone.now().timestamp()}, None)


class LedgerReconciliationCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            status = cache.get(RECONCILIATION_CACHE_KEY)
        except Exception:  # noqa: BLE001 - a cache outage must not break the whole scrape
            status = None
        ok = GaugeMetricFamily(
            "fintech_ledger_reconciliation_ok", "1 if the last check_ledger run balanced, 0 if not, -1 if unknown."
        )
        ok.add_metric([], -1 if status is None else int(bool(status["ok"])))
        yield ok
        problems = GaugeMetricFamily(
            "fintech_ledger_reconciliation_problems", "Mismatches found by the last check_ledger run."
        )
        problems.add_metric([], status["problems"] if status else 0)
        yield problems
        at = GaugeMetricFamily(
            "fintech_ledger_reconciliation_last_run_timestamp_seconds", "When check_ledger last ran."
        )
        at.add_metric([], status["at"] if status else 0)
        yield at


def register() -> None:
    global _registered  # noqa: PLW0603 - one registration per process, whatever calls ready()
    if not _registered:
        REGISTRY.register(LedgerReconciliationCollector())
        _registered = True
