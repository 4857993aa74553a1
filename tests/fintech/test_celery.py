"""Celery against real Redis: a real worker runs tasks, a real beat schedules them, and tasks
are published only after the surrounding transaction commits."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from fintech.tasks import HEARTBEAT_CACHE_KEY, heartbeat
from kernel.request_context import reset_request_id, set_request_id
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


def test_beat_schedules_the_heartbeat_and_a_worker_runs_it(celery_process, tmp_path):
    celery_process("worker")
    probe_file = tmp_path / "beat-heartbeat"
    beat = celery_process("beat", FINTECH_HEARTBEAT_SECONDS="1", BEAT_HEARTBEAT_PATH=str(probe_file))
    done = wait_until(
        lambda: TaskResult.objects.filter(task_name="fintech.tasks.heartbeat", status="SUCCESS").exists(),
        timeout=90,
        message=f"a beat-scheduled heartbeat to succeed; beat log:\n{beat.log()}",
    )
    assert done
    entry = PeriodicTask.objects.get(name="platform-heartbeat")
    assert entry.task == "fintech.tasks.heartbeat"
    assert entry.enabled
    # The file the beat pods' liveness and readiness probes check (deploy/k8s) is kept fresh.
    assert time.time() - probe_file.stat().st_mtime < 30


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


def _sent_heartbeats(log: str) -> int:
    return log.count("Sending due task platform-heartbeat")


def test_a_second_beat_stands_by_and_takes_over_when_the_leader_dies(celery_process):
    celery_process("worker")
    env = {"FINTECH_HEARTBEAT_SECONDS": "1", "BEAT_LOCK_TTL": "3"}
    first = celery_process("beat", **env)
    wait_until(lambda: "leader lock acquired" in first.log(), timeout=60, message="the first beat to lead")
    second = celery_process("beat", **env)
    wait_until(lambda: "standing by" in second.log(), timeout=60, message="the second beat to stand by")
    wait_until(lambda: _sent_heartbeats(first.log()) >= 3, timeout=60, message="the leader to send jobs")
    assert _sent_heartbeats(second.log()) == 0, "the standby fired jobs while the leader held the lock"

    # The leader dies without releasing the lock: the standby takes over once it expires.
    first.process.kill()
    first.process.wait()
    wait_until(lambda: "leader lock acquired" in second.log(), timeout=60, message="the standby to take over")
    wait_until(lambda: _sent_heartbeats(second.log()) >= 1, timeout=60, message="the new leader to send jobs")
