"""Process-level Prometheus metrics the project wires itself (apps keep their own collectors)."""

from __future__ import annotations

from prometheus_client import Counter

TASK_FAILURES = Counter("fintech_celery_task_failures", "Celery tasks that raised, by task name.", ["task"])
