"""Restore re-applies erasure (issue 20): the erasure ledger outside the database, and
``manage.py reapply_erasures`` against a restored copy.

The restore is simulated without pgBackRest: the test database is copied (``CREATE DATABASE ...
TEMPLATE``: a byte-for-byte copy, as a restore of a backup is) while the subject's deletion request
still awaits its second officer; the erasure then runs and is recorded in the ledger (a directory
of the archive store, or an Object-Lock bucket); Django is pointed at the copy — the restored
database, sentinel PI and all — and ``reapply_erasures`` must erase the subject again, report it,
audit it, and change nothing the second time. ``tests/ha/test_failover_drill.py`` does the same
through a real pgBackRest backup and point-in-time restore (scripts/restore_drill.py).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator

import boto3
import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, connections
from moto import mock_aws

from compliance.audit.models import AuditEvent
from compliance.audit.storage import LocalDirectoryStorage, S3ObjectLockStorage
from compliance.crypto import subject_keys
from compliance.crypto.blind_index import blind_index
from compliance.dsar import erasure_ledger
from compliance.dsar.erasure import erase_subject
from compliance.dsar.erasure_ledger import (
    PREFIX,
    entry_hash,
    entry_key,
    ledger_record_pending,
    read_ledger,
    unrecorded_erasures,
)
from compliance.dsar.models import DataSubjectRequest, DsarStatus, ErasureLedgerEntry
from compliance.dsar.reapply import reapply_erasures
from compliance.dsar.tasks import record_erasures
from ledger import services as ledger
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.compliance.dsar.deletion_helpers import act, deletion_awaiting_approval
from tests.compliance.dsar.test_dsar_fulfilment import _readable_values
from tests.database_dump import pg_dump_data
from tests.ledger.conftest import sa_id
from tests.personas import make_customer, make_staff

pytestmark = [pytest.mark.django_db(transaction=True)]

SENTINELS = {
    "email": "lindiwe.restoresentinel4417@example.co.za",
    "first_name": "Lindiwerestoresentinel",
    "last_name": "Dlaminirestoresentinel",
    "phone": "+27825554417",
}


@pytest.fixture(autouse=True)
def archive(settings, tmp_path) -> LocalDirectoryStorage:
    """Each test its own archive store: the ledger is per test."""
    settings.AUDIT_ARCHIVE_BACKEND = "local"
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path / "audit-archive")
    return LocalDirectoryStorage(settings.AUDIT_ARCHIVE_DIR)


def subject_with_sentinels(email: str = SENTINELS["email"], **names: str):
    subject = make_customer(email=email)
    subject.first_name = names.get("first_name", SENTINELS["first_name"])
    subject.last_name = names.get("last_name", SENTINELS["last_name"])
    subject.phone = names.get("phone", SENTINELS["phone"])
    subject.save()
    ledger.kyc_submit(actor=subject, id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="DOC-R")
    return subject


def erased(dsar_id: str, second) -> DataSubjectRequest:
    act(second, dsar_id, "approve")
    statement = erase_subject(dsar=DataSubjectRequest.objects.get(public_id=dsar_id))
    assert statement is not None and "has been carried out" in statement
    return DataSubjectRequest.objects.get(public_id=dsar_id)


def reapply_command(*args: str) -> tuple[int, dict]:
    out = io.StringIO()
    try:
        call_command("reapply_erasures", "--json", *args, stdout=out, stderr=io.StringIO())
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, json.loads(out.getvalue())


@pytest.fixture
def backup(transactional_db) -> Iterator:
    """``take()`` copies the test database now (the backup); ``restore()`` points Django at the copy."""
    source = connection.settings_dict["NAME"]
    copy = f"{source}_restored"
    params = {
        "host": connection.settings_dict.get("HOST") or "127.0.0.1",
        "port": connection.settings_dict.get("PORT") or 5432,
        "user": connection.settings_dict.get("USER") or "postgres",
        "password": connection.settings_dict.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }

    class Backup:
        def take(self) -> None:
            connections.close_all()  # a template must have no other session
            with psycopg.connect(**params) as admin:
                # A session an earlier test left open (a worker subprocess) would make the copy fail.
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [source])
                admin.execute(f'DROP DATABASE IF EXISTS "{copy}"')
                admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')

        def restore(self) -> None:
            connections.close_all()
            # A restored database is served by freshly started processes: no key cache survives.
            subject_keys.clear_cache()
            django_settings.DATABASES["default"]["NAME"] = copy

    yield Backup()
    connections.close_all()
    django_settings.DATABASES["default"]["NAME"] = source
    with psycopg.connect(**params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


def test_an_erasure_undone_by_a_restore_is_applied_again_once(backup, archive):
    seed_purposes()
    first, second = make_staff("information_officer"), make_staff("information_officer")
    subject = subject_with_sentinels()
    bystander = subject_with_sentinels(
        "bystander.kept@example.co.za", first_name="Keptbystander", last_name="Keptsurname", phone="+27825550001"
    )
    dsar_id = deletion_awaiting_approval(subject, first)
    # PI is encrypted at rest: a dump shows its blind indexes (e-mail, phone), and any value in clear.
    before = pg_dump_data()
    in_clear = {name: value for name, value in SENTINELS.items() if value in before}
    in_clear |= {f"{name} index": blind_index(name, SENTINELS[name]) for name in ("email", "phone")}
    assert all(value and value in before for value in in_clear.values())
    backup.take()  # the backup: the request still awaits its second officer

    dsar = erased(dsar_id, second)
    assert dsar.status == DsarStatus.FULFILLED
    # On the erasure's commit, the ledger entry went to the archive store: ids only, signed, chained.
    row = ErasureLedgerEntry.objects.get(dsar=dsar)
    assert (row.seq, row.subject_id) == (1, subject.pk) and row.recorded_at is not None
    stored = archive.get(entry_key(1))
    assert stored is not None
    entry = json.loads(stored)
    assert entry["hash"] == row.entry_hash == entry_hash(entry)
    assert (entry["subject_id"], entry["subject_public_id"], entry["dsar"]) == (
        subject.pk,
        str(subject.public_id),
        dsar_id,
    )
    assert entry["prev_hash"] == "0" * 64 and entry["signature"]
    live_dump = pg_dump_data()
    for value in [*SENTINELS.values(), *in_clear.values()]:
        assert value not in stored.decode(), "no PI in the ledger"
        assert value not in live_dump, "erased in the live database"

    backup.restore()
    # The restored copy holds the subject again, and the request awaiting approval.
    restored_dump = pg_dump_data()
    assert all(value in restored_dump for value in in_clear.values()), "the restore brought the PI back"
    assert all(value in _readable_values(subject) for value in SENTINELS.values())
    assert DataSubjectRequest.objects.get(public_id=dsar_id).status == DsarStatus.IN_REVIEW
    assert not ErasureLedgerEntry.objects.exists(), "the copy never saw the erasure"

    # A dry run says what it would do and writes nothing.
    dry = reapply_erasures(dry_run=True)
    assert [s.result for s in dry.subjects] == ["re-erased"] and dry.ok
    assert all(value in _readable_values(subject) for value in SENTINELS.values())
    assert not AuditEvent.objects.filter(action="DSAR_ERASURE_REAPPLIED").exists()

    code, report = reapply_command()
    assert code == 0, report
    [done] = report["subjects"]
    assert (done["result"], done["subject_id"], done["request"]) == ("re-erased", subject.pk, dsar_id)
    assert done["request_status_in_copy"] == DsarStatus.IN_REVIEW
    assert done["cleared"]["accounts.user"] and done["rows_changed"] > 0 and done["key_shredded"] is True
    dump = pg_dump_data()
    for name, value in in_clear.items():
        assert value not in dump, f"{name} still in the restored database"
    readable = _readable_values(subject)
    for name, value in SENTINELS.items():
        assert value not in readable, f"{name} still readable in the restored database"
    assert "Keptbystander" in _readable_values(bystander), "only the ledger's subjects are erased"
    assert not subject_keys.shred_subject_key(subject.pk), "the restored copy's subject key is destroyed again"
    [event] = AuditEvent.objects.filter(action="DSAR_ERASURE_REAPPLIED")
    assert (event.object_id, event.change_diff["ledger_seq"]) == (dsar_id, 1)
    assert not any(value in json.dumps(event.change_diff) for value in SENTINELS.values())
    subject.refresh_from_db()
    assert not subject.is_active and not subject.has_usable_password()
    bystander.refresh_from_db()
    assert bystander.is_active

    # Idempotent: a second run finds nothing to do, writes nothing and audits nothing.
    code, again = reapply_command()
    assert code == 0
    assert [s["result"] for s in again["subjects"]] == ["already erased"]
    assert again["reerased"] == 0
    assert AuditEvent.objects.filter(action="DSAR_ERASURE_REAPPLIED").count() == 1


def test_a_failed_ledger_write_leaves_the_erasure_queued_flagged_and_then_recorded(
    archive, monkeypatch, client, settings
):
    seed_purposes()
    first, second = make_staff("information_officer"), make_staff("information_officer")
    subject = subject_with_sentinels()
    dsar_id = deletion_awaiting_approval(subject, first)

    class Unreachable:
        def put(self, key, data, *, content_type):
            raise ConnectionError("archive unreachable")

        def get(self, key):
            raise ConnectionError("archive unreachable")

        def list(self, prefix):
            raise ConnectionError("archive unreachable")

    queued = []
    monkeypatch.setattr(erasure_ledger, "get_storage", Unreachable)
    monkeypatch.setattr("kernel.tasks.enqueue_on_commit", lambda name, *args: queued.append(name))
    dsar = erased(dsar_id, second)

    # The erasure stands (it committed); its ledger entry waits in the outbox and a retry is queued.
    assert dsar.status == DsarStatus.FULFILLED
    assert ErasureLedgerEntry.objects.get(dsar=dsar).seq is None
    assert queued == ["compliance.dsar.record_erasures"]
    assert archive.list(PREFIX) == []
    assert unrecorded_erasures() == 0, "within the grace period"
    assert unrecorded_erasures(older_than_seconds=0) == 1
    settings.ERASURE_LEDGER_GRACE_SECONDS = 0
    metrics = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert b"fintech_dsar_erasures_unrecorded 1.0" in metrics.content

    # The archive answers again: the retried task records it, once.
    monkeypatch.undo()
    assert record_erasures() == 1
    assert record_erasures() == 0
    assert ErasureLedgerEntry.objects.get(dsar=dsar).seq == 1
    assert unrecorded_erasures(older_than_seconds=0) == 0
    assert [entry["dsar"] for entry in read_ledger().entries] == [dsar_id]


def test_a_tampered_ledger_is_reported_and_a_forged_entry_erases_no_one(archive):
    seed_purposes()
    first, second = make_staff("information_officer"), make_staff("information_officer")
    erased_ids = []
    for n in range(3):
        subject = make_customer(email=f"erased{n}@example.co.za")
        erased_ids.append(erased(deletion_awaiting_approval(subject, first), second).public_id)
    assert read_ledger().ok and [e["seq"] for e in read_ledger().entries] == [1, 2, 3]
    innocent = make_customer(email="innocent.customer@example.co.za")

    # A planted entry naming a customer who never asked, with a consistent hash but no valid key.
    forged = json.loads(archive.get(entry_key(3)))
    forged |= {"seq": 4, "prev_hash": forged["hash"], "subject_id": innocent.pk}
    forged |= {"subject_public_id": str(innocent.public_id), "dsar": "forged"}
    forged["hash"] = entry_hash(forged)
    archive.put(entry_key(4), json.dumps(forged).encode(), content_type="application/json")
    # Entry 2 altered in place (local directory; S3 Object Lock refuses this), and entry 1 removed.
    altered = json.loads(archive.get(entry_key(2))) | {"subject_id": innocent.pk}
    (archive.root / entry_key(2)).chmod(0o644)
    (archive.root / entry_key(2)).write_text(json.dumps(altered))
    (archive.root / entry_key(1)).unlink()

    reading = read_ledger()
    assert reading.problems == [
        "entries 1-1 are missing from the erasure ledger",
        "entry 2 does not match its hash (altered)",
        "entry 4 is not signed by a known audit signing key",
    ]
    assert [e["seq"] for e in reading.entries] == [3]
    code, report = reapply_command()
    assert code == 1
    assert "this database recorded erasure ledger entry 1, which the ledger lacks or altered" in report["problems"]
    assert [s["seq"] for s in report["subjects"]] == [3]
    innocent.refresh_from_db()
    assert innocent.is_active and innocent.email == "innocent.customer@example.co.za"


def test_the_ledger_in_an_object_lock_bucket(settings):
    seed_purposes()
    first, second = make_staff("information_officer"), make_staff("information_officer")
    with mock_aws():
        client = boto3.client("s3", region_name="af-south-1")
        client.create_bucket(
            Bucket="audit-archive",
            CreateBucketConfiguration={"LocationConstraint": "af-south-1"},
            ObjectLockEnabledForBucket=True,
        )
        storage = S3ObjectLockStorage(bucket="audit-archive", prefix="audit/", retention_days=1827, client=client)
        subject = make_customer(email="s3.subject@example.co.za")
        dsar_id = deletion_awaiting_approval(subject, first)
        act(second, dsar_id, "approve")
        dsar = DataSubjectRequest.objects.get(public_id=dsar_id)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(erasure_ledger, "get_storage", lambda: storage)
            erase_subject(dsar=dsar)
            assert ledger_record_pending(storage=storage) == 0, "recorded on commit already"
            reading = read_ledger(storage=storage)
        assert reading.ok and [e["dsar"] for e in reading.entries] == [dsar_id]
        head = client.head_object(Bucket="audit-archive", Key=f"audit/{entry_key(1)}")
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert ErasureLedgerEntry.objects.get(dsar=dsar).seq == 1


def test_without_a_signing_ring_entries_are_chained_unsigned_and_the_reader_says_so(settings):
    # The audit_signing ring is optional (compliance.crypto.keys): an erasure must still be recorded.
    settings.FIELD_KEYS = {**settings.FIELD_KEYS, "AUDIT_SIGNING_KEYS": ""}
    seed_purposes()
    first, second = make_staff("information_officer"), make_staff("information_officer")
    dsar = erased(deletion_awaiting_approval(make_customer(email="unsigned@example.co.za"), first), second)
    reading = read_ledger()
    assert reading.ok and [e["dsar"] for e in reading.entries] == [str(dsar.public_id)]
    assert reading.entries[0]["signature"] == "" and reading.warnings
    code, report = reapply_command()
    assert code == 0 and report["warnings"] == reading.warnings
