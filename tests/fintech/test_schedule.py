"""The routines on the schedule: declared in one place, acks_late with time limits, run by a real
worker, and a failure visible in the admin (TaskResult) and as a metric.

The real beat + worker and the second beat standing by are shown in tests/fintech/test_celery.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_celery_results.models import TaskResult
from prometheus_client import REGISTRY

from compliance.models import AuditEvent
from compliance.retention.tasks import purge_retention
from compliance.secret_rotation.tasks import check_secrets, continue_key_rotation
from fintech.celery import app
from fintech.schedule import BEAT_SCHEDULE
from tests.personas import otp_admin_login

ROUTINES = {
    "audit-seal": "compliance.tasks.seal_audit_events",
    "audit-verify-chain": "compliance.tasks.verify_audit_chain",
    "audit-archive": "compliance.tasks.archive_audit_segments",
    "ledger-check-daily": "ledger.tasks.check_ledger",
    "dsar-deadline-escalation": "compliance.dsar.escalate",
    "dsar-resend-notices": "compliance.dsar.resend_notices",
    "retention-purge-daily": "compliance.retention.purge",
    "secrets-check-daily": "compliance.secrets.check",
}


def test_the_schedule_declares_every_routine_with_a_registered_task():
    app.loader.import_default_modules()
    for entry, task_name in ROUTINES.items():
        assert BEAT_SCHEDULE[entry]["task"] == task_name
        task = app.tasks[task_name]
        # Every routine is acknowledged only after it ran and has a soft and a hard time limit.
        assert task.acks_late is True, task_name
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard, task_name


def test_the_new_tasks_have_their_own_limits():
    assert (purge_retention.soft_time_limit, purge_retention.time_limit) == (50 * 60, 55 * 60)
    assert (check_secrets.soft_time_limit, check_secrets.time_limit) == (5 * 60, 6 * 60)


@pytest.mark.django_db
def test_a_failed_task_increments_the_failure_metric():
    labels = {"task": "compliance.crypto.continue_key_rotation"}
    before = REGISTRY.get_sample_value("fintech_celery_task_failures_total", labels) or 0
    result = continue_key_rotation.apply(args=[987_654])
    assert result.failed()
    assert REGISTRY.get_sample_value("fintech_celery_task_failures_total", labels) == before + 1


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_purge_and_a_failure_shows_in_the_admin(celery_process, client, admin_user):
    Session.objects.bulk_create(
        Session(session_key=f"task{n:04d}", session_data="x", expire_date=timezone.now() - timedelta(days=3))
        for n in range(25)
    )
    worker = celery_process("worker")
    try:
        outcome = purge_retention.delay().get(timeout=90)
    except Exception as exc:
        raise AssertionError(f"worker log:\n{worker.log()}") from exc
    failed = continue_key_rotation.delay(987_654)
    with pytest.raises(Exception, match="does not exist"):
        failed.get(timeout=90)
    assert outcome["per_policy"]["session"] == 25
    assert not Session.objects.exists()
    assert AuditEvent.objects.filter(action="RETENTION_PURGE").count() == 1
    assert TaskResult.objects.get(task_name="compliance.retention.purge").status == "SUCCESS"
    failure = TaskResult.objects.get(task_id=failed.id)
    assert failure.status == "FAILURE"
    otp_admin_login(client, admin_user)
    page = client.get("/admin/django_celery_results/taskresult/?status__exact=FAILURE")
    assert page.status_code == 200
    assert failed.id in page.content.decode()


@pytest.mark.django_db
def test_metrics_are_exposed_for_prometheus(client):
    from compliance.secret_rotation.inventory import secrets_check

    secrets_check(rotate=False)
    response = client.get("/metrics")
    assert response.status_code == 200
    body = response.content.decode()
    overdue = [line for line in body.splitlines() if line.startswith("fintech_secrets_overdue ")]
    # Never recorded: Django SECRET_KEY, database and Redis credentials, the settings JWT key.
    assert overdue == ["fintech_secrets_overdue 4.0"]
    assert "# TYPE fintech_celery_task_failures_total counter" in body
    assert "# TYPE fintech_secret_rotation_alerts_total counter" in body
