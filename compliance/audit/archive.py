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
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance.audit.chain import canonical_record, genesis_hash, iter_sealed
from compliance.audit.merkle import canonical_bytes
from compliance.audit.services import ActorType, AuditAction, audit_record
from compliance.audit.storage import HEAD_KEY, ArchiveStorage, get_storage, latest_manifest

logger = logging.getLogger("compliance.audit.archive")


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
