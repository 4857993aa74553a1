"""Export of sealed audit segments to write-once storage, and the chain head kept outside the DB.

Layout in the storage (keys are relative to the configured prefix/directory):
- ``segments/<first_seq>-<last_seq>.jsonl``: one canonical record per line (exactly what the
  hash covers) plus its ``prev_hash`` and ``hash``, so the segment verifies without the database;
- ``manifests/<last_seq>.json``: every segment so far (seq range, SHA-256 of the file, the
  chain hash at both ends) and the chain head; names sort by ``last_seq``, the newest is the head;
- ``head.json``: the latest sealed head (seq, hash, genesis hash), refreshed after sealing at most
  every ``AUDIT_HEAD_EXPORT_SECONDS``. ``verify_audit_chain`` compares the database against it, so
  a removed tail is detected even though nothing in the database remembers it.

Invariants: an exported segment is never rewritten (the next export starts after the manifest's
last seq); on S3 every object is written with Object Lock in COMPLIANCE mode and a retention of
``AUDIT_ARCHIVE_RETENTION_DAYS`` (5 years), so not even the account root can delete it early.
The export is idempotent: re-running it with nothing new sealed writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from compliance.audit import ActorType, AuditAction, audit_record
from compliance.audit_chain import canonical_bytes, canonical_record, genesis_hash, iter_sealed

logger = logging.getLogger("compliance.archive")

HEAD_KEY = "head.json"
HEAD_EXPORTED_CACHE_KEY = "compliance:audit-head-exported-seq"


class ArchiveStorage(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def list(self, prefix: str) -> list[str]: ...


class LocalDirectoryStorage:
    """The default: a directory (ideally on separate, backed-up storage). Files are made read-only."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("archive key escapes the archive directory")
        return path

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a reader never sees half a file, a crash never leaves one.
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.exists() else None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())


class S3ObjectLockStorage:
    """S3 with Object Lock: every object is retained in COMPLIANCE mode for the retention period.

    The bucket must have been created with Object Lock enabled (which implies versioning);
    ``head.json`` overwrites therefore keep every earlier version, each locked too.
    """

    def __init__(self, *, bucket: str, prefix: str = "", retention_days: int, client: Any = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.retention_days = retention_days
        self.client = client or boto3.client("s3")

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=data,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=timezone.now() + timedelta(days=self.retention_days),
        )

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            return None
        return response["Body"].read()

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)


def get_storage() -> ArchiveStorage:
    backend = settings.AUDIT_ARCHIVE_BACKEND
    if backend == "s3":
        return S3ObjectLockStorage(
            bucket=settings.AUDIT_ARCHIVE_S3_BUCKET,
            prefix=settings.AUDIT_ARCHIVE_S3_PREFIX,
            retention_days=settings.AUDIT_ARCHIVE_RETENTION_DAYS,
        )
    if backend == "local":
        return LocalDirectoryStorage(settings.AUDIT_ARCHIVE_DIR)
    raise ValueError(f"Unknown AUDIT_ARCHIVE_BACKEND {backend!r} (use 'local' or 's3').")


# --- The head outside the database -------------------------------------------------------------
def read_external_head(storage: ArchiveStorage | None = None) -> dict[str, Any] | None:
    """The newest head known outside the database: head.json, or else the newest manifest's."""
    storage = storage or get_storage()
    heads = []
    raw = storage.get(HEAD_KEY)
    if raw:
        heads.append(json.loads(raw))
    manifest = latest_manifest(storage)
    if manifest:
        heads.append(manifest["head"])
    return max(heads, key=lambda head: head["seq"]) if heads else None


def export_head(head_seq: int, head_hash: str, *, storage: ArchiveStorage | None = None, force: bool = False) -> bool:
    """Write head.json unless one was written within ``AUDIT_HEAD_EXPORT_SECONDS``. Returns True if written."""
    if head_seq == 0:
        return False
    # add() is atomic in Redis: among concurrent sealers only one writes per interval.
    if not force and not cache.add(HEAD_EXPORTED_CACHE_KEY, head_seq, timeout=settings.AUDIT_HEAD_EXPORT_SECONDS):
        return False
    storage = storage or get_storage()
    head = {"seq": head_seq, "hash": head_hash, "genesis_hash": genesis_hash(), "at": timezone.now().isoformat()}
    storage.put(HEAD_KEY, json.dumps(head, sort_keys=True).encode(), content_type="application/json")
    return True


# --- Segments -----------------------------------------------------------------------------------
def latest_manifest(storage: ArchiveStorage) -> dict[str, Any] | None:
    keys = [key for key in storage.list("manifests/") if key.endswith(".json")]
    if not keys:
        return None
    raw = storage.get(keys[-1])
    return json.loads(raw) if raw else None


def export_segments(*, storage: ArchiveStorage | None = None, max_records: int | None = None) -> dict[str, Any]:
    """Write the sealed records not yet archived as new segments plus a new manifest.

    Returns a summary (segments written, records, head). Safe to re-run at any time.
    """
    storage = storage or get_storage()
    max_records = max_records or settings.AUDIT_ARCHIVE_SEGMENT_RECORDS
    manifest = latest_manifest(storage) or {"version": 1, "segments": [], "head": {"seq": 0}}
    next_seq = manifest["head"]["seq"] + 1
    written: list[dict[str, Any]] = []
    lines: list[bytes] = []
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None

    def flush() -> None:
        nonlocal lines, first
        if not lines or first is None or last is None:
            return
        body = b"".join(lines)
        key = f"segments/{first['seq']:012d}-{last['seq']:012d}.jsonl"
        storage.put(key, body, content_type="application/x-ndjson")
        written.append(
            {
                "key": key,
                "first_seq": first["seq"],
                "last_seq": last["seq"],
                "records": len(lines),
                "sha256": hashlib.sha256(body).hexdigest(),
                "first_prev_hash": first["prev_hash"],
                "last_hash": last["hash"],
            }
        )
        lines, first = [], None

    for row in iter_sealed(from_seq=next_seq):
        if row["seq"] != next_seq:
            # Never archive across a gap: the chain is broken and verification will say where.
            logger.error("audit archive stopped at a gap in the chain", extra={"seq": next_seq})
            break
        record = canonical_record(row) | {"prev_hash": row["prev_hash"], "hash": row["hash"]}
        lines.append(canonical_bytes(record) + b"\n")
        first = first or row
        last = row
        next_seq += 1
        if len(lines) >= max_records:
            flush()
    flush()
    if not written:
        return {"segments": 0, "records": 0, "head_seq": manifest["head"]["seq"]}
    head = {
        "seq": written[-1]["last_seq"],
        "hash": written[-1]["last_hash"],
        "genesis_hash": genesis_hash(),
        "at": timezone.now().isoformat(),
    }
    new_manifest = {"version": 1, "segments": manifest["segments"] + written, "head": head}
    storage.put(
        f"manifests/{head['seq']:012d}.json",
        json.dumps(new_manifest, sort_keys=True, indent=1).encode(),
        content_type="application/json",
    )
    storage.put(HEAD_KEY, json.dumps(head, sort_keys=True).encode(), content_type="application/json")
    records = sum(segment["records"] for segment in written)
    with transaction.atomic():
        audit_record(
            action=AuditAction.AUDIT_ARCHIVED,
            actor_type=ActorType.SYSTEM,
            object_type="audit.segment",
            object_id=str(head["seq"]),
            change_diff={"segments": len(written), "records": records, "head_seq": head["seq"]},
        )
    logger.info("audit segments archived", extra={"segments": len(written), "records": records})
    return {"segments": len(written), "records": records, "head_seq": head["seq"]}
