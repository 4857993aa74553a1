"""Who asks ``may_process``: each processing path that a restriction or objection must stop
registers itself here, by purpose, where it is defined (``register_purpose_consumer``).

The system check ``compliance.E113`` fails when a purpose that can be restricted has no consumer
(a restriction on it would be recorded and then consulted by nothing), ``compliance.E112`` when a
consumer names a purpose that is not declared. ADR 0004 holds the decision table.
"""

from __future__ import annotations

_CONSUMERS: dict[str, set[str]] = {}


def register_purpose_consumer(purpose: str, consumer: str) -> None:
    """Declare that ``consumer`` (a dotted name) asks ``may_process`` before processing for ``purpose``."""
    _CONSUMERS.setdefault(purpose, set()).add(consumer)


def purpose_consumers() -> dict[str, list[str]]:
    return {purpose: sorted(names) for purpose, names in sorted(_CONSUMERS.items())}
