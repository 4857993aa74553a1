"""Per-subject data keys (docs/adr/0007): envelope encryption, the token format, shredding, the cache."""

from __future__ import annotations

import base64
import datetime
from dataclasses import replace

import boto3
import pytest
from django.core.management import call_command
from django.db import transaction
from moto import mock_aws

from compliance.audit.services import AuditAction, build_change_diff, reveal_change_diff, scrub_change_diff
from compliance.crypto import aead, subject_keys, subject_rows
from compliance.crypto.checks import check_audit_signing_keys, check_subject_declarations
from compliance.crypto.fields import encrypted_fields
from compliance.crypto.models import SubjectKey
from compliance.models import AuditEvent
from compliance.pi.masking import MASK
from compliance.pi.registry import registry
from tests.compliance.conftest import raw_row
from tests.pi_testapp.models import CaseNote, Subject

TABLE = "pi_testapp_subject"


def key_of(subject: Subject) -> SubjectKey:
    return SubjectKey.objects.get(subject_type="pi_testapp.subject", subject_id=str(subject.pk))


@pytest.fixture(autouse=True)
def _fresh_cache():
    subject_keys.clear_cache()
    yield
    subject_keys.clear_cache()


@pytest.mark.django_db
def test_a_subjects_rows_are_encrypted_under_its_own_key_and_decrypt_without_row_context():
    alice = Subject.objects.create(
        email="alice@example.com", phone="082 555 0101", date_of_birth=datetime.date(1980, 1, 2)
    )
    note = CaseNote.objects.create(subject=alice, note="Alice's note")
    bob = Subject.objects.create(email="bob@example.com")
    alice_key, bob_key = key_of(alice), key_of(bob)
    assert alice_key.pk != bob_key.pk
    row = raw_row(TABLE, alice.pk)
    for column in ("email", "phone", "date_of_birth"):
        assert row[column].startswith(f"s1:{alice_key.pk}:"), column
    assert raw_row("pi_testapp_casenote", note.pk)["note"].startswith(f"s1:{alice_key.pk}:"), "a related row: same key"
    assert raw_row(TABLE, bob.pk)["email"].startswith(f"s1:{bob_key.pk}:")
    # The key is stored only wrapped by the field ring, bound to its subject.
    assert alice_key.wrapped_key.startswith("v1:") and len(subject_keys.decrypt_wrapped(alice_key)) == 32
    # The token alone (plus its column) decrypts: no row, no subject needed.
    assert subject_keys.decrypt(row["email"], associated_data=b"pi_testapp.subject.email") == b"alice@example.com"
    # Moved to another column, it does not.
    with pytest.raises(aead.FieldDecryptionError):
        subject_keys.decrypt(row["email"], associated_data=b"pi_testapp.subject.phone")
    fresh = Subject.objects.get(pk=alice.pk)
    assert (fresh.email, fresh.phone, fresh.date_of_birth) == (
        "alice@example.com",
        "082 555 0101",
        datetime.date(1980, 1, 2),
    )


@pytest.mark.django_db
def test_a_wrapped_key_swapped_to_another_subject_does_not_unwrap():
    alice, bob = Subject.objects.create(email="a@example.com"), Subject.objects.create(email="b@example.com")
    SubjectKey.objects.filter(pk=key_of(bob).pk).update(wrapped_key=key_of(alice).wrapped_key)
    subject_keys.clear_cache()  # as a fresh process would read it
    with pytest.raises(aead.FieldDecryptionError, match="Authentication failed"):
        Subject.objects.get(pk=bob.pk)


@pytest.mark.django_db
def test_field_ring_tokens_still_decrypt_and_the_backfill_moves_them_under_subject_keys():
    subject = Subject.objects.create(email="old@example.com", address="1 Long Street")
    with transaction.atomic():
        subject_rows.seal_rows(Subject, Subject.objects.filter(pk=subject.pk), to_hold=True)
    assert raw_row(TABLE, subject.pk)["email"].startswith("v1:")
    assert Subject.objects.get(pk=subject.pk).email == "old@example.com"

    call_command("seal_subject_keys", "--model", "pi_testapp.subject", stdout=(out := _Out()))
    # email and address, and the blank id_number and phone (an encrypted empty string each)
    assert "pi_testapp.subject: 4 value(s) re-encrypted" in out.text
    row = raw_row(TABLE, subject.pk)
    assert row["email"].startswith(f"s1:{key_of(subject).pk}:") and row["address"].startswith("s1:")
    assert Subject.objects.get(pk=subject.pk).address == "1 Long Street"
    call_command("seal_subject_keys", "--model", "pi_testapp.subject", stdout=(again := _Out()))
    assert "0 value(s)" in again.text, "idempotent"
    call_command("seal_subject_keys", "--status", stdout=(status := _Out()))
    assert "pi_testapp.subject.email: 0 value(s) under the field ring" in status.text


@pytest.mark.django_db
def test_shredding_is_final_idempotent_audited_and_reads_as_a_marker():
    subject = Subject.objects.create(email="gone@example.com", date_of_birth=datetime.date(1980, 1, 1))
    CaseNote.objects.create(subject=subject, note="kept note")
    token = raw_row(TABLE, subject.pk)["email"]
    assert Subject.objects.get(pk=subject.pk).email == "gone@example.com"  # cached now

    assert subject_keys.shred_subject_key(subject.pk, subject_type="pi_testapp.subject") is True
    assert subject_keys.shred_subject_key(subject.pk, subject_type="pi_testapp.subject") is False
    key = key_of(subject)
    assert key.destroyed_at is not None and key.wrapped_key == ""
    event = AuditEvent.objects.get(action=AuditAction.KEY_DESTROYED)
    assert event.object_id == str(key.pk) and event.change_diff["subject"] == str(subject.pk)

    shredded = Subject.objects.get(pk=subject.pk)  # the in-process cache respects the destruction
    assert shredded.email == subject_keys.SHREDDED and shredded.date_of_birth == subject_keys.SHREDDED
    assert CaseNote.objects.get(subject=subject).note == "[shredded]"
    with pytest.raises(subject_keys.SubjectKeyDestroyed):
        subject_keys.decrypt(token, associated_data=b"pi_testapp.subject.email")
    # Saving the row writes the unreadable ciphertext back, never the marker.
    shredded.nickname = "still here"
    shredded.save()
    assert raw_row(TABLE, subject.pk)["email"] == token
    # New values for an erased subject go under the field ring (what is still written is kept data).
    shredded.email = "erased-1@erased.invalid"
    shredded.save()
    assert raw_row(TABLE, subject.pk)["email"].startswith("v1:")
    assert Subject.objects.get(pk=subject.pk).email == "erased-1@erased.invalid"


@pytest.mark.django_db
def test_rekeying_keeps_what_erasure_retains_readable_after_the_shred():
    subject = Subject.objects.create(email="kept@example.com", id_number="8001015009087")
    ref = subject_keys.SubjectRef("pi_testapp.subject", str(subject.pk))
    with transaction.atomic():
        moved = subject_rows.rekey_subject_rows(ref)
        subject_keys.shred_subject_key(subject.pk, subject_type="pi_testapp.subject")
    assert moved == 4  # email, id_number and the blank phone and address
    assert raw_row(TABLE, subject.pk)["id_number"].startswith("v1:")
    assert Subject.objects.get(pk=subject.pk).id_number == "8001015009087"


@pytest.mark.django_db
def test_a_key_created_in_a_rolled_back_transaction_is_never_used_again():
    subject = Subject.objects.create(email="first@example.com")
    subject_keys.clear_cache()
    ref = subject_keys.SubjectRef("pi_testapp.subject", "999999")
    with pytest.raises(RuntimeError), transaction.atomic():
        subject_keys.encrypt(ref, b"x", associated_data=b"t")
        raise RuntimeError
    assert not SubjectKey.objects.filter(subject_id="999999").exists()
    token = subject_keys.encrypt(ref, b"y", associated_data=b"t")
    assert subject_keys.decrypt(token, associated_data=b"t") == b"y"
    assert SubjectKey.objects.filter(subject_id="999999").count() == 1
    assert subject.pk


def test_the_cache_is_a_bounded_lru(monkeypatch):
    monkeypatch.setattr(subject_keys, "CACHE_SIZE", 3)
    cache = subject_keys._KeyCache()
    refs = [subject_keys.SubjectRef("t", str(n)) for n in range(5)]
    for n, ref in enumerate(refs):
        cache.put(n, ref, bytes([n]) * 32)
        cache.get(0)  # 0 stays recently used
    assert len(cache) == 3 and cache.get(0) is not None and cache.get(1) is None
    assert cache.for_subject(refs[4]) == (4, bytes([4]) * 32) and cache.for_subject(refs[1]) is None
    monkeypatch.setattr(subject_keys, "CACHE_SECONDS", -1.0)
    assert cache.get(4) is None, "expired: re-read (another process may have destroyed it)"


@pytest.mark.django_db
def test_correction_diffs_keep_pi_only_encrypted_under_the_subject_key():
    subject = Subject.objects.create(email="diff@example.com")
    diff = build_change_diff(
        model=Subject,
        before={"email": "diff@example.com", "status": "a"},
        after={"email": "new@example.com", "status": "b"},
        subject=subject,
    )
    assert diff["before"]["status"] == "a", "not PI: in clear"
    envelope = diff["after"]["email"]
    assert set(envelope) == {"enc"} and envelope["enc"].startswith(f"s1:{key_of(subject).pk}:")
    assert "new@example.com" not in str(diff)
    assert scrub_change_diff(diff) == diff, "the envelope survives the write-time scrub"
    assert scrub_change_diff({"email": {"enc": "v1:AAAA"}}) == {"email": MASK}, "only subject-key tokens pass"
    assert reveal_change_diff(diff)["after"]["email"] == "new@example.com"
    without = build_change_diff(model=Subject, before={"email": "a@example.com"}, after={"email": "b@example.com"})
    assert without["after"]["email"] == MASK
    subject_keys.shred_subject_key(subject.pk, subject_type="pi_testapp.subject")
    assert reveal_change_diff(diff)["after"]["email"] == subject_keys.SHREDDED


@pytest.mark.django_db
@mock_aws
def test_kms_wrapped_field_ring_wraps_subject_keys_too(settings, tmp_path):
    client = boto3.client("kms", region_name="af-south-1")
    key_id = client.create_key(Description="field keys")["KeyMetadata"]["KeyId"]
    settings.FIELD_KEYS = {
        "PROVIDER": "kms", "KEY_RING_FILE": str(tmp_path / "kms.json"), "KMS_KEY_ID": key_id,
        "KMS_CLIENT": client, "CREATE_IF_MISSING": True,
    }  # fmt: skip
    subject = Subject.objects.create(email="kms@example.com")
    wrapped = key_of(subject).wrapped_key
    assert wrapped.startswith("v1:")
    subject_keys.clear_cache()
    assert Subject.objects.get(pk=subject.pk).email == "kms@example.com"
    assert (
        base64.b64encode(subject_keys.decrypt_wrapped(key_of(subject))).decode()
        not in (tmp_path / "kms.json").read_text()
    )


def test_a_model_with_encrypted_fields_but_no_subject_fails_the_check():
    assert check_subject_declarations(None) == []
    entry = registry.get(Subject)
    registry.register(replace(entry, subject=""))
    try:
        errors = check_subject_declarations(None)
    finally:
        registry.register(entry)
    assert [e.id for e in errors] == ["compliance.E123"] and "pi_testapp.Subject" in errors[0].msg
    assert encrypted_fields(Subject)


def test_deploy_check_requires_an_audit_signing_key(settings):
    assert check_audit_signing_keys(None) == []
    settings.FIELD_KEYS = {**settings.FIELD_KEYS, "AUDIT_SIGNING_KEYS": ""}
    assert [e.id for e in check_audit_signing_keys(None)] == ["compliance.E124"]


def test_prod_key_refusal_names_the_audit_signing_keys(settings):
    from django.core.exceptions import ImproperlyConfigured

    from compliance.crypto.keys import require_field_keys

    config = {**settings.FIELD_KEYS, "AUDIT_SIGNING_KEYS": ""}
    with pytest.raises(ImproperlyConfigured, match="AUDIT_SIGNING_KEYS"):
        require_field_keys(config)
    require_field_keys(settings.FIELD_KEYS)


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
