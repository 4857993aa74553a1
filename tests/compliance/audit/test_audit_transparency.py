"""The Merkle tree the sealer grows, signed checkpoints, witness cosignatures, and the archive copies."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone
from moto import mock_aws

from compliance.audit import merkle
from compliance.audit.chain import chain_head, seal_pending, tree_catch_up
from compliance.audit.note import COSIGNATURE_V1, ED25519, Checkpoint, SignedNote, SignerKey, verified_by
from compliance.audit.storage import S3ObjectLockStorage
from compliance.audit.transparency import (
    consistency_proof,
    inclusion_proof,
    log_verifier_keys,
    publish_checkpoint,
    root_at,
    tree_size,
)
from compliance.models import (
    AuditCheckpoint,
    AuditCheckpointCosignature,
    AuditEvent,
    AuditMerkleNode,
    AuditMerkleState,
)
from tests.compliance.audit.conftest import grow_and_checkpoint, write_events

pytestmark = pytest.mark.django_db


def _all_hashes() -> list[bytes]:
    return [
        bytes.fromhex(h)
        for h in AuditEvent.objects.filter(seq__isnull=False).order_by("seq").values_list("hash", flat=True)
    ]


def test_the_sealer_grows_the_tree_in_step_with_the_chain():
    write_events(5)
    seal_pending(batch_size=2)  # three batches: 2 + 2 + 1
    write_events(6)
    seal_pending(batch_size=4)
    head_seq, _ = chain_head()
    state = AuditMerkleState.objects.get()
    assert state.size == head_seq == 11
    # The stored compact range is the right edge of the tree: 11 = 8 + 2 + 1 → three subtrees.
    assert len(bytes(state.compact_range)) == 3 * 32
    assert root_at(11) == merkle.root_of(_all_hashes())
    # Every perfect subtree was stored once (2n - popcount(n) nodes), nothing recomputed.
    assert AuditMerkleNode.objects.count() == 2 * 11 - bin(11).count("1")
    for size in range(1, 12):
        assert root_at(size) == merkle.root_of(_all_hashes()[:size])


def test_a_chain_sealed_before_the_tree_existed_is_caught_up_in_order():
    write_events(7)
    seal_pending()
    # As after the upgrade: the tree knows nothing of the sealed records.
    AuditMerkleState.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE compliance_auditmerklenode DISABLE TRIGGER ALL")
        cursor.execute("DELETE FROM compliance_auditmerklenode")
        cursor.execute("ALTER TABLE compliance_auditmerklenode ENABLE TRIGGER ALL")
    assert tree_size() == 0
    write_events(2)
    seal_pending()  # the next seal appends the 7 older records first, then its own 2
    assert tree_size() == 9
    assert root_at(9) == merkle.root_of(_all_hashes())
    assert tree_catch_up() == 9


def test_stored_nodes_cannot_be_changed_or_deleted():
    write_events(2)
    seal_pending()
    with pytest.raises(Exception, match="audit_node_append_only"), transaction.atomic():
        AuditMerkleNode.objects.filter(id=0).update(hash=b"\x00" * 32)
    with pytest.raises(Exception, match="audit_node_append_only"), transaction.atomic():
        AuditMerkleNode.objects.filter(id=0).delete()


def test_a_checkpoint_is_signed_stored_and_archived_in_the_c2sp_format(settings):
    write_events(3)
    seal_pending()
    checkpoint = publish_checkpoint(force=True)
    note = SignedNote.parse(checkpoint.note)
    body = Checkpoint.parse_body(note.body)
    assert (body.origin, body.size, body.root) == (settings.AUDIT_LOG_ORIGIN, 3, root_at(3))
    lines = checkpoint.note.split("\n")
    assert lines[:3] == [settings.AUDIT_LOG_ORIGIN, "3", base64.b64encode(root_at(3)).decode()]
    assert lines[3].startswith("time ") and lines[4] == ""
    assert lines[5].startswith("\u2014 " + settings.AUDIT_LOG_ORIGIN + " ")
    # The signature line carries the 4-byte key id and a 64-byte Ed25519 signature.
    raw = base64.b64decode(lines[5].split(" ")[2])
    assert len(raw) == 68 and raw[:4].hex() == checkpoint.key_id
    assert verified_by(note, log_verifier_keys(), ED25519)
    archive = Path(settings.AUDIT_ARCHIVE_DIR)
    assert (archive / checkpoint.archive_key).read_text() == checkpoint.note
    assert (archive / "checkpoint").read_text() == checkpoint.note
    assert (archive / "keys" / "log.vkeys").read_text().strip() == log_verifier_keys()[0].encode()


def test_checkpoints_follow_the_seal_interval_and_at_least_hourly(settings, time_machine):
    settings.AUDIT_CHECKPOINT_MIN_SECONDS = 5
    settings.AUDIT_CHECKPOINT_MAX_SECONDS = 3600
    time_machine.move_to(timezone.now(), tick=False)
    write_events(2)
    seal_pending()
    first = publish_checkpoint()
    assert first is not None and first.size == 2
    assert publish_checkpoint() is None  # nothing new
    write_events(1)
    seal_pending()
    assert publish_checkpoint() is None  # grew, but within the seal interval
    time_machine.shift(timedelta(seconds=6))
    second = publish_checkpoint()
    assert second.size == 3 and second.previous_size == 2
    proof = [bytes.fromhex(h) for h in second.consistency_proof]
    assert merkle.verify_consistency(2, 3, root_at(2), root_at(3), proof)
    time_machine.shift(timedelta(minutes=30))
    assert publish_checkpoint() is None  # unchanged and not yet an hour old
    time_machine.shift(timedelta(minutes=31))
    hourly = publish_checkpoint()
    assert hourly.size == 3 and hourly.signed_at > second.signed_at
    assert AuditCheckpoint.objects.count() == 3


def test_the_seal_task_publishes_checkpoints():
    from compliance.audit.tasks import seal_audit_events

    write_events(4)
    assert seal_audit_events() == {"sealed": 4, "head_seq": 4}
    assert AuditCheckpoint.objects.get().size == 4


def test_checkpoints_cannot_be_rewritten():
    (checkpoint,) = grow_and_checkpoint(2)
    with pytest.raises(Exception, match="audit_checkpoint_append_only"), transaction.atomic():
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(root_hash="0" * 64)


def test_proofs_from_the_stored_nodes_verify():
    grow_and_checkpoint(13)
    for seq in (1, 7, 13):
        assert merkle.verify_inclusion(
            seq - 1, 13, merkle.leaf_hash(_all_hashes()[seq - 1]), inclusion_proof(seq, 13), root_at(13)
        )
    assert merkle.verify_consistency(5, 13, root_at(5), root_at(13), consistency_proof(5, 13))


def test_rotating_the_signing_key_keeps_old_checkpoints_verifiable(settings, tmp_path):
    settings.FIELD_KEYS = {
        **settings.FIELD_KEYS,
        "PROVIDER": "file",
        "KEY_RING_FILE": str(tmp_path / "ring.json"),
        "CREATE_IF_MISSING": True,
    }
    from compliance.crypto.keys import AUDIT_SIGNING, get_key_provider

    (old,) = grow_and_checkpoint(2)
    get_key_provider().add_version(AUDIT_SIGNING)
    (new,) = grow_and_checkpoint(3)
    assert old.key_id != new.key_id
    keys = log_verifier_keys()
    assert {k.id.hex() for k in keys} == {old.key_id, new.key_id}
    for row in (old, new):
        assert verified_by(SignedNote.parse(row.note), keys, ED25519)


def test_the_signing_key_is_in_the_secret_inventory_and_rotates_there(settings, tmp_path):
    settings.FIELD_KEYS = {
        **settings.FIELD_KEYS,
        "PROVIDER": "file",
        "KEY_RING_FILE": str(tmp_path / "ring.json"),
        "CREATE_IF_MISSING": True,
    }
    from compliance.secret_rotation.inventory import secrets_check
    from compliance.secret_rotation.models import SecretRotation

    (before,) = grow_and_checkpoint(2)
    secrets_check(rotate=False)
    row = SecretRotation.objects.get(name="audit-signing-key")
    assert row.platform_rotates
    SecretRotation.objects.filter(pk=row.pk).update(max_age_days=0)
    secrets_check(rotate=True)
    (after,) = grow_and_checkpoint(3)
    assert after.key_id != before.key_id
    assert AuditEvent.objects.filter(action="KEY_ROTATED", object_type="audit_signing_key").exists()


# --- The witness -----------------------------------------------------------------------------------
@pytest.fixture
def witness(tmp_path):
    key_file = tmp_path / "witness.key"
    call_command("cosign_audit_checkpoint", "--generate-key", "io.example/witness", "--key", str(key_file))
    log_keys = tmp_path / "log.vkeys"
    log_keys.write_text("\n".join(k.encode() for k in log_verifier_keys()) + "\n")
    args = ["--key", str(key_file), "--log-key", str(log_keys), "--state", str(tmp_path / "witness.state")]
    return SignerKey.parse(key_file.read_text()), args


def test_a_witness_cosigns_and_checks_consistency_with_what_it_cosigned(witness, settings):
    key, args = witness
    assert key.alg == COSIGNATURE_V1
    grow_and_checkpoint(3)
    call_command("cosign_audit_checkpoint", *args)
    grow_and_checkpoint(8)
    call_command("cosign_audit_checkpoint", *args)
    latest = AuditCheckpoint.objects.order_by("-size").first()
    cosignature = AuditCheckpointCosignature.objects.get(checkpoint=latest)
    from compliance.audit.transparency import published_note

    note = published_note(latest)
    assert verified_by(note, [key.verifier], COSIGNATURE_V1) == [key.verifier]
    assert (Path(settings.AUDIT_ARCHIVE_DIR) / cosignature.archive_key).read_text() == note.text()


def test_a_witness_refuses_a_rewritten_history(witness, behind_the_triggers):
    _, args = witness
    grow_and_checkpoint(4)
    call_command("cosign_audit_checkpoint", *args)
    # A superuser rewrites the tree's tables wholesale and re-signs with the log's own key.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE compliance_auditmerklenode DISABLE TRIGGER ALL")
        cursor.execute("UPDATE compliance_auditmerklenode SET hash = sha256(hash)")
        cursor.execute("ALTER TABLE compliance_auditmerklenode ENABLE TRIGGER ALL")
    AuditMerkleState.objects.update(compact_range=hashlib.sha256(b"forged").digest())
    write_events(1)
    seal_pending()
    publish_checkpoint(force=True)
    with pytest.raises(CommandError, match="not consistent"):
        call_command("cosign_audit_checkpoint", *args)
    assert AuditCheckpointCosignature.objects.count() == 1


def test_a_witness_refuses_a_checkpoint_the_log_key_did_not_sign(witness, tmp_path):
    _, args = witness
    grow_and_checkpoint(2)
    stranger = SignerKey.generate("fintech.example/audit", ED25519)
    (tmp_path / "log.vkeys").write_text(stranger.verifier.encode() + "\n")
    with pytest.raises(CommandError, match="log signature"):
        call_command("cosign_audit_checkpoint", *args)
    assert not AuditCheckpointCosignature.objects.exists()


# --- S3 with Object Lock (moto) --------------------------------------------------------------------
@mock_aws
def test_checkpoints_go_to_s3_under_object_lock():
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    storage = S3ObjectLockStorage(bucket="audit", prefix="trail", retention_days=5 * 365, client=client)
    write_events(3)
    seal_pending()
    checkpoint = publish_checkpoint(storage=storage, force=True)
    head = client.head_object(Bucket="audit", Key="trail/" + checkpoint.archive_key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    body = client.get_object(Bucket="audit", Key="trail/" + checkpoint.archive_key)["Body"].read()
    assert body.decode() == checkpoint.note
    # The next checkpoint replaces "checkpoint" as a new version: the locked original stays.
    write_events(1)
    seal_pending()
    publish_checkpoint(storage=storage, force=True)
    versions = client.list_object_versions(Bucket="audit", Prefix="trail/checkpoint")["Versions"]
    latest = [v for v in versions if v["Key"] == "trail/checkpoint"]
    assert len(latest) == 2
    for version in latest:
        head = client.head_object(Bucket="audit", Key="trail/checkpoint", VersionId=version["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE"


def test_a_checkpoint_the_archive_missed_is_written_by_the_daily_task(settings, monkeypatch):
    from compliance.audit import transparency
    from compliance.audit.tasks import archive_audit_segments

    def broken(*args, **kwargs):
        raise OSError("storage down")

    monkeypatch.setattr(transparency, "_write_checkpoint", broken)
    (checkpoint,) = grow_and_checkpoint(2)
    monkeypatch.undo()
    assert not (Path(settings.AUDIT_ARCHIVE_DIR) / checkpoint.archive_key).exists()
    result = archive_audit_segments()
    assert result["checkpoints_written"] >= 1
    assert (Path(settings.AUDIT_ARCHIVE_DIR) / checkpoint.archive_key).read_text() == checkpoint.note
    assert json.loads((Path(settings.AUDIT_ARCHIVE_DIR) / "head.json").read_text())["seq"] >= 2


def test_without_a_signing_key_sealing_goes_on_and_says_so_once(settings, caplog):
    from compliance.audit import chain

    settings.FIELD_KEYS = {**settings.FIELD_KEYS, "AUDIT_SIGNING_KEYS": ""}
    chain._warned_unsigned.clear()
    with caplog.at_level("ERROR", logger="compliance.audit.chain"):
        for _ in range(2):
            write_events(2)
            chain.seal_and_export_head(force_checkpoint=True)
    assert chain_head()[0] == 4 and tree_size() == 4
    assert not AuditCheckpoint.objects.exists()
    unsigned = [r for r in caplog.records if r.message.startswith("audit checkpoints are not signed")]
    assert len(unsigned) == 1 and "AUDIT_SIGNING_KEYS" in unsigned[0].message
