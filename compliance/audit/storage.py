"""Where the audit archive lives: write-once storage (a local directory, or S3 with Object Lock in
COMPLIANCE mode) and the chain head kept outside the database (``head.json``). See
``compliance.audit.archive`` for the layout of segments and manifests.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

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


def export_head(
    head_seq: int,
    head_hash: str,
    *,
    genesis: str | None,
    storage: ArchiveStorage | None = None,
    force: bool = False,
) -> bool:
    """Write head.json unless one was written within ``AUDIT_HEAD_EXPORT_SECONDS``. Returns True if written."""
    if head_seq == 0:
        return False
    # add() is atomic in Redis: among concurrent sealers only one writes per interval.
    if not force and not cache.add(HEAD_EXPORTED_CACHE_KEY, head_seq, timeout=settings.AUDIT_HEAD_EXPORT_SECONDS):
        return False
    storage = storage or get_storage()
    head = {"seq": head_seq, "hash": head_hash, "genesis_hash": genesis, "at": timezone.now().isoformat()}
    storage.put(HEAD_KEY, json.dumps(head, sort_keys=True).encode(), content_type="application/json")
    return True


# --- Segments -----------------------------------------------------------------------------------
def latest_manifest(storage: ArchiveStorage) -> dict[str, Any] | None:
    keys = [key for key in storage.list("manifests/") if key.endswith(".json")]
    if not keys:
        return None
    raw = storage.get(keys[-1])
    return json.loads(raw) if raw else None
