"""The erasure ledger: every completed erasure, recorded outside the database it erased from.

A restore of a backup taken before an erasure brings the subject's personal information back.
The ledger is what survives that restore: one entry per completed erasure, in the archive store
(``compliance.audit.storage``: a local directory, or S3 with Object Lock in COMPLIANCE mode, so
an entry cannot be deleted or overwritten for the archive's retention), never in the database.
After a restore ``manage.py reapply_erasures`` (``compliance.dsar.reapply``) reads it and erases
every subject it lists again.

Layout (keys relative to the archive's prefix): ``erasure-ledger/<seq, 12 digits>.json``, one
canonical JSON object per entry::

    {"version": 1, "seq": 7, "prev_hash": <hash of entry 6, or 64 zeros>, "subject_id": 42,
     "subject_public_id": "<uuid>", "dsar": "<request uuid>", "erased_at": "<ISO 8601>",
     "kept_rows": [["app.model", "pk"], ...], "recorded_at": "<ISO 8601>",
     "hash": sha256(canonical entry without hash and signature),
     "key_id": "<Ed25519 key id>", "signature": base64(Ed25519(DOMAIN + hash))}

Invariants:
- No personal information: ids, the request's reference, times and the primary keys of rows an
  erasure kept under a hold.
- Entries cannot be silently dropped or forged: each names the hash of the one before it (a
  gap, a removed or reordered entry breaks the chain at that seq), each is signed with the
  ``audit_signing`` key of the key provider (an entry planted by someone who can write to the
  archive but holds no key is refused: a forged entry would erase a customer who never asked;
  where no ``audit_signing`` ring is configured — it is optional — entries are written unsigned
  and read on their chain alone, and the reader says so),
  and the database's outbox remembers the seq and hash of every entry it recorded, so a restored
  copy detects a ledger that lost entries it had already recorded.
- Appending happens after the erasure's commit (``transaction.on_commit``), never inside it:
  the archive is not transactional, and an entry for a rolled-back erasure would erase a subject
  whose request failed. The outbox row (``ErasureLedgerEntry``, seq empty) is written in the
  erasure's transaction, so a failed append is retried (the ``compliance.dsar.record_erasures``
  task with backoff, and beat every few minutes) and, while it is not in the ledger, counted by
  ``fintech_dsar_erasures_unrecorded`` (alert ``FintechErasureLedgerBehind``).
- Appenders are serialised by a transaction-scoped advisory lock; an append that wrote to the
  archive but crashed before stamping the outbox is recognised on the next run by the request's
  reference and stamped, never written twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from compliance.audit.note import VerifierKey
from compliance.audit.storage import ArchiveStorage, get_storage
from compliance.audit.transparency import log_verifier_keys, signing_key
from compliance.crypto.keys import KeyProviderError
from compliance.dsar.models import DataSubjectRequest, ErasureLedgerEntry

logger = logging.getLogger("compliance.dsar.erasure_ledger")

PREFIX = "erasure-ledger/"
GENESIS = "0" * 64
VERSION = 1
# Signatures over ledger entries cannot be mistaken for checkpoint signatures made with the same key.
DOMAIN = b"fintech erasure ledger v1\n"
# pg_advisory_xact_lock key of ledger appenders ("eras" in ASCII).
LOCK_KEY = 0x65726173
TASK = "compliance.dsar.record_erasures"


class ErasureLedgerError(Exception):
    """The ledger cannot be appended to safely (it is behind what this database recorded)."""


def entry_key(seq: int) -> str:
    return f"{PREFIX}{seq:012d}.json"


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "key_id", "signature")}
    return hashlib.sha256(_canonical(body)).hexdigest()


# --- Appending ----------------------------------------------------------------------------------
def ledger_append(*, dsar: DataSubjectRequest, erased_at: datetime, kept_rows: list[tuple[str, str]]) -> None:
    """Called inside the erasure's transaction: the outbox row now, the ledger entry after commit."""
    ErasureLedgerEntry.objects.create(
        dsar=dsar, subject_id=dsar.subject_id, erased_at=erased_at, kept_rows=[list(row) for row in kept_rows]
    )
    transaction.on_commit(_record_after_commit, robust=True)


def _record_after_commit() -> None:
    try:
        ledger_record_pending()
    except Exception as error:  # noqa: BLE001 - any failure is retried by the task; the erasure stands
        logger.warning("erasure ledger append failed, queued for retry", extra={"error": type(error).__name__})
        _queue_retry()


def _queue_retry() -> None:
    from kernel.tasks import enqueue_on_commit

    try:
        enqueue_on_commit(TASK)  # after commit already: sent now
    except Exception as error:  # noqa: BLE001 - the broker is down too: beat's sweep retries
        logger.error("erasure ledger retry not queued", extra={"error": type(error).__name__})


def _sign(entry: dict[str, Any]) -> dict[str, Any]:
    digest = entry_hash(entry)
    try:
        key = signing_key()
    except KeyProviderError:
        # The audit_signing ring is optional (compliance.crypto.keys): without it the entry is
        # still chained, and recorded — an erasure left out of the ledger is the worse failure.
        logger.warning("erasure ledger entry not signed: no audit_signing key ring")
        return entry | {"hash": digest, "key_id": "", "signature": ""}
    signature = key.sign(DOMAIN + digest.encode())
    return entry | {"hash": digest, "key_id": key.verifier.id.hex(), "signature": base64.b64encode(signature).decode()}


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _seq_of(key: str) -> int | None:
    name = key[len(PREFIX) :] if key.startswith(PREFIX) else ""
    stem = name.removesuffix(".json")
    return int(stem) if name.endswith(".json") and stem.isdigit() else None


def _stored_seqs(storage: ArchiveStorage) -> list[int]:
    return sorted(seq for seq in (_seq_of(key) for key in storage.list(PREFIX)) if seq is not None)


def _read(storage: ArchiveStorage, seq: int) -> dict[str, Any] | None:
    raw = storage.get(entry_key(seq))
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def ledger_record_pending(*, storage: ArchiveStorage | None = None) -> int:
    """Append every completed erasure not yet in the ledger, oldest first. Returns entries written.

    Safe to run at any time and from several processes (advisory lock). Raises ErasureLedgerError
    when the archive holds fewer entries than this database has recorded (a wrong or truncated
    archive): appending would fork the chain.
    """
    storage = storage or get_storage()
    with transaction.atomic():
        _lock()
        pending = list(
            ErasureLedgerEntry.objects.select_for_update()
            .filter(seq__isnull=True)
            .select_related("dsar", "subject")
            .order_by("pk")
        )
        if not pending:
            return 0
        recorded = ErasureLedgerEntry.objects.filter(seq__isnull=False).order_by("-seq").first()
        seqs = _stored_seqs(storage)
        head_seq = seqs[-1] if seqs else 0
        if recorded and (recorded.seq or 0) > head_seq:
            raise ErasureLedgerError(
                f"The erasure ledger in the archive ends at entry {head_seq} but this database recorded "
                f"entry {recorded.seq}: wrong archive or a truncated ledger; nothing appended."
            )
        # Entries this database has not stamped (a crash after the write, or a restored copy):
        # recognise ours by the request's reference instead of writing them twice.
        known = (recorded.seq or 0) if recorded else 0
        by_request: dict[str, dict[str, Any]] = {}
        head_hash = recorded.entry_hash if recorded else GENESIS
        for seq in (s for s in seqs if s > known):
            entry = _read(storage, seq)
            if entry is None:
                raise ErasureLedgerError(f"Erasure ledger entry {seq} is unreadable; nothing appended.")
            by_request[str(entry.get("dsar"))] = entry
            head_hash = str(entry.get("hash"))
        written = 0
        now = timezone.now()
        for row in pending:
            entry = by_request.get(str(row.dsar.public_id))
            if entry is None:
                head_seq += 1
                entry = _sign(
                    {
                        "version": VERSION,
                        "seq": head_seq,
                        "prev_hash": head_hash,
                        "subject_id": row.subject_id,
                        "subject_public_id": str(row.subject.public_id),
                        "dsar": str(row.dsar.public_id),
                        "erased_at": row.erased_at.isoformat(),
                        "kept_rows": row.kept_rows,
                        "recorded_at": now.isoformat(),
                    }
                )
                storage.put(entry_key(head_seq), _canonical(entry), content_type="application/json")
                head_hash = entry["hash"]
                written += 1
            row.seq, row.entry_hash, row.recorded_at = int(entry["seq"]), str(entry["hash"]), now
            row.save(update_fields=["seq", "entry_hash", "recorded_at"])
    if written:
        logger.info("erasures recorded in the erasure ledger", extra={"entries": written, "head_seq": head_seq})
    return written


def unrecorded_erasures(*, older_than_seconds: int | None = None, now: datetime | None = None) -> int:
    """Completed erasures not in the ledger for longer than the grace period (what the alert watches)."""
    grace = settings.ERASURE_LEDGER_GRACE_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = (now or timezone.now()) - timedelta(seconds=grace)
    return ErasureLedgerEntry.objects.filter(seq__isnull=True, erased_at__lte=cutoff).count()


# --- Reading and verifying ----------------------------------------------------------------------
@dataclass
class LedgerReading:
    """The entries that verify, in seq order, and every problem found (empty: the ledger is whole)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stored: int = 0
    # Said, but not failures: entries accepted on their chain alone (no signing ring configured).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _signature_valid(entry: dict[str, Any], keys: dict[str, VerifierKey]) -> bool:
    key = keys.get(str(entry.get("key_id")))
    try:
        signature = base64.b64decode(str(entry.get("signature")), validate=True)
    except (ValueError, binascii.Error):
        return False
    return key is not None and key.verify(DOMAIN + str(entry.get("hash")).encode(), signature)


def read_ledger(*, storage: ArchiveStorage | None = None) -> LedgerReading:
    """Every entry, checked: seq continuous from 1, each hash re-derived, each chained to the one
    before and signed by a key of the ``audit_signing`` ring. An entry whose own hash or signature
    fails is left out (it may be forged); a broken link or a gap is reported, and the entries after
    it that verify on their own are kept (an entry dropped before them must not spare them)."""
    storage = storage or get_storage()
    try:
        keys: dict[str, VerifierKey] | None = {key.id.hex(): key for key in log_verifier_keys()}
    except KeyProviderError:
        keys = None  # no audit_signing ring: signatures cannot be checked (nor were they made)
    reading = LedgerReading()
    seqs = _stored_seqs(storage)
    reading.stored = len(seqs)
    expected, prev_hash = 1, GENESIS
    for seq in seqs:
        if seq != expected:
            reading.problems.append(f"entries {expected}-{seq - 1} are missing from the erasure ledger")
        entry = _read(storage, seq)
        if entry is None:
            reading.problems.append(f"entry {seq} is unreadable")
            expected, prev_hash = seq + 1, ""
            continue
        if entry.get("seq") != seq or entry_hash(entry) != entry.get("hash"):
            reading.problems.append(f"entry {seq} does not match its hash (altered)")
        elif keys is not None and not _signature_valid(entry, keys):
            reading.problems.append(f"entry {seq} is not signed by a known audit signing key")
        else:
            if seq == expected and prev_hash and entry.get("prev_hash") != prev_hash:
                reading.problems.append(f"entry {seq} does not chain to entry {seq - 1}")
            reading.entries.append(entry)
        expected, prev_hash = seq + 1, str(entry.get("hash"))
    if keys is None and reading.entries:
        reading.warnings.append(
            "no audit_signing key ring is configured: entries were checked by their hash chain only, "
            "so an entry planted by someone who can write to the archive could not be told apart"
        )
    return reading


def recorded_mismatches(reading: LedgerReading) -> list[str]:
    """Entries this (possibly restored) database recorded that the ledger no longer holds as recorded."""
    in_ledger = {int(entry["seq"]): str(entry["hash"]) for entry in reading.entries}
    problems = []
    for seq, digest in ErasureLedgerEntry.objects.filter(seq__isnull=False).values_list("seq", "entry_hash"):
        if seq is not None and in_ledger.get(seq) != digest:
            problems.append(f"this database recorded erasure ledger entry {seq}, which the ledger lacks or altered")
    return problems
