"""Key rotation: v1 → v2 re-encrypts every row in resumable batches; old keys retire safely."""

from __future__ import annotations

import datetime
import json
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from compliance.audit.models import AuditEvent
from compliance.crypto import aead, subject_keys, subject_rows
from compliance.crypto.keys import BLIND_INDEX, FIELD, EnvKeyProvider
from compliance.crypto.models import FieldKeyVersion, KeyRotationRun, SubjectKey
from compliance.secret_rotation import rotation
from tests.compliance.conftest import raw_column
from tests.pi_testapp.models import CaseNote, Subject

TABLE = "pi_testapp_subject"
ENCRYPTED = ("email", "id_number", "phone", "address", "date_of_birth")


def seed(count: int) -> list[Subject]:
    subjects = []
    for n in range(count):
        subject = Subject.objects.create(
            email=f"person{n}@example.com",
            id_number=f"80010150090{n:02d}",
            phone=f"082 555 01{n:02d}",
            address=f"{n} Long Street",
            date_of_birth=datetime.date(1980, 1, 1) + datetime.timedelta(days=n),
        )
        CaseNote.objects.create(subject=subject, note=f"note {n}")
        subjects.append(subject)
    # As a database upgraded from before per-subject keys holds them: under the field ring
    # (``v1:``), which is what the field-key rotation re-encrypts (docs/adr/0007).
    with transaction.atomic():
        subject_rows.seal_rows(Subject, Subject.objects.all(), to_hold=True)
        subject_rows.seal_rows(CaseNote, CaseNote.objects.all(), to_hold=True)
    return subjects


def prefixes(column: str, table: str = TABLE) -> set[str]:
    return {value.split(":", 1)[0] for value in raw_column(table, column) if value is not None}


def audit_events() -> list[dict]:
    """KEY_ROTATED records in the audit trail, oldest first."""
    return [
        {"object_id": event.object_id, **event.change_diff}
        for event in AuditEvent.objects.filter(action="KEY_ROTATED").order_by("id")
    ]


@pytest.mark.django_db
def test_rotation_reencrypts_every_row_and_old_keys_can_then_retire(file_keys):
    subjects = seed(5)
    assert all(prefixes(column) == {"v1"} for column in ENCRYPTED)

    call_command("rotate_field_keys", "--batch-size", "2", stdout=(out := _Out()))

    assert file_keys.versions(FIELD) == [2, 1] and file_keys.versions(BLIND_INDEX) == [2, 1]
    for column in ENCRYPTED:
        assert prefixes(column) == {"v2"}, column
    assert prefixes("note", "pi_testapp_casenote") == {"v2"}
    for index in ("email_index", "id_number_index", "phone_index"):
        assert prefixes(index) == {"v2"}, index
    for n, subject in enumerate(subjects):
        fresh = Subject.objects.get(pk=subject.pk)
        assert (fresh.email, fresh.phone, fresh.address) == (
            f"person{n}@example.com",
            f"082 555 01{n:02d}",
            f"{n} Long Street",
        )
    assert list(Subject.objects.filter(phone_index__matches="0825550103")) == [subjects[3]]
    assert "every row is under v2" in out.text and "[####" in out.text

    runs = KeyRotationRun.objects.order_by("purpose")
    assert [(r.purpose, r.state, r.target_version, r.rows_rewritten) for r in runs] == [
        ("blind_index", "completed", 2, 5),
        ("field", "completed", 2, 10),  # 5 subjects + 5 case notes
    ]
    versions = {(v.purpose, v.version): v for v in FieldKeyVersion.objects.all()}
    assert versions[(FIELD, 2)].state == "active" and versions[(FIELD, 2)].rotated_at is not None
    assert versions[(FIELD, 1)].state == "decrypt_only" and versions[(FIELD, 1)].rotated_at is None
    status = {(row["purpose"], row["version"]): row for row in rotation.key_version_status()}
    assert status[(FIELD, 2)]["in_service_since"] == versions[(FIELD, 2)].rotated_at
    assert status[(FIELD, 1)]["in_service_since"] == versions[(FIELD, 1)].created_at
    events = audit_events()
    assert [(e["object_id"], e["stage"]) for e in events] == [
        ("field:v2", "started"),
        ("field:v2", "reencrypted"),
        ("blind_index:v2", "started"),
        ("blind_index:v2", "reencrypted"),
    ]
    assert events[1]["rows_rewritten"] == 10
    ring = json.loads(file_keys.path.read_text())
    stored_keys = [key for purpose in ("field", "blind_index") for key in ring[purpose]["keys"].values()]
    assert len(stored_keys) == 4
    assert not any(key in repr(events) for key in stored_keys)

    call_command("rotate_field_keys", "--reencrypt-only", "--retire-old", stdout=_Out())
    assert file_keys.versions(FIELD) == [2] and file_keys.versions(BLIND_INDEX) == [2]
    versions = {(v.purpose, v.version): v for v in FieldKeyVersion.objects.all()}
    assert versions[(FIELD, 1)].state == "retired" and versions[(FIELD, 1)].retired_at is not None
    # Everything still reads and is still found with v1 gone.
    assert Subject.objects.get(pk=subjects[0].pk).id_number == "8001015009000"
    assert list(Subject.objects.filter(email_index__matches="PERSON4@example.com")) == [subjects[4]]
    retirements = [e for e in audit_events() if e["stage"] == "retired"]
    assert [(e["object_id"], e["retired"]) for e in retirements] == [("field:v2", [1]), ("blind_index:v2", [1])]


@pytest.mark.django_db
def test_interrupted_rotation_resumes_where_it_stopped(file_keys):
    seed(7)
    call_command(
        "rotate_field_keys", "--keys", "field", "--batch-size", "2", "--max-batches", "2", stdout=(out := _Out())
    )
    assert "Run the command again to resume" in out.text
    run = KeyRotationRun.objects.get(purpose=FIELD)
    assert (run.state, run.rows_rewritten, run.batches) == ("running", 4, 2)
    # Models go in label order (casenote, then subject), rows in primary-key order.
    assert [value[:3] for value in raw_column("pi_testapp_casenote", "note")] == ["v2:"] * 4 + ["v1:"] * 3
    assert prefixes("email") == {"v1"}
    assert run.checkpoint == {"pi_testapp.casenote": CaseNote.objects.order_by("pk")[3].pk}
    # Old and new rows both read meanwhile.
    assert sorted(s.email for s in Subject.objects.all()) == sorted(f"person{n}@example.com" for n in range(7))

    with pytest.raises(rotation.RotationError, match="unfinished"):
        rotation.key_versions_retire(purpose=FIELD)

    call_command("rotate_field_keys", "--keys", "field", "--batch-size", "2", stdout=(out := _Out()))
    assert "Resuming field rotation to v2" in out.text
    assert file_keys.versions(FIELD) == [2, 1]  # resuming added no version
    run.refresh_from_db()
    assert (run.state, run.rows_rewritten) == ("completed", 14)  # 7 subjects + 7 notes, each once
    assert prefixes("email") == {"v2"} and prefixes("note", "pi_testapp_casenote") == {"v2"}


@pytest.mark.django_db
def test_a_crash_mid_batch_rolls_back_that_batch_only(file_keys, monkeypatch):
    seed(6)
    run = rotation.key_rotation_start(purpose=FIELD)
    real_rewrite = rotation._rewrite
    calls = {"n": 0}

    def crash_on_second(target, rows, purpose):
        calls["n"] += 1
        real_rewrite(target, rows, purpose)
        if calls["n"] == 2:
            raise RuntimeError("worker killed")

    monkeypatch.setattr(rotation, "_rewrite", crash_on_second)
    with pytest.raises(RuntimeError, match="worker killed"):
        rotation.key_rotation_run(run=run, batch_size=2)
    run.refresh_from_db()
    # The batch that crashed rolled back with its checkpoint; the first one stayed.
    assert (run.rows_rewritten, run.batches) == (2, 1)
    assert run.checkpoint == {"pi_testapp.casenote": CaseNote.objects.order_by("pk")[1].pk}
    assert [value[:3] for value in raw_column("pi_testapp_casenote", "note")] == ["v2:"] * 2 + ["v1:"] * 4
    assert prefixes("email") == {"v1"}

    monkeypatch.setattr(rotation, "_rewrite", real_rewrite)
    run = rotation.key_rotation_run(run=run, batch_size=2)
    assert (run.state, run.rows_rewritten) == ("completed", 12)
    assert prefixes("email") == {"v2"} and prefixes("note", "pi_testapp_casenote") == {"v2"}


@pytest.mark.django_db
def test_old_keys_are_not_retired_while_rows_need_them(file_keys):
    seed(2)
    file_keys.add_version(FIELD)  # a new key, but nothing re-encrypted yet
    with pytest.raises(rotation.RotationError, match=r"pi_testapp\.casenote\.note: 2, pi_testapp\.subject\.address: 2"):
        rotation.key_versions_retire(purpose=FIELD)
    assert file_keys.versions(FIELD) == [2, 1]
    assert not FieldKeyVersion.objects.filter(state="retired").exists()
    assert sorted(s.email for s in Subject.objects.all()) == ["person0@example.com", "person1@example.com"]


@pytest.mark.django_db
def test_env_provider_rotation_is_a_redeploy_then_reencrypt_only():
    seed(1)
    with pytest.raises(CommandError, match="cannot add key versions"):
        call_command("rotate_field_keys", "--keys", "field", stdout=_Out())
    assert not KeyRotationRun.objects.exists()
    # With the new key already deployed first in the list, --reencrypt-only does the work.
    call_command("rotate_field_keys", "--keys", "field", "--reencrypt-only", stdout=(out := _Out()))
    assert "every row is under v1" in out.text


@pytest.mark.django_db
def test_status_lists_versions_and_stale_rows(file_keys):
    seed(1)
    file_keys.add_version(FIELD)
    call_command("rotate_field_keys", "--status", "--keys", "field", stdout=(out := _Out()))
    assert "field: provider file, active v2, usable [2, 1]" in out.text
    assert "pi_testapp.subject.email: 1 rows not under v2" in out.text
    assert not KeyRotationRun.objects.exists()


class _Out:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        return "".join(self.parts)


@pytest.mark.django_db
def test_rows_written_under_the_old_key_behind_the_checkpoint_get_another_pass(file_keys):
    seed(4)
    ring = json.loads(file_keys.path.read_text())
    # A web process that has not yet seen v2 still encrypts with v1.
    stale_process = EnvKeyProvider(
        field_keys=f"1:{ring['field']['keys']['1']}", blind_index_keys=f"1:{ring['blind_index']['keys']['1']}"
    )
    first_note = CaseNote.objects.order_by("pk").first()
    late_token = aead.encrypt(b"written late", associated_data=b"pi_testapp.casenote.note", provider=stale_process)
    written = []

    def write_behind_the_checkpoint(label, done, total):
        if not written:
            with connection.cursor() as cursor:
                cursor.execute("UPDATE pi_testapp_casenote SET note = %s WHERE id = %s", [late_token, first_note.pk])
            written.append(label)

    run = rotation.key_rotation_start(purpose=FIELD)
    run = rotation.key_rotation_run(run=run, batch_size=2, progress=write_behind_the_checkpoint)
    assert written == ["pi_testapp.casenote"]
    # 4 notes + 4 subjects + the late row, and the 4 subjects' own keys re-wrapped (docs/adr/0007)
    assert (run.state, run.rows_rewritten) == ("completed", 13)
    assert prefixes("note", "pi_testapp_casenote") == {"v2"}
    assert CaseNote.objects.get(pk=first_note.pk).note == "written late"


@pytest.mark.django_db(transaction=True)
def test_rotation_never_loses_a_concurrent_update(file_keys, monkeypatch):
    """A customer changes their phone while the rotation holds that row's batch: their change wins."""
    subjects = seed(3)
    target_pk = subjects[0].pk
    real_rewrite = rotation._rewrite
    writer_done = threading.Event()

    def change_phone() -> None:
        try:
            subject = Subject.objects.get(pk=target_pk)
            subject.phone = "083 999 0000"
            subject.save(update_fields=["phone"])
        finally:
            writer_done.set()
            connection.close()

    def rewrite_while_a_customer_writes(target, rows, purpose):
        if target.model is Subject and any(row.pk == target_pk for row in rows):
            thread = threading.Thread(target=change_phone)
            thread.start()
            # The batch's rows are locked, so the customer's UPDATE waits for this batch to commit.
            # Without the lock it would commit now and be overwritten by the stale value below.
            writer_done.wait(timeout=1.0)
            threads.append(thread)
        real_rewrite(target, rows, purpose)

    threads: list[threading.Thread] = []
    monkeypatch.setattr(rotation, "_rewrite", rewrite_while_a_customer_writes)
    call_command("rotate_field_keys", "--keys", "field", "--batch-size", "10", stdout=_Out())
    for thread in threads:
        thread.join(timeout=30)
    assert writer_done.is_set() and len(threads) == 1
    assert Subject.objects.get(pk=target_pk).phone == "083 999 0000"
    assert list(Subject.objects.filter(phone_index__matches="0839990000")) == [subjects[0]]
    # The rest re-encrypted under v2; the customer's new number under their own key (docs/adr/0007).
    assert prefixes("phone") == {"v2", "s1"}
    assert raw_column(TABLE, "phone")[0].startswith("s1:")


@pytest.mark.django_db
def test_rotation_rewraps_subject_keys_and_leaves_their_values_alone(file_keys):
    """Values under a subject's key are not rewritten: the subject key is re-wrapped instead."""
    subject = Subject.objects.create(email="wrapped@example.com", phone="082 555 0199")
    row_before = raw_column(TABLE, "email")
    assert prefixes("email") == {"s1"}
    key = SubjectKey.objects.get(subject_type="pi_testapp.subject", subject_id=str(subject.pk))
    assert key.wrapped_key.startswith("v1:")

    call_command("rotate_field_keys", "--keys", "field", "--retire-old", stdout=_Out())

    key.refresh_from_db()
    assert key.wrapped_key.startswith("v2:") and file_keys.versions(FIELD) == [2]
    assert raw_column(TABLE, "email") == row_before, "the s1 tokens were not rewritten"
    subject_keys.clear_cache()
    assert Subject.objects.get(pk=subject.pk).email == "wrapped@example.com"
    assert rotation.stale_counts(FIELD, 2)[rotation.SUBJECT_KEYS_LABEL] == 0
