"""Archive of sealed segments: local directory by default, S3 Object Lock (moto) in production."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from compliance.audit.archive import export_segments
from compliance.audit.chain import GENESIS_HASH, compute_hash, seal_pending, verify_and_alert
from compliance.audit.merkle import canonical_bytes
from compliance.audit.services import AuditAction
from compliance.audit.storage import S3ObjectLockStorage, get_storage, read_external_head
from compliance.models import AuditEvent
from tests.compliance.audit.conftest import write_events

pytestmark = pytest.mark.django_db


def _verify_segment_standalone(body: bytes, prev_hash: str) -> str:
    """Re-derive every hash from the archived lines alone, without the database."""
    for line in body.splitlines():
        record = json.loads(line)
        assert record["prev_hash"] == prev_hash
        stored_hash = record.pop("hash")
        record.pop("prev_hash")
        digest = hashlib.sha256(canonical_bytes(record) + prev_hash.encode()).hexdigest()
        assert digest == stored_hash
        prev_hash = stored_hash
    return prev_hash


def test_local_export_writes_segments_and_a_manifest_whose_hashes_match(settings):
    settings.AUDIT_ARCHIVE_SEGMENT_RECORDS = 4
    write_events(10)
    seal_pending()
    summary = export_segments()
    assert summary == {"segments": 3, "records": 10, "head_seq": 10}

    root = Path(settings.AUDIT_ARCHIVE_DIR)
    manifest = json.loads((root / "manifests" / f"{10:012d}.json").read_text())
    assert [(s["first_seq"], s["last_seq"], s["records"]) for s in manifest["segments"]] == [
        (1, 4, 4),
        (5, 8, 4),
        (9, 10, 2),
    ]
    prev = GENESIS_HASH
    for segment in manifest["segments"]:
        body = (root / segment["key"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == segment["sha256"]
        assert segment["first_prev_hash"] == prev
        prev = _verify_segment_standalone(body, prev)
        assert prev == segment["last_hash"]
        assert (root / segment["key"]).stat().st_mode & 0o222 == 0  # read-only files
    head = AuditEvent.objects.get(seq=10)
    assert manifest["head"]["seq"] == 10
    assert manifest["head"]["hash"] == head.hash
    assert json.loads((root / "head.json").read_text())["hash"] == head.hash
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_ARCHIVED).count() == 1

    # Idempotent: nothing new sealed, nothing written.
    assert export_segments()["segments"] == 0
    # The next export continues after the head, the manifest lists every segment so far.
    write_events(3)
    seal_pending()
    assert export_segments() == {"segments": 1, "records": 4, "head_seq": 14}  # incl. the AUDIT_ARCHIVED event
    latest = json.loads((root / "manifests" / f"{14:012d}.json").read_text())
    assert [s["first_seq"] for s in latest["segments"]] == [1, 5, 9, 11]
    assert latest["segments"][-1]["first_prev_hash"] == manifest["head"]["hash"]


def test_the_archived_head_is_the_truncation_tripwire(behind_the_triggers):
    write_events(4)
    seal_pending()
    export_segments()
    assert read_external_head()["seq"] == 4
    behind_the_triggers("DELETE FROM compliance_auditevent WHERE seq = 4")
    result = verify_and_alert()
    assert (result.ok, result.first_broken_seq) == (False, 4)


@pytest.fixture
def s3_bucket(settings):
    with mock_aws():
        client = boto3.client("s3", region_name="af-south-1")
        client.create_bucket(
            Bucket="audit-archive",
            CreateBucketConfiguration={"LocationConstraint": "af-south-1"},
            ObjectLockEnabledForBucket=True,
        )
        yield client


def test_s3_segments_are_locked_in_compliance_mode_for_five_years(s3_bucket, settings):
    write_events(5)
    seal_pending()
    storage = S3ObjectLockStorage(bucket="audit-archive", prefix="audit/", retention_days=5 * 365 + 2, client=s3_bucket)
    before = datetime.now(UTC)
    assert export_segments(storage=storage) == {"segments": 1, "records": 5, "head_seq": 5}

    keys = sorted(item["Key"] for item in s3_bucket.list_objects_v2(Bucket="audit-archive")["Contents"])
    segment_key = f"audit/segments/{1:012d}-{5:012d}.jsonl"
    assert keys == ["audit/head.json", f"audit/manifests/{5:012d}.json", segment_key]
    for key in keys:
        # moto answers get_object_retention with a 500: read the lock through head_object.
        head = s3_bucket.head_object(Bucket="audit-archive", Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        retain_until = head["ObjectLockRetainUntilDate"]
        assert before + timedelta(days=5 * 365) < retain_until < before + timedelta(days=5 * 365 + 3)

    manifest = json.loads(
        s3_bucket.get_object(Bucket="audit-archive", Key=f"audit/manifests/{5:012d}.json")["Body"].read()
    )
    body = s3_bucket.get_object(Bucket="audit-archive", Key=segment_key)["Body"].read()
    assert manifest["segments"][0]["sha256"] == hashlib.sha256(body).hexdigest()
    assert _verify_segment_standalone(body, GENESIS_HASH) == AuditEvent.objects.get(seq=5).hash
    row = AuditEvent.objects.filter(seq=1).values().get()
    assert json.loads(body.splitlines()[0])["hash"] == compute_hash(row, GENESIS_HASH)

    # Within the retention period the locked version cannot be deleted.
    version = s3_bucket.head_object(Bucket="audit-archive", Key=segment_key)["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3_bucket.delete_object(Bucket="audit-archive", Key=segment_key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3_bucket.head_object(Bucket="audit-archive", Key=segment_key, VersionId=version)["ContentLength"] == len(
        body
    )


def test_the_s3_backend_is_selected_by_settings_and_feeds_verification(s3_bucket, settings, behind_the_triggers):
    settings.AUDIT_ARCHIVE_BACKEND = "s3"
    settings.AUDIT_ARCHIVE_S3_BUCKET = "audit-archive"
    settings.AUDIT_ARCHIVE_S3_PREFIX = "audit/"
    storage = get_storage()
    assert isinstance(storage, S3ObjectLockStorage)
    storage.client = s3_bucket
    write_events(3)
    seal_pending()
    export_segments(storage=storage)
    assert read_external_head(storage)["seq"] == 3
    behind_the_triggers("DELETE FROM compliance_auditevent WHERE seq = 3")
    # verify_and_alert reads the exported head through get_storage() (a fresh boto3 client).
    result = verify_and_alert()
    assert (result.ok, result.first_broken_seq, result.external_head_seq) == (False, 3, 3)
