"""Process-level Prometheus metrics the project wires itself (apps keep their own collectors).

- ``fintech_celery_task_failures_total{task}``: tasks that raised (the task_failure signal).
- ``fintech_celery_queue_depth{queue}``: messages waiting in each Celery queue, read from the Redis
  broker at scrape time (no series with the dev file-system broker). A queue that keeps growing
  means the workers are down or too few.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

TASK_FAILURES = Counter("fintech_celery_task_failures", "Celery tasks that raised, by task name.", ["task"])


class CeleryQueueDepthCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.conf import settings

        broker = getattr(settings, "CELERY_BROKER_URL", "") or ""
        if not broker.startswith(("redis://", "rediss://")):
            return
        queues = sorted({getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"), "celery"})
        try:
            import redis

            client = redis.Redis.from_url(broker, socket_timeout=1, socket_connect_timeout=1)
            depths = [(queue, client.llen(queue)) for queue in queues]
        except Exception:  # noqa: BLE001 - a broker outage must not break the whole scrape
            return
        gauge = GaugeMetricFamily("fintech_celery_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
        for queue, depth in depths:
            gauge.add_metric([queue], depth)
        yield gauge


_registered = False


def register() -> None:
    global _registered  # noqa: PLW0603 - one registration per process, whatever calls ready()
    if not _registered:
        REGISTRY.register(CeleryQueueDepthCollector())
        _registered = True
