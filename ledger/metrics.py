"""``fintech_ledger_operations_total{type, outcome}``: every money movement the services answer.

``outcome`` is ``created``, ``replayed`` (an idempotent repeat) or the refusal code
(``insufficient_funds``, ``daily_limit_exceeded``, ``idempotency_key_reused``, ...). A bulk payment
counts each of its transfers once, or one refusal. Counted in the process that served the call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

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
