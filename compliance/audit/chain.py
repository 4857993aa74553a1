"""The audit hash chain: sealing committed records and verifying the chain.

Invariants:
- Every sealed record has a unique ``seq``; sealed ``seq`` values are exactly 1..N (gap-free).
- ``prev_hash`` of seq 1 is ``GENESIS_HASH``; of seq k > 1 it is the ``hash`` of seq k-1.
- ``hash = SHA-256(canonical(record) || prev_hash)`` where ``canonical`` is the UTF-8 JSON of
  ``record_fields`` (sorted keys, no whitespace, UTC timestamps with microseconds) and includes
  ``seq`` and ``sealed_at``, so changing, removing or re-ordering a record breaks a link.

Why sealing does not serialise business transactions: writers only INSERT unsealed rows
(``audit_record``) and take no lock; nothing a writer does waits on another writer or on the
sealer (PostgreSQL row inserts into a table do not block each other, and the sealer's UPDATEs
touch only rows that are already committed, which no writer holds). Only sealers serialise,
among themselves, on one transaction-scoped advisory lock.

Why the order is well defined: a row becomes visible to other sessions only when its
transaction commits. Each sealing batch runs, after taking the advisory lock, one READ COMMITTED
query for the unsealed rows — i.e. exactly the rows committed before that statement's snapshot —
and orders them by ``(timestamp, id)``, a total order. A row whose transaction commits later is
invisible to that snapshot and is sealed by a later batch, even if its ``timestamp`` is earlier
(a long transaction). So ``seq`` is commit-visibility order at batch granularity, not wall-clock
order; ``timestamp`` remains the time the event happened. The order is recorded in the chain
itself, so verification never has to re-derive it.

The sealing UPDATE goes through ``compliance_audit_seal`` (PostgreSQL, SECURITY DEFINER, see the
migration), which also re-checks continuity (next seq, previous hash) under the same lock; on
other databases (the SQLite demo) the same assignment is done with ORM updates.

What verification cannot see: a row deleted *before* it was sealed (a window of seconds, and
only by someone who can bypass the triggers). The external head (``AUDIT_HEAD``, written by the
archive storage after sealing) is what detects a removed tail.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard, cast

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from compliance.audit import merkle
from compliance.audit.merkle import canonical_bytes, chain_hash, encode_string, encode_value
from compliance.audit.models import FROZEN_COLUMNS, AuditEvent
from compliance.audit.transparency import extend_tree, publish_checkpoint, signed_roots, tree_size
from compliance.crypto.keys import KeyProviderError

logger = logging.getLogger("compliance.audit.chain")

GENESIS_HASH = "0" * 64
CHAIN_VERSION = 1
# pg_advisory_xact_lock key shared by every sealer ("audit" as ASCII); the SQL function uses it too.
SEAL_LOCK_KEY = 0x6175646974
STATUS_CACHE_KEY = "compliance:audit-chain-status"

# The fields covered by the hash, in the order they are read from the database: everything
# frozen at INSERT, plus the seal's position and time.
RECORD_FIELDS = (*FROZEN_COLUMNS, "seq", "sealed_at")


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_record(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready form of a record as covered by the hash (and as written to the archive)."""
    source_ip = values["source_ip"]
    return {
        "v": CHAIN_VERSION,
        "id": values["id"],
        "timestamp": _utc(values["timestamp"]),
        "user_id": values["user_id"],
        "actor_type": values["actor_type"],
        "action": values["action"],
        # PostgreSQL's inet normalises addresses; compare what is stored, in one spelling.
        "source_ip": str(ipaddress.ip_address(source_ip)) if source_ip else None,
        "change_diff": values["change_diff"],
        "request_id": values["request_id"],
        "object_type": values["object_type"],
        "object_id": values["object_id"],
        "seq": values["seq"],
        "sealed_at": _utc(values["sealed_at"]),
    }


def compute_hash(values: dict[str, Any], prev_hash: str) -> str:
    return chain_hash(canonical_record(values), prev_hash)


# --- The canonical bytes straight from PostgreSQL rows ---------------------------------------------
# ``canonical_record`` + ``canonical_bytes`` is the definition. Building a model dict per record
# (Django's Python timestamp loader, ``strftime`` twice, the JSON decode in the field) cost more than
# the hashing; sealing and verification read the columns as the text the record holds instead and
# fill the record's fixed key order directly. Each piece is what ``json.dumps`` writes for it:
# - ``timestamp``/``sealed_at``: PostgreSQL's ``to_char`` in UTC gives the ``_utc`` string for years
#   1000-9999 (the SQL returns NULL outside them, and such a record takes the model path);
# - strings through the JSON encoder's own string escaper, integers as ``int.__repr__``;
# - ``source_ip`` normalised by ``ipaddress`` exactly as ``canonical_record`` does (memoised);
# - ``change_diff`` decoded from the jsonb text the way ``JSONField.from_db_value`` does and
#   re-encoded with the canonical encoder.
# Anything the schema does not promise (a NULL where a column is NOT NULL, after tampering behind
# the triggers) raises TypeError and that record takes the model path: the same bytes either way.
# ``tests/compliance/audit/test_canonical_encoding.py`` proves the two paths byte-identical.
def _utc_sql(column: str) -> str:
    return (
        f"CASE WHEN {column} >= '1000-01-01 00:00:00+00' AND {column} < '10000-01-01 00:00:00+00' "
        f"THEN to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"
    )


# The frozen columns as the fast path reads them (the order ``_record_bytes`` takes them in).
_FROZEN_SQL = (
    f"e.id, {_utc_sql('e.timestamp')}, e.user_id, e.actor_type, e.action, e.source_ip, e.change_diff, "
    "e.request_id, e.object_type, e.object_id"
)
# Built from the constants above only (no input reaches these strings).
_SEALED_SQL = (
    f"SELECT e.seq, e.prev_hash, e.hash, {_FROZEN_SQL}, {_utc_sql('e.sealed_at')} "  # noqa: S608
    "FROM compliance_auditevent AS e WHERE e.seq >= %s ORDER BY e.seq"
)
# The batch is chosen first and formatted after (the text is built for its rows only).
_UNSEALED_SQL = (
    f"SELECT {_FROZEN_SQL} FROM (SELECT {', '.join(FROZEN_COLUMNS)} FROM compliance_auditevent "  # noqa: S608
    "WHERE seq IS NULL ORDER BY timestamp, id LIMIT %s) AS e ORDER BY e.timestamp, e.id"
)
# The keys of ``canonical_record`` in sorted order, as ``json.dumps(sort_keys=True)`` writes them.
_RECORD_TEMPLATE = (
    '{"action":%s,"actor_type":%s,"change_diff":%s,"id":%d,"object_id":%s,"object_type":%s,'
    '"request_id":%s,"sealed_at":"%s","seq":%d,"source_ip":%s,"timestamp":"%s","user_id":%s,"v":'
    + str(CHAIN_VERSION)
    + "}"
)
_decode_json = json.JSONDecoder().decode  # json.loads(text), as JSONField.from_db_value calls it
# The decoder's own scanner, without the whitespace regex around it: jsonb text starts with its
# value and has nothing after it (anything else goes through ``_decode_json``, same result).
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_ip_texts: dict[str, str] = {}


def _ip_text(source_ip: str | None) -> str:
    if not source_ip:
        return "null"
    text = _ip_texts.get(source_ip)
    if text is None:
        if len(_ip_texts) > 10_000:
            _ip_texts.clear()
        text = _ip_texts[source_ip] = encode_string(str(ipaddress.ip_address(source_ip)))
    return text


def _diff_text(change_diff: str | None) -> str:
    if change_diff is None:
        return "null"
    try:
        value, end = _scan_json(change_diff, 0)
    except StopIteration:
        end = -1
    if end != len(change_diff):
        try:
            value = _decode_json(change_diff)
        except json.JSONDecodeError:
            value = change_diff
    return encode_value(value)


def _record_bytes(row: tuple[Any, ...], offset: int, seq: int, sealed_at: str | None) -> bytes | None:
    """The canonical bytes of the record whose frozen columns start at ``row[offset]``; None when
    the record must take the model path (see above)."""
    pk, timestamp, user_id, actor_type, action, source_ip, diff, request_id, object_type, object_id = row[
        offset : offset + 10
    ]
    if timestamp is None or sealed_at is None:
        return None
    try:
        return (
            _RECORD_TEMPLATE
            % (
                encode_string(action),
                encode_string(actor_type),
                _diff_text(diff),
                pk,
                encode_string(object_id),
                encode_string(object_type),
                encode_string(request_id),
                sealed_at,
                seq,
                _ip_text(source_ip),
                timestamp,
                "null" if user_id is None else str(user_id),
            )
        ).encode()
    except TypeError:
        return None


def _record_bytes_via_model(pk: int, seq: int, sealed_at: datetime | None) -> bytes:
    """The definition itself, for the rare record ``_record_bytes`` declines."""
    fields = [name for name in RECORD_FIELDS if name not in ("seq", "sealed_at")]
    values = AuditEvent.objects.filter(pk=pk).values(*fields, "sealed_at").get()
    values["seq"] = seq
    if sealed_at is not None:
        values["sealed_at"] = sealed_at
    return canonical_bytes(canonical_record(values))


# --- Sealing ------------------------------------------------------------------------------------
@dataclass
class SealResult:
    sealed: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH


def chain_head() -> tuple[int, str]:
    """(seq, hash) of the last sealed record, or (0, GENESIS_HASH) for an empty chain."""
    head = cast(  # sealed rows have both
        "tuple[int, str] | None",
        AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", "hash").first(),
    )
    return head if head else (0, GENESIS_HASH)


def _seal_batch(batch_size: int) -> tuple[int, int, str]:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        head_seq, head_hash = chain_head()
        sealed_at = timezone.now()
        # Taken after the lock: this statement's snapshot sees every row committed so far.
        if connection.vendor == "postgresql":
            ids, seqs, prevs, hashes = _hash_unsealed_postgresql(batch_size, head_seq, head_hash, sealed_at)
        else:
            ids, seqs, prevs, hashes = _hash_unsealed_orm(batch_size, head_seq, head_hash, sealed_at)
        if not ids:
            return 0, head_seq, head_hash
        seq, prev = seqs[-1], hashes[-1]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # The arrays travel as comma-separated text (ids, seqs and hex digests hold no
                # commas): adapting four 2,000-element lists element by element cost more than
                # the hashing. The function and its checks are unchanged.
                cursor.execute(
                    "SELECT compliance_audit_seal(string_to_array(%s, ',')::bigint[], "
                    "string_to_array(%s, ',')::bigint[], string_to_array(%s, ','), string_to_array(%s, ','), %s)",
                    [",".join(map(str, ids)), ",".join(map(str, seqs)), ",".join(prevs), ",".join(hashes), sealed_at],
                )
        else:
            for pk, row_seq, row_prev, digest in zip(ids, seqs, prevs, hashes, strict=True):
                updated = AuditEvent.objects.filter(pk=pk, seq__isnull=True).update(
                    seq=row_seq, prev_hash=row_prev, hash=digest, sealed_at=sealed_at
                )
                if updated != 1:
                    raise RuntimeError("audit sealing raced with another sealer")
        # The Merkle tree grows in the same transaction, under the same lock (O(log n) a record).
        extend_tree(list(zip(seqs, hashes, strict=True)))
        return len(ids), seq, prev


Hashed = tuple[list[int], list[int], list[str], list[str]]


def _hash_unsealed_postgresql(batch_size: int, head_seq: int, head_hash: str, sealed_at: datetime) -> Hashed:
    """The next ``batch_size`` unsealed records in seal order, chained from the head: (ids, seqs,
    prev hashes, hashes). One query, the canonical bytes built from the row text (see above)."""
    with connection.cursor() as cursor:
        cursor.execute(_UNSEALED_SQL, [batch_size])
        rows = cursor.fetchall()
    sealed_text = _utc(sealed_at)
    sha256 = hashlib.sha256
    ids, seqs, prevs, hashes = [], [], [], []
    prev, seq = head_hash, head_seq
    for row in rows:
        seq += 1
        content = _record_bytes(row, 0, seq, sealed_text) or _record_bytes_via_model(row[0], seq, sealed_at)
        digest = sha256(content + prev.encode("ascii")).hexdigest()
        ids.append(row[0])
        seqs.append(seq)
        prevs.append(prev)
        hashes.append(digest)
        prev = digest
    return ids, seqs, prevs, hashes


def _hash_unsealed_orm(batch_size: int, head_seq: int, head_hash: str, sealed_at: datetime) -> Hashed:
    rows = (
        AuditEvent.objects.filter(seq__isnull=True)
        .order_by("timestamp", "id")
        .values(*(name for name in RECORD_FIELDS if name not in ("seq", "sealed_at")))[:batch_size]
    )
    ids, seqs, prevs, hashes = [], [], [], []
    prev, seq = head_hash, head_seq
    for row in rows:
        seq += 1
        row.update(seq=seq, sealed_at=sealed_at)
        digest = compute_hash(row, prev)
        ids.append(row["id"])
        seqs.append(seq)
        prevs.append(prev)
        hashes.append(digest)
        prev = digest
    return ids, seqs, prevs, hashes


def tree_catch_up() -> int:
    """Bring the Merkle tree up to the sealed head (a database sealed before the tree existed).

    The sealer does it by itself with its next batch; this does it now (``manage.py seal_audit``).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        head_seq, head_hash = chain_head()
        return extend_tree([(head_seq, head_hash)]) if head_seq > tree_size() else tree_size()


def seal_pending(*, batch_size: int = 2000, max_batches: int = 1000) -> SealResult:
    """Seal every committed unsealed record, in batches (one transaction each). Idempotent."""
    result = SealResult(0, *chain_head())
    for _ in range(max_batches):
        sealed, head_seq, head_hash = _seal_batch(batch_size)
        result.sealed += sealed
        result.head_seq, result.head_hash = head_seq, head_hash
        if sealed < batch_size:
            break
    if result.sealed:
        logger.info("audit records sealed", extra={"sealed": result.sealed, "head_seq": result.head_seq})
    return result


# --- Verification -------------------------------------------------------------------------------
@dataclass
class VerifyResult:
    ok: bool
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    first_broken_seq: int | None = None
    reason: str = ""
    external_head_seq: int | None = None
    unsealed: int = 0
    # Age of the oldest committed unsealed record: a stalled sealer widens the window in which a
    # record could vanish undetected, so it is alerted on like a broken link.
    oldest_unsealed_seconds: float = 0.0
    verified_at: str = field(default_factory=lambda: timezone.now().isoformat())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} records, head seq {self.head_seq}"
        return f"audit chain BROKEN at seq {self.first_broken_seq}: {self.reason}"


def iter_sealed(from_seq: int = 1, chunk_size: int = 5000) -> Iterator[dict[str, Any]]:
    fields = (*RECORD_FIELDS, "prev_hash", "hash")
    queryset = AuditEvent.objects.filter(seq__gte=from_seq).order_by("seq").values_list(*fields)
    for row in queryset.iterator(chunk_size=chunk_size):
        yield dict(zip(fields, row, strict=True))


def _sealed_links(from_seq: int = 1, chunk_size: int = 5000) -> Generator[tuple[int, str, str, bytes], None, None]:
    """(seq, prev_hash, hash, canonical bytes) of every sealed record from ``from_seq``, in seq order.

    On PostgreSQL one query streams the columns as text and the bytes are built from them (no model
    dict per record); elsewhere through ``iter_sealed`` and ``canonical_record``. While a stream is
    open the connection is busy: the caller runs no query until the generator is exhausted or closed.
    """
    if connection.vendor != "postgresql":
        for row in iter_sealed(from_seq, chunk_size):
            yield row["seq"], row["prev_hash"], row["hash"], canonical_bytes(canonical_record(row))
        return
    from psycopg import pq  # the PostgreSQL driver: imported where it is the one in use

    size = chunk_size if pq.version() >= 170000 else 1
    while True:
        declined: tuple[Any, ...] | None = None
        # Streamed (libpq's chunked rows): PostgreSQL keeps producing rows while these are hashed,
        # where a FETCH loop would leave one side idle at a time. Closing a stream early cancels
        # its query (psycopg).
        with connection.cursor() as wrapper, closing(wrapper.cursor.stream(_SEALED_SQL, [from_seq], size=size)) as rows:
            for row in rows:
                content = _record_bytes(row, 3, row[0], row[13])
                if content is None:
                    declined = row
                    break
                yield row[0], row[1], row[2], content
        if declined is None:
            return
        # A record the row text cannot spell: its model once the stream is closed, then resume.
        yield declined[0], declined[1], declined[2], _record_bytes_via_model(declined[3], declined[0], None)
        from_seq = declined[0] + 1


def verify_chain(*, external_head: dict[str, Any] | None = None) -> VerifyResult:
    """Walk the sealed chain from seq 1 and report the first broken link.

    A record changed in place breaks its own hash; a removed record leaves a gap at its seq;
    re-ordered records break the hash of the first one moved; a removed tail (or a chain rebuilt
    from scratch) disagrees with ``external_head``, the last head exported outside the database;
    a chain rewritten consistently (every later hash recomputed) no longer re-derives the root of
    a signed checkpoint (ADR 0006): the first seq after the last checkpoint that still matches.
    """
    expected_seq, prev = 1, GENESIS_HASH
    genesis_hash = None
    sha256 = hashlib.sha256
    # The signed checkpoints catch what the chain cannot: a chain rewritten consistently. Past the
    # largest signed size no root is compared, so the tree is grown only that far.
    roots, tree, last_good = signed_roots(), merkle.CompactRange(), 0
    tree_until = max(roots, default=0)
    # Closed on every return: the stream's cursor and transaction end with the walk.
    with closing(_sealed_links()) as links:
        for seq, stored_prev, stored_hash, content in links:
            if seq != expected_seq:
                checked = expected_seq - 1
                return _broken(checked, expected_seq, prev, f"record seq {expected_seq} is missing (next is {seq})")
            if stored_prev != prev:
                return _broken(seq - 1, seq, prev, "prev_hash does not match the previous record's hash")
            digest = sha256(content + prev.encode("ascii")).digest()
            if digest.hex() != stored_hash:
                return _broken(seq - 1, seq, prev, "record content does not match its hash")
            if seq == 1:
                genesis_hash = stored_hash
            if seq <= tree_until:
                tree.push(digest)
                if seq in roots:
                    if tree.root() != roots[seq]:
                        reason = (
                            f"records {last_good + 1}..{seq} were rewritten: "
                            f"the signed checkpoint of size {seq} differs"
                        )
                        return _broken(seq - 1, last_good + 1, prev, reason)
                    last_good = seq
            prev = stored_hash
            expected_seq += 1
    checked = expected_seq - 1
    result = VerifyResult(ok=True, checked=checked, head_seq=expected_seq - 1, head_hash=prev)
    if external_head:
        result = _check_external_head(result, external_head, genesis_hash)
    result.unsealed, result.oldest_unsealed_seconds = unsealed_backlog()
    return result


def unsealed_backlog() -> tuple[int, float]:
    """(count, age in seconds of the oldest) of the unsealed records; cheap (partial index)."""
    pending = AuditEvent.objects.filter(seq__isnull=True)
    oldest = pending.order_by("timestamp", "id").values_list("timestamp", flat=True).first()
    if oldest is None:
        return 0, 0.0
    return pending.count(), max(0.0, (timezone.now() - oldest).total_seconds())


def sealer_is_lagging(status: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return bool(status and status.get("oldest_unsealed_seconds", 0) > settings.AUDIT_SEAL_MAX_LAG_SECONDS)


def _check_external_head(result: VerifyResult, external_head: dict[str, Any], genesis: str | None) -> VerifyResult:
    ext_seq = int(external_head["seq"])
    checked, head_seq, prev = result.checked, result.head_seq, result.head_hash
    if ext_seq > head_seq:
        reason = f"records {head_seq + 1}..{ext_seq} are missing: the exported head is seq {ext_seq}"
        return _broken(checked, head_seq + 1, prev, reason, external_head_seq=ext_seq)
    if ext_seq:
        at_head = AuditEvent.objects.filter(seq=ext_seq).values_list("hash", flat=True).first()
        if at_head != external_head["hash"]:
            return _broken(checked, ext_seq, prev, "hash differs from the exported head", external_head_seq=ext_seq)
        if external_head.get("genesis_hash") and external_head["genesis_hash"] != genesis:
            reason = "chain rebuilt: genesis differs from the exported head"
            return _broken(checked, 1, prev, reason, external_head_seq=ext_seq)
    result.external_head_seq = ext_seq
    return result


def _broken(checked: int, seq: int, prev: str, reason: str, **extra: Any) -> VerifyResult:
    return VerifyResult(
        ok=False, checked=checked, head_seq=seq - 1, head_hash=prev, first_broken_seq=seq, reason=reason, **extra
    )


def genesis_hash() -> str | None:
    return AuditEvent.objects.filter(seq=1).values_list("hash", flat=True).first()


# --- Status for the admin, the API and the metrics ----------------------------------------------
def record_status(result: VerifyResult) -> None:
    cache.set(STATUS_CACHE_KEY, result.as_dict(), timeout=None)


def last_status() -> dict[str, Any] | None:
    return cache.get(STATUS_CACHE_KEY)


def status_is_stale(status: dict[str, Any] | None) -> bool:
    """Whether a verification was due and has not happened: the last one is older than
    ``AUDIT_VERIFY_MAX_AGE_SECONDS``, or there was none although records were sealed longer ago
    than that. A fresh install (nothing sealed that long ago) is not stale: an alarm before a
    check was even due teaches staff to ignore alarms."""
    max_age = timedelta(seconds=settings.AUDIT_VERIFY_MAX_AGE_SECONDS)
    now = timezone.now()
    if status:
        return now - datetime.fromisoformat(status["verified_at"]) > max_age
    return AuditEvent.objects.filter(sealed_at__lt=now - max_age).exists()


# --- The jobs (called by tasks, commands and the auditor API) -------------------------------------
def seal_and_export_head(*, force_head: bool = False, force_checkpoint: bool = False) -> SealResult:
    """Seal what is pending, then refresh the head kept outside the database (rate-limited)."""
    from compliance.audit.storage import export_head

    result = seal_pending()
    try:
        export_head(result.head_seq, result.head_hash, genesis=genesis_hash(), force=force_head)
    except Exception:
        # Sealing succeeded; a storage hiccup only delays the tripwire until the next run.
        logger.exception("could not export the audit chain head")
    try:
        publish_checkpoint(force=force_checkpoint)
    except KeyProviderError as exc:
        # No audit_signing ring configured: said once per process, not every five seconds.
        if not _warned_unsigned:
            logger.error("audit checkpoints are not signed: %s", exc)
            _warned_unsigned.append(True)
    except Exception:
        # A storage outage or a database hiccup delays the checkpoint, never the seal.
        logger.exception("could not publish an audit checkpoint")
    return result


_warned_unsigned: list[bool] = []


def verify_and_alert() -> VerifyResult:
    """Verify the whole chain against the exported head; on failure alert (log, metric, admin)."""
    from compliance.audit.services import ActorType, AuditAction, audit_record
    from compliance.audit.storage import read_external_head

    try:
        external = read_external_head()
    except Exception:
        logger.exception("could not read the exported audit chain head")
        external = None
    result = verify_chain(external_head=external)
    record_status(result)
    if sealer_is_lagging(result.as_dict()):
        logger.error(
            "audit sealer is lagging",
            extra={"unsealed": result.unsealed, "oldest_unsealed_seconds": round(result.oldest_unsealed_seconds)},
        )
    if not result.ok:
        # The metric (compliance/metrics.py) and the admin banner read the recorded status.
        logger.error(
            "audit chain verification failed",
            extra={"first_broken_seq": result.first_broken_seq, "reason": result.reason},
        )
        with transaction.atomic():
            audit_record(
                action=AuditAction.AUDIT_CHAIN_BROKEN,
                actor_type=ActorType.SYSTEM,
                object_type="audit.chain",
                object_id=str(result.first_broken_seq),
                change_diff={"first_broken_seq": result.first_broken_seq, "reason": result.reason},
            )
    return result
