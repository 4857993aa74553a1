"""Celery against real Redis: a real worker runs tasks, a real beat schedules them, and tasks
are published only after the surrounding transaction commits."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from compliance.request_context import reset_request_id, set_request_id
from fintech.tasks import HEARTBEAT_CACHE_KEY, heartbeat
from tests.conftest import wait_until

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_runs_a_task_and_keeps_the_request_id(celery_process):
    worker = celery_process("worker")
    token = set_request_id("trace-into-celery-0001")
    try:
        result = heartbeat.delay()
    finally:
        reset_request_id(token)
    try:
        outcome = result.get(timeout=90)
    except Exception as exc:
        raise AssertionError(f"worker log:\n{worker.log()}") from exc
    assert outcome["request_id"] == "trace-into-celery-0001"
    assert cache.get(HEARTBEAT_CACHE_KEY) == outcome["at"]
    stored = TaskResult.objects.get(task_id=result.id)
    assert stored.status == "SUCCESS"
    assert '"request_id": "trace-into-celery-0001"' in worker.log()


def test_beat_schedules_the_heartbeat_and_a_worker_runs_it(celery_process):
    celery_process("worker")
    beat = celery_process("beat", FINTECH_HEARTBEAT_SECONDS="1")
    done = wait_until(
        lambda: TaskResult.objects.filter(task_name="fintech.tasks.heartbeat", status="SUCCESS").exists(),
        timeout=90,
        message=f"a beat-scheduled heartbeat to succeed; beat log:\n{beat.log()}",
    )
    assert done
    entry = PeriodicTask.objects.get(name="platform-heartbeat")
    assert entry.task == "fintech.tasks.heartbeat"
    assert entry.enabled


def test_tasks_are_published_only_after_commit():
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = "on-commit-probe"
    broker.delete(queue)
    with transaction.atomic():
        heartbeat.apply_async_on_commit(queue=queue)
        assert broker.llen(queue) == 0, "published before commit"
        transaction.set_rollback(True)
    assert broker.llen(queue) == 0, "published although the transaction rolled back"
    with transaction.atomic():
        heartbeat.apply_async_on_commit(queue=queue)
        assert broker.llen(queue) == 0
    assert broker.llen(queue) == 1
    broker.delete(queue)
