"""The scheduled jobs: a real Celery worker seals and archives; the commands do the same on demand."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from compliance.audit.chain import verify_chain
from compliance.audit.services import AuditAction
from compliance.audit.tasks import archive_audit_segments, seal_audit_events, verify_audit_chain
from compliance.models import AuditEvent
from fintech.schedule import BEAT_SCHEDULE
from tests.compliance.audit.conftest import write_events
from tests.conftest import wait_until


def test_the_schedule_seals_often_verifies_hourly_and_archives_daily():
    by_task = {
        entry["task"]: entry["schedule"].total_seconds()
        for entry in BEAT_SCHEDULE.values()
        if entry["task"].startswith("compliance.tasks.")
    }
    assert by_task["compliance.tasks.seal_audit_events"] <= 10
    assert by_task["compliance.tasks.verify_audit_chain"] == 3600
    assert by_task["compliance.tasks.archive_audit_segments"] == 86400
    for task in (seal_audit_events, verify_audit_chain, archive_audit_segments):
        assert task.acks_late is True


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_seals_verifies_and_archives(celery_process, tmp_path):
    archive = tmp_path / "worker-archive"
    worker = celery_process("worker", AUDIT_ARCHIVE_DIR=str(archive), AUDIT_ARCHIVE_BACKEND="local")
    write_events(5)
    seal_audit_events.delay()
    try:
        wait_until(lambda: not AuditEvent.objects.filter(seq__isnull=True).exists(), 90, message="sealing")
        assert verify_audit_chain.delay().get(timeout=60) == {"ok": True, "first_broken_seq": None, "checked": 5}
        summary = archive_audit_segments.delay().get(timeout=60)
    except Exception as exc:
        raise AssertionError(f"worker log:\n{worker.log()}") from exc
    assert summary == {"segments": 1, "records": 5, "head_seq": 5, "checkpoints_written": 0}
    assert json.loads((archive / "head.json").read_text())["seq"] == 5
    assert verify_chain().ok


@pytest.mark.django_db
def test_the_commands_seal_archive_and_report(settings, auditor, capsys):
    write_events(3)
    call_command("seal_audit")
    assert "sealed 3 records; head seq 3" in capsys.readouterr().out
    call_command("export_audit_archive")
    assert "archived 3 records in 1 segments; head seq 3" in capsys.readouterr().out
    assert (Path(settings.AUDIT_ARCHIVE_DIR) / "manifests" / f"{3:012d}.json").exists()

    out = io.StringIO()
    call_command("audit_report", "--action", "TRANSFER", "--format", "csv", stdout=out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert [row[2] for row in rows[1:]] == ["TRANSFER"] * 3
    out = io.StringIO()
    call_command("audit_report", "--from", "2000-01-01", "--to", "2000-01-02", "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["summary"]["count"] == 0
    exports = AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).order_by("id")
    assert [(e.object_id, e.change_diff["count"], e.actor_type) for e in exports] == [
        ("csv", 3, "system"),
        ("json", 0, "system"),
    ]


@pytest.mark.django_db
def test_the_audit_report_command_reads_the_replica(read_routing):
    write_events(2)
    read_routing.clear()
    call_command("audit_report", "--format", "json", stdout=io.StringIO())
    assert ("compliance.AuditEvent", True) in read_routing
    assert ("compliance.AuditEvent", False) not in read_routing
