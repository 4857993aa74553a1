"""Platform-level tasks: the heartbeat that proves beat and a worker are alive."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from kernel.request_context import get_request_id

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "platform:last-heartbeat"


@shared_task(name="fintech.tasks.heartbeat", acks_late=True, ignore_result=False)
def heartbeat() -> dict[str, str | None]:
    """Record that the scheduler and a worker are alive; idempotent and safe to retry."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, now, timeout=None)
    logger.info("heartbeat")
    return {"at": now, "request_id": get_request_id()}
