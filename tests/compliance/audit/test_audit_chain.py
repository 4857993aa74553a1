"""The hash chain: gap-free sealing, and verification that names the first broken seq."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY, generate_latest

from compliance.audit.chain import (
    GENESIS_HASH,
    compute_hash,
    last_status,
    seal_and_export_head,
    seal_pending,
    verify_and_alert,
    verify_chain,
)
from compliance.audit.services import AuditAction
from compliance.models import AuditEvent
from tests.compliance.audit.conftest import write_events
from tests.personas import otp_admin_login

pytestmark = pytest.mark.django_db


def _verify_command() -> tuple[int, str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit_chain", stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_sealing_assigns_a_gap_free_linked_chain_and_verification_passes():
    write_events(5)
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 5
    result = seal_pending(batch_size=2)  # several batches, one transaction each
    assert result.sealed == 5
    rows = list(AuditEvent.objects.order_by("seq").values())
    assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == GENESIS_HASH
    for previous, row in itertools.pairwise(rows):
        assert row["prev_hash"] == previous["hash"]
    for row in rows:
        assert compute_hash(row, row["prev_hash"]) == row["hash"]
    # Sealing again finds nothing and changes nothing.
    assert seal_pending().sealed == 0
    assert list(AuditEvent.objects.order_by("seq").values()) == rows
    code, out, _ = _verify_command()
    assert code == 0
    assert "intact: 5 records, head seq 5" in out


def test_a_row_committed_late_with_an_earlier_timestamp_is_sealed_in_the_next_batch():
    write_events(2)
    seal_pending()
    late = write_events(1)[0]
    # A long transaction: its event happened before the sealed ones but became visible after.
    early = AuditEvent.objects.create(
        action=AuditAction.DEPOSIT,
        actor_type="system",
        timestamp=AuditEvent.objects.get(seq=1).timestamp - timedelta(minutes=5),
        object_type="ledger.Deposit",
        object_id="late",
    )
    seal_pending()
    # Within the batch the order is (timestamp, id); across batches it is visibility order.
    assert AuditEvent.objects.get(pk=early.pk).seq == 3
    assert AuditEvent.objects.get(pk=late.pk).seq == 4
    assert verify_chain().ok


@pytest.mark.parametrize("k", [1, 4, 7])
def test_tampering_with_row_k_behind_the_triggers_is_named(k, behind_the_triggers):
    write_events(7)
    seal_pending()
    behind_the_triggers(
        "UPDATE compliance_auditevent SET change_diff = %s::jsonb WHERE seq = %s",
        [json.dumps({"after": {"amount_minor": 1, "currency": "ZAR"}}), k],
    )
    code, _, err = _verify_command()
    assert code == 1
    assert f"BROKEN at seq {k}: record content does not match its hash" in err


def test_recomputing_the_hash_of_a_tampered_row_breaks_the_next_link(behind_the_triggers):
    write_events(5)
    seal_pending()
    row = AuditEvent.objects.filter(seq=3).values().get()
    row["object_id"] = "forged"
    forged_hash = compute_hash(row, row["prev_hash"])
    behind_the_triggers("UPDATE compliance_auditevent SET object_id = 'forged', hash = %s WHERE seq = 3", [forged_hash])
    result = verify_chain()
    assert (result.ok, result.first_broken_seq) == (False, 4)
    assert "prev_hash" in result.reason


def test_a_removed_row_is_named(behind_the_triggers):
    write_events(6)
    seal_pending()
    behind_the_triggers("DELETE FROM compliance_auditevent WHERE seq = 3")
    result = verify_chain()
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "seq 3 is missing" in result.reason


def test_reordered_rows_are_named(behind_the_triggers):
    write_events(6)
    seal_pending()
    # seq is unique (checked row by row): swap through a placeholder.
    behind_the_triggers("UPDATE compliance_auditevent SET seq = -2 WHERE seq = 2")
    behind_the_triggers("UPDATE compliance_auditevent SET seq = 2 WHERE seq = 5")
    behind_the_triggers("UPDATE compliance_auditevent SET seq = 5 WHERE seq = -2")
    result = verify_chain()
    assert (result.ok, result.first_broken_seq) == (False, 2)


def test_deleting_the_last_rows_is_detected_against_the_exported_head(behind_the_triggers, settings):
    write_events(6)
    seal_and_export_head(force_head=True)
    head = json.loads((Path(settings.AUDIT_ARCHIVE_DIR) / "head.json").read_text())
    assert head["seq"] == 6
    behind_the_triggers("DELETE FROM compliance_auditevent WHERE seq >= 5")
    # Inside the database the shortened chain is internally consistent...
    assert verify_chain().ok
    # ...but not against the head kept outside it.
    code, _, err = _verify_command()
    assert code == 1
    assert "BROKEN at seq 5: records 5..6 are missing: the exported head is seq 6" in err


def test_a_chain_rebuilt_from_scratch_is_detected(behind_the_triggers):
    write_events(3)
    seal_and_export_head(force_head=True)
    behind_the_triggers("DELETE FROM compliance_auditevent")
    write_events(4)
    seal_pending()
    result = verify_and_alert()
    # The signed checkpoint of size 3 (published by the seal) names the rebuild from its start.
    assert (result.ok, result.first_broken_seq) == (False, 1)
    assert "signed checkpoint of size 3 differs" in result.reason


def test_a_chain_rebuilt_from_scratch_is_detected_by_the_exported_head_alone(behind_the_triggers):
    from compliance.models import AuditCheckpoint

    write_events(3)
    seal_and_export_head(force_head=True)
    # Also without the checkpoints (as before they existed): the exported head still catches it.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE compliance_auditcheckpoint DISABLE TRIGGER ALL")
        cursor.execute("DELETE FROM compliance_auditcheckpoint")
        cursor.execute("ALTER TABLE compliance_auditcheckpoint ENABLE TRIGGER ALL")
    assert not AuditCheckpoint.objects.exists()
    behind_the_triggers("DELETE FROM compliance_auditevent")
    write_events(4)
    seal_pending()
    result = verify_and_alert()
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "differs from the exported head" in result.reason


def test_a_failure_alerts_through_log_status_metric_and_an_audit_event(behind_the_triggers, caplog):
    write_events(3)
    seal_pending()
    assert verify_and_alert().ok
    assert last_status()["ok"] is True
    assert b"fintech_audit_chain_intact 1.0" in generate_latest(REGISTRY)

    behind_the_triggers("UPDATE compliance_auditevent SET action = 'DEPOSIT' WHERE seq = 2")
    with caplog.at_level("ERROR", logger="compliance.audit.chain"):
        result = verify_and_alert()
    assert not result.ok
    assert [r.first_broken_seq for r in caplog.records if r.levelname == "ERROR"] == [2]
    status = last_status()
    assert (status["ok"], status["first_broken_seq"]) == (False, 2)
    assert b"fintech_audit_chain_intact 0.0" in generate_latest(REGISTRY)
    alert = AuditEvent.objects.get(action=AuditAction.AUDIT_CHAIN_BROKEN)
    assert (alert.actor_type, alert.object_id, alert.change_diff["first_broken_seq"]) == ("system", "2", 2)


def test_a_stalled_sealer_is_alerted(caplog, make_user, client):
    write_events(2)
    seal_pending()
    AuditEvent.objects.create(
        action=AuditAction.DEPOSIT,
        actor_type="system",
        timestamp=timezone.now() - timedelta(minutes=10),
        object_id="waiting",
    )
    with caplog.at_level("ERROR", logger="compliance.audit.chain"):
        result = verify_and_alert()
    assert result.ok  # the chain itself is intact...
    assert result.unsealed == 1 and result.oldest_unsealed_seconds >= 600
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == ["audit sealer is lagging"]
    assert b"fintech_audit_oldest_unsealed_seconds 6" in generate_latest(REGISTRY)
    otp_admin_login(client, make_user(superuser=True))
    page = client.get(reverse("admin:compliance_auditevent_changelist")).content.decode()
    assert "1 audit records have waited up to 6" in page
    seal_pending()
    assert verify_and_alert().oldest_unsealed_seconds == 0
