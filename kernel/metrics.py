"""Process-level Prometheus metrics the project wires itself, and the mechanism every app's
scrape-time collector uses.

- ``fintech_celery_task_failures_total{task}``: tasks that raised (the task_failure signal).
- ``fintech_celery_queue_depth{queue}``: messages waiting in each Celery queue, read from the Redis
  broker at scrape time (no series with the dev file-system broker). A queue that keeps growing
  means the workers are down or too few.

``ScrapeTimeGauges``: apps compute gauges when ``/metrics`` is scraped (from the database, the
shared cache or the broker). prometheus_client asks a collector for its metric names when it is
registered, and without ``describe()`` it runs ``collect()`` to learn them: a query, a cache read
or a broker connection in ``AppConfig.ready()``, in every process, management commands included.
Declaring the gauges once (``GAUGES``) gives ``describe()`` for free and builds them in
``collect()``. ``register_once`` puts a collector on the default registry once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

TASK_FAILURES = Counter("fintech_celery_task_failures", "Celery tasks that raised, by task name.", ["task"])


class ScrapeTimeGauges(Collector):
    """Gauges computed at scrape time. ``GAUGES``: {name: (help, label names)}."""

    GAUGES: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}

    def gauge(self, name: str) -> GaugeMetricFamily:
        help_text, labels = self.GAUGES[name]
        return GaugeMetricFamily(name, help_text, labels=list(labels))

    def value(self, name: str, value: float) -> GaugeMetricFamily:
        """An unlabelled gauge with its one sample."""
        family = self.gauge(name)
        family.add_metric([], value)
        return family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # What registration asks for: names only, nothing computed.
        return (self.gauge(name) for name in self.GAUGES)


_registered: set[type[Collector]] = set()


def register_once(*collectors: Collector) -> None:
    """Put each collector on the default registry, once per process (``ready()`` may run again)."""
    for collector in collectors:
        if type(collector) not in _registered:
            REGISTRY.register(collector)
            _registered.add(type(collector))


class CeleryQueueDepthCollector(ScrapeTimeGauges):
    GAUGES: ClassVar = {"fintech_celery_queue_depth": ("Messages waiting in a Celery queue.", ("queue",))}

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
        gauge = self.gauge("fintech_celery_queue_depth")
        for queue, depth in depths:
            gauge.add_metric([queue], depth)
        yield gauge


def register() -> None:
    register_once(CeleryQueueDepthCollector())
