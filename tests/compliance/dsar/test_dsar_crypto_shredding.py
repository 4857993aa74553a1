"""Crypto-shredding on erasure (issue 20, docs/adr/0007): the subject's key goes, the proof stays.

A customer is seeded with recognisable values (names, e-mail, phone, SA ID number, date of birth),
an officer applies a correction (its before/after is kept in the audit record, encrypted under the
customer's key), the trail is sealed, checkpointed and archived, and a ``pg_dump`` is taken: the
"backup". Then the customer is erased through the officers' API. The test asserts:

- the subject key is destroyed (row emptied, KEY_DESTROYED recorded without PI), and shredding
  again is a no-op;
- the backup's ciphertexts of the customer no longer decrypt with any key material left after the
  erasure (the field ring and every remaining subject key), and the backup's wrapped key is gone
  from the database;
- a new dump, Redis and the archive segments hold none of the values in clear;
- what the law keeps (the KYC ID number, FICA) is still readable (moved to the field ring);
- the audit record of the correction is unchanged byte for byte, its diff now reads "[shredded]",
  and the chain, the signed checkpoints and the offline verifier all still pass.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.contrib.admin.sites import site

from accounts.services import user_profile_correct
from compliance.audit.archive import export_segments
from compliance.audit.chain import seal_pending, verify_chain
from compliance.audit.services import AuditAction, reveal_change_diff
from compliance.audit.transparency import publish_checkpoint
from compliance.crypto import subject_keys
from compliance.crypto.keys import get_key_provider
from compliance.crypto.models import SubjectKey
from compliance.dsar.erasure import erase_subject
from compliance.dsar.models import DataSubjectRequest
from compliance.models import AuditEvent
from compliance.retention.seed import seed_retention_policies
from ledger import services as ledger
from ledger.models import KycRecord
from tests.compliance.audit.conftest import trusted_keys_file
from tests.compliance.audit.test_offline_verifier import run_verifier
from tests.compliance.conftest import raw_row
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.compliance.dsar.deletion_helpers import act, deletion_awaiting_approval
from tests.compliance.dsar.test_dsar_erasure_sentinels import redis_dump
from tests.database_dump import pg_dump_data
from tests.ledger.conftest import sa_id
from tests.personas import make_customer, make_staff

pytestmark = [pytest.mark.django_db(transaction=True)]

SENTINELS = {
    "email": "sipho.shredsentinel4410@example.co.za",
    "first_name": "Siphoshredsentinel",
    "last_name": "Dlaminishredsentinel",
    "phone": "+27825554410",
    "corrected_surname": "Correctedshredsentinel",
}
DOB = dt.date(1990, 1, 15)  # what tests.ledger.conftest.sa_id encodes


def _tokens(text: str, key_id: int) -> set[str]:
    return set(re.findall(rf"s1:{key_id}:[A-Za-z0-9+/]+=*", text))


def _archive_bytes(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file())


def _remaining_key_material() -> list[bytes]:
    """Every key left after the erasure: the field ring's versions and every live subject key."""
    provider = get_key_provider()
    ring = [provider.decryption_key(version) for version in provider.versions("field")]
    live = [subject_keys.decrypt_wrapped(row) for row in SubjectKey.objects.filter(destroyed_at__isnull=True)]
    return ring + live


def test_erasure_shreds_the_key_and_no_copy_of_the_subject_stays_readable(settings, tmp_path):
    archive = tmp_path / "audit-archive"
    settings.AUDIT_ARCHIVE_BACKEND = "local"
    settings.AUDIT_ARCHIVE_DIR = str(archive)
    seed_purposes()
    seed_retention_policies()
    operations = make_staff("operations")
    first, second = make_staff("information_officer"), make_staff("information_officer")
    subject = make_customer(email=SENTINELS["email"])
    subject.first_name, subject.last_name, subject.phone = (
        SENTINELS["first_name"],
        SENTINELS["last_name"],
        SENTINELS["phone"],
    )
    subject.save()
    id_number = sa_id()
    record = ledger.kyc_submit(actor=subject, id_number=id_number, date_of_birth=DOB, document_reference="DOC-SH")
    ledger.kyc_decide(actor=operations, record=record.public_id, verify=True, tier=2)
    user_profile_correct(actor=first, user=subject, reference="DSAR-SHRED", last_name=SENTINELS["corrected_surname"])
    sentinels = {**SENTINELS, "id_number": id_number}

    # Every PI column of the customer is under the customer's own key, and so is the diff's PI.
    key = SubjectKey.objects.get(subject_type="accounts.user", subject_id=str(subject.pk))
    prefix = f"s1:{key.pk}:"
    user_row = raw_row("accounts_user", subject.pk)
    assert all(user_row[c].startswith(prefix) for c in ("email", "first_name", "last_name", "phone"))
    kyc_row = raw_row("ledger_kycrecord", record.pk)
    assert kyc_row["id_number"].startswith(prefix) and kyc_row["date_of_birth"].startswith(prefix)
    correction = AuditEvent.objects.get(action=AuditAction.PROFILE_UPDATED, object_id=str(subject.public_id))
    diff = correction.change_diff
    assert diff["before"]["last_name"]["enc"].startswith(prefix)
    assert reveal_change_diff(diff)["after"]["last_name"] == SENTINELS["corrected_surname"]

    # Sealed, checkpointed, archived; then the "backup".
    seal_pending()
    publish_checkpoint(force=True)
    export_segments()
    backup = pg_dump_data()
    backup_tokens = _tokens(backup, key.pk)
    assert len(backup_tokens) >= 8, "the backup holds the customer's ciphertexts"
    assert key.wrapped_key in backup
    for name, value in sentinels.items():
        assert value not in backup, f"{name} in clear in the backup, before any erasure"
    correction_hash = correction.hash if correction.hash else AuditEvent.objects.get(pk=correction.pk).hash

    # The deletion: filed by the customer, approved by two officers, carried out.
    deletion = deletion_awaiting_approval(subject, first)
    act(second, deletion, "approve")
    statement = erase_subject(dsar=DataSubjectRequest.objects.get(public_id=deletion))
    assert statement is not None and "key that encrypted your personal information has been destroyed" in statement

    # The key is gone, once; the record of it names no PI.
    key.refresh_from_db()
    assert key.destroyed_at is not None and key.wrapped_key == ""
    assert subject_keys.shred_subject_key(subject.pk) is False
    destroyed = AuditEvent.objects.get(action=AuditAction.KEY_DESTROYED, object_id=str(key.pk))
    assert destroyed.change_diff == {"subject_type": "accounts.user", "subject": str(subject.pk), "format": 1}

    # The backup property: no ciphertext of the backup decrypts with what is left.
    subject_keys.clear_cache()  # as a fresh process would
    for token in backup_tokens:
        with pytest.raises(subject_keys.SubjectKeyDestroyed):
            subject_keys.decrypt(token, associated_data=b"accounts.user.first_name")
    remaining = _remaining_key_material()
    assert remaining
    for token in backup_tokens:
        blob = base64.b64decode(token.split(":", 2)[2])
        for candidate in remaining:
            for aad in (b"accounts.user.email", b"accounts.user.first_name", b"accounts.user.last_name",
                        b"accounts.user.phone", b"ledger.kycrecord.id_number", b"ledger.kycrecord.date_of_birth",
                        subject_keys.AUDIT_DIFF_AAD):  # fmt: skip
                with pytest.raises(InvalidTag):
                    AESGCM(candidate).decrypt(blob[:12], blob[12:], aad)

    # Nothing in clear anywhere now; the wrapped key itself is no longer in the database.
    seal_pending()
    publish_checkpoint(force=True)
    export_segments()
    dump, cache, archived = pg_dump_data(), redis_dump(), _archive_bytes(archive)
    assert key.pk and backup_tokens and archived
    for name, value in sentinels.items():
        assert value not in dump, f"{name} in the database dump"
        assert value not in cache, f"{name} in Redis"
        assert value.encode() not in archived, f"{name} in the audit archive"
    assert SubjectKey.objects.get(pk=key.pk).wrapped_key == ""
    old_wrapped = re.search(rf"\b{key.pk}\taccounts\.user\t{subject.pk}\t1\t(v[0-9]+:[A-Za-z0-9+/=]+)", backup)
    assert old_wrapped is not None and old_wrapped.group(1) not in dump

    # What the law keeps stays readable, moved to the field ring (the hold key).
    kept = KycRecord.objects.get(pk=record.pk)
    assert kept.id_number == id_number and kept.date_of_birth == DOB
    assert raw_row("ledger_kycrecord", record.pk)["id_number"].startswith("v")

    # The correction's record is untouched; its PI reads as shredded, in the admin too.
    correction.refresh_from_db()
    assert correction.change_diff == diff and correction.hash == correction_hash
    shown = reveal_change_diff(correction.change_diff)
    assert shown["before"]["last_name"] == subject_keys.SHREDDED == shown["after"]["last_name"]
    admin = site._registry[AuditEvent]
    assert "[shredded]" in admin.change_diff_masked(correction)
    assert SENTINELS["last_name"] not in admin.change_diff_revealed(correction)

    # The chain, every checkpoint and the offline verifier still agree.
    assert verify_chain().ok
    code, report = run_verifier(archive, trusted_keys_file(tmp_path / "trusted.vkeys"))
    assert code == 0, report


def test_a_subject_wide_litigation_hold_keeps_the_key(settings):
    from compliance.retention.services import hold_place

    seed_purposes()
    seed_retention_policies()
    first, second = make_staff("information_officer"), make_staff("information_officer")
    subject = make_customer()
    hold_place(actor=first, subject=subject, kind="litigation", reason="Case 12/2026", hold_until=None)
    deletion = deletion_awaiting_approval(subject, first)
    act(second, deletion, "approve")
    statement = erase_subject(dsar=DataSubjectRequest.objects.get(public_id=deletion))
    assert statement is not None and "has not been carried out" in statement
    key = SubjectKey.objects.get(subject_type="accounts.user", subject_id=str(subject.pk))
    assert key.destroyed_at is None and key.wrapped_key
    subject.refresh_from_db()
    assert subject.first_name == "Thandi"
