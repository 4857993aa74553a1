"""The audit trail as a transparency log: the Merkle tree the sealer grows, proofs, signed checkpoints.

See docs/adr/0006-audit-merkle-tree-and-checkpoints.md for the design and the threat model.

Invariants:
- ``AuditMerkleState.size`` equals the last sealed ``seq`` after every sealing transaction: the
  sealer appends each batch's leaves (``extend_tree``) in the same transaction and under the same
  advisory lock as the seal, so the tree never lags or leads the chain. A database sealed before
  the tree existed is caught up by the next seal (``tree_catch_up``), in order.
- Each append is O(log n): the state keeps the compact range (one hash per set bit of the size)
  and every perfect subtree completed by the append is stored once (``AuditMerkleNode``, never
  updated). Proofs read O(log n) stored nodes in one query; nothing is recomputed from the leaves.
- A checkpoint is published when the tree grew and the last one is at least
  ``AUDIT_CHECKPOINT_MIN_SECONDS`` old, and in any case every ``AUDIT_CHECKPOINT_MAX_SECONDS``
  (hourly). It is signed with the active ``audit_signing`` key of the key provider, stored (append
  only) with the consistency proof from the previous checkpoint, and written to the archive.
- A witness cosigns only a checkpoint whose log signature verifies under the log key it holds and
  that is consistent with the last checkpoint it cosigned (its own state file, not the database).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from compliance.audit import merkle
from compliance.audit.models import (
    AuditCheckpoint,
    AuditCheckpointCosignature,
    AuditEvent,
    AuditMerkleNode,
    AuditMerkleState,
)
from compliance.audit.note import (
    ED25519,
    Checkpoint,
    SignedNote,
    SignerKey,
    VerifierKey,
    cosign,
    sign_checkpoint,
    verified_by,
)
from compliance.audit.storage import ArchiveStorage, get_storage
from compliance.crypto.keys import AUDIT_SIGNING, KeyProviderError, get_key_provider
from kernel.errors import DomainError
from kernel.types import Actor

logger = logging.getLogger("compliance.audit.transparency")

# pg_advisory_xact_lock key of checkpoint publishers ("ckpt" in ASCII); sealers use their own.
CHECKPOINT_LOCK_KEY = 0x636B7074
CHECKPOINTS_PREFIX = "checkpoints/"
LATEST_CHECKPOINT_KEY = "checkpoint"
LOG_KEYS_KEY = "keys/log.vkeys"


class ProofUnavailable(DomainError):
    """A proof for sizes or records the tree does not cover (the caller's input): 400."""

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message, code="proof_unavailable", status_code=400, fields=fields)


# --- The tree -----------------------------------------------------------------------------------
def _state(*, for_update: bool) -> AuditMerkleState:
    queryset = AuditMerkleState.objects.select_for_update() if for_update else AuditMerkleState.objects
    state = queryset.filter(pk=1).first()
    if state is None:
        AuditMerkleState.objects.bulk_create([AuditMerkleState(pk=1)], ignore_conflicts=True)
        state = queryset.get(pk=1)
    return state


def _compact(state: AuditMerkleState) -> merkle.CompactRange:
    raw = bytes(state.compact_range)
    return merkle.CompactRange(state.size, [raw[i : i + 32] for i in range(0, len(raw), 32)])


def extend_tree(records: list[tuple[int, str]]) -> int:
    """Append sealed records ``(seq, chain hash hex)``, in seq order, to the tree; returns its size.

    Called by the sealer inside its transaction, under its lock. Records the tree has not seen
    yet before ``records`` (a database sealed before the tree existed) are appended first.
    """
    state = _state(for_update=True)
    tree = _compact(state)
    ids: list[int] = []
    digests: list[bytes] = []

    def keep(level: int, index: int, digest: bytes) -> None:
        ids.append(merkle.node_id(level, index))
        digests.append(digest)

    if records and records[0][0] <= tree.size:
        # The chain restarts below the tree: it was truncated or rebuilt behind the triggers. The
        # tree keeps the history it committed to (its checkpoints are signed); sealing goes on,
        # and verification reports the chain (the tree no longer grows until this is resolved).
        logger.error(
            "audit tree out of step with the chain: rewritten or truncated",
            extra={"seq": records[0][0], "tree_size": tree.size},
        )
        return tree.size
    if records and records[0][0] > tree.size + 1:
        _catch_up(tree, keep, until=records[0][0] - 1)
    for offset, (seq, _) in enumerate(records):
        if seq != tree.size + 1 + offset:
            raise RuntimeError(f"audit tree: a batch with a gap at seq {seq}")
    tree.append_records([bytes.fromhex(record_hash) for _, record_hash in records], ids, digests)
    _insert_nodes(ids, digests)
    state.size = tree.size
    state.compact_range = b"".join(tree.hashes)
    state.save(update_fields=["size", "compact_range", "updated_at"])
    return tree.size


_INSERT_NODES = (
    "INSERT INTO compliance_auditmerklenode (id, hash) "
    "SELECT batch.ids[i], substring(%s::bytea FROM (i - 1) * 32 + 1 FOR 32) "
    "FROM (SELECT string_to_array(%s, ',')::bigint[] AS ids) AS batch, "
    "generate_series(1, cardinality(batch.ids)) AS i"
)


def _insert_nodes(ids: list[int], digests: list[bytes]) -> None:
    if not ids:
        return
    if connection.vendor == "postgresql":
        # One statement and two plain parameters for the whole batch (the ids as text, the hashes
        # as one bytea cut in 32-byte slices): the ORM's per-object preparation, or adapting
        # arrays element by element, costs more than the hashing.
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_NODES, [b"".join(digests), ",".join(map(str, ids))])
        return
    nodes = [AuditMerkleNode(id=pk, hash=digest) for pk, digest in zip(ids, digests, strict=True)]
    AuditMerkleNode.objects.bulk_create(nodes, batch_size=500)


def _catch_up(tree: merkle.CompactRange, keep: Any, *, until: int) -> None:
    hashes = (
        AuditEvent.objects.filter(seq__gt=tree.size, seq__lte=until)
        .order_by("seq")
        .values_list("seq", "hash")
        .iterator(chunk_size=5000)
    )
    for seq, record_hash in hashes:
        if seq != tree.size + 1 or record_hash is None:
            raise RuntimeError(f"audit tree catch-up stopped at a gap before seq {seq}")
        tree.append(merkle.leaf_hash(bytes.fromhex(record_hash)), keep)


def tree_size() -> int:
    state = AuditMerkleState.objects.filter(pk=1).values_list("size", flat=True).first()
    return state or 0


def _reader(needed: set[tuple[int, int]]) -> merkle.NodeReader:
    ids = {merkle.node_id(level, index): (level, index) for level, index in needed}
    found = {
        ids[pk]: bytes(digest) for pk, digest in AuditMerkleNode.objects.filter(id__in=ids).values_list("id", "hash")
    }
    if needed - found.keys():
        # Sizes beyond the tree (callers check against a checkpoint first; a gap is a rewrite).
        raise ProofUnavailable("The tree does not cover that size.")
    return lambda level, index: found[(level, index)]


def _with_nodes(build: Any) -> Any:
    return build(_reader(merkle.nodes_needed(build)))


def root_at(size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return bytes(_with_nodes(lambda node: merkle.subtree_hash(0, size, node)))


def inclusion_proof(seq: int, size: int) -> list[bytes]:
    """One query: the O(log n) stored nodes of the path (sizes the tree lacks are refused)."""
    if not 0 < seq <= size:
        raise ProofUnavailable(
            "The record is not in a tree of that size.", fields={"size": ["Smaller than the record's seq."]}
        )
    return list(_with_nodes(lambda node: merkle.inclusion_path(seq - 1, size, node)))


def consistency_proof(first: int, second: int) -> list[bytes]:
    if not 0 < first <= second:
        raise ProofUnavailable("'from' must be between 1 and 'to'.", fields={"from": ["Out of range."]})
    return list(_with_nodes(lambda node: merkle.consistency_path(first, second, node)))


# --- Keys ---------------------------------------------------------------------------------------
def signing_key() -> SignerKey:
    """The active checkpoint-signing key (raises KeyProviderError when no ring is configured)."""
    ring = get_key_provider().ring(AUDIT_SIGNING)
    return SignerKey(settings.AUDIT_LOG_ORIGIN, ED25519, ring.keys[ring.active])


def log_verifier_keys() -> list[VerifierKey]:
    """Every version's public key (old ones still verify the checkpoints they signed)."""
    ring = get_key_provider().ring(AUDIT_SIGNING)
    return [SignerKey(settings.AUDIT_LOG_ORIGIN, ED25519, ring.keys[v]).verifier for v in ring.versions()]


# --- Checkpoints --------------------------------------------------------------------------------
def latest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-size", "-id").first()


def checkpoint_at(size: int) -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.filter(size=size).order_by("-id").first()


def published_note(checkpoint: AuditCheckpoint) -> SignedNote:
    """The checkpoint's note with every cosignature collected so far."""
    note = SignedNote.parse(checkpoint.note)
    for cosignature in checkpoint.cosignatures.order_by("id"):
        signature = SignedNote.parse(checkpoint.note.split("\n\n")[0] + "\n\n" + cosignature.signature_line).signatures
        note = note.with_signature(signature[0])
    return note


def signed_roots() -> dict[int, bytes]:
    """Size -> root of every stored checkpoint whose log signature verifies (for ``verify_chain``).

    A row whose signature does not verify is left out and logged: it proves nothing either way.
    """
    try:
        keys = log_verifier_keys()
    except KeyProviderError:
        return {}
    roots: dict[int, bytes] = {}
    for size, text in AuditCheckpoint.objects.order_by("size", "id").values_list("size", "note"):
        note = SignedNote.parse(text)
        if verified_by(note, keys, ED25519) and Checkpoint.parse_body(note.body).size == size:
            roots.setdefault(size, Checkpoint.parse_body(note.body).root)
        else:
            logger.error("stored audit checkpoint does not verify", extra={"size": size})
    return roots


def _archive_name(checkpoint: Checkpoint) -> str:
    return f"{CHECKPOINTS_PREFIX}{checkpoint.size:012d}-{checkpoint.time}"


def publish_checkpoint(*, storage: ArchiveStorage | None = None, force: bool = False) -> AuditCheckpoint | None:
    """Sign and publish a checkpoint of the tree if one is due (see the module invariants)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHECKPOINT_LOCK_KEY])
        state = _state(for_update=False)
        if state.size == 0:
            return None
        last = latest_checkpoint()
        now = timezone.now()
        if last is not None and not force:
            age = (now - last.signed_at).total_seconds()
            grew = state.size > last.size
            if (
                not (grew and age >= settings.AUDIT_CHECKPOINT_MIN_SECONDS)
                and age < settings.AUDIT_CHECKPOINT_MAX_SECONDS
            ):
                return None
        key = signing_key()
        body = Checkpoint(settings.AUDIT_LOG_ORIGIN, state.size, _compact(state).root(), int(now.timestamp()))
        note = sign_checkpoint(body, key)
        proof: list[bytes] = []
        if last is not None and 0 < last.size < state.size:
            proof = consistency_proof(last.size, state.size)
        name = _archive_name(body)
        row = AuditCheckpoint.objects.create(
            size=body.size,
            root_hash=body.root.hex(),
            signed_at=datetime.fromtimestamp(body.time, tz=UTC),
            origin=body.origin,
            key_id=key.verifier.id.hex(),
            note=note.text(),
            previous_size=last.size if last else None,
            consistency_proof=[h.hex() for h in proof],
            archive_key=name + ".note",
        )
    # Outside the transaction: the row is the log's own record, the archive its public copy. A
    # failed upload is retried by ``archive_checkpoints`` (the daily archive task), never lost.
    try:
        _write_checkpoint(row, storage or get_storage())
    except Exception:
        logger.exception("could not write the audit checkpoint to the archive", extra={"size": row.size})
    return row


def _write_checkpoint(row: AuditCheckpoint, storage: ArchiveStorage) -> None:
    base = row.archive_key.removesuffix(".note")
    storage.put(row.archive_key, row.note.encode(), content_type="text/plain; charset=utf-8")
    if row.previous_size:
        previous = checkpoint_at(row.previous_size)
        sidecar = {
            "from_size": row.previous_size,
            "from_root": base64.b64encode(bytes.fromhex(previous.root_hash)).decode() if previous else None,
            "to_size": row.size,
            "proof": [base64.b64encode(bytes.fromhex(h)).decode() for h in row.consistency_proof],
        }
        storage.put(
            base + ".consistency.json", json.dumps(sidecar, sort_keys=True).encode(), content_type="application/json"
        )
    storage.put(LATEST_CHECKPOINT_KEY, row.note.encode(), content_type="text/plain; charset=utf-8")
    keys = "".join(key.encode() + "\n" for key in log_verifier_keys())
    storage.put(LOG_KEYS_KEY, keys.encode(), content_type="text/plain; charset=utf-8")


def archive_checkpoints(*, storage: ArchiveStorage | None = None) -> int:
    """Write every checkpoint missing from the archive (after a storage outage). Returns how many."""
    storage = storage or get_storage()
    present = set(storage.list(CHECKPOINTS_PREFIX))
    written = 0
    for row in AuditCheckpoint.objects.order_by("size", "id"):
        if row.archive_key not in present:
            _write_checkpoint(row, storage)
            written += 1
    return written


# --- Witness cosignatures -----------------------------------------------------------------------
class CosignRefused(DomainError):
    """The witness will not cosign (no checkpoint, bad log signature, rollback or fork)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="cosign_refused", status_code=409)


@dataclass(frozen=True)
class WitnessState:
    origin: str
    size: int
    root: bytes

    @classmethod
    def read(cls, path: Path) -> WitnessState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["origin"], int(data["size"]), base64.b64decode(data["root"]))

    def write(self, path: Path) -> None:
        data = {"origin": self.origin, "size": self.size, "root": base64.b64encode(self.root).decode()}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(path)


def cosign_latest(
    *, witness_key: SignerKey, log_keys: list[VerifierKey], state_path: Path, storage: ArchiveStorage | None = None
) -> AuditCheckpointCosignature:
    """Cosign the latest checkpoint as a witness (``manage.py cosign_audit_checkpoint``)."""
    row = latest_checkpoint()
    if row is None:
        raise CosignRefused("No checkpoint has been published yet.")
    note = SignedNote.parse(row.note)
    if not verified_by(note, [k for k in log_keys if k.alg == ED25519], ED25519):
        raise CosignRefused("The checkpoint's log signature does not verify under the log key the witness holds.")
    checkpoint = Checkpoint.parse_body(note.body)
    previous = WitnessState.read(state_path)
    if previous is not None:
        if previous.origin != checkpoint.origin:
            raise CosignRefused("The witness state belongs to another log.")
        if checkpoint.size < previous.size:
            raise CosignRefused(f"Rollback: the witness already cosigned size {previous.size}.")
        if checkpoint.size == previous.size and checkpoint.root != previous.root:
            raise CosignRefused("Fork: a different root at a size the witness already cosigned.")
        if checkpoint.size > previous.size and previous.size > 0:
            proof = consistency_proof(previous.size, checkpoint.size)
            if not merkle.verify_consistency(previous.size, checkpoint.size, previous.root, checkpoint.root, proof):
                raise CosignRefused(f"Fork: the checkpoint is not consistent with size {previous.size}.")
    when = int(timezone.now().timestamp())
    cosigned = cosign(note, witness_key, when)
    line = cosigned.signatures[-1].line()
    with transaction.atomic():
        cosignature, _ = AuditCheckpointCosignature.objects.get_or_create(
            checkpoint=row,
            witness=witness_key.name,
            key_id=witness_key.verifier.id.hex(),
            defaults={
                "signature_line": line,
                "cosigned_at": datetime.fromtimestamp(when, tz=UTC),
                "archive_key": f"{row.archive_key.removesuffix('.note')}.cosigned.{witness_key.verifier.id.hex()}.note",
            },
        )
    WitnessState(checkpoint.origin, checkpoint.size, checkpoint.root).write(state_path)
    storage = storage or get_storage()
    storage.put(cosignature.archive_key, published_note(row).text().encode(), content_type="text/plain; charset=utf-8")
    return cosignature


# --- Rotation (through the secret inventory: compliance.secret_rotation.inventory) ----------------
def signing_key_rotated_at() -> datetime | None:
    """When the active signing key went into service: its first checkpoint (now, if none yet)."""
    active = signing_key().verifier.id.hex()
    first = AuditCheckpoint.objects.filter(key_id=active).order_by("signed_at").values_list("signed_at", flat=True)
    return first.first() or timezone.now()


def signing_key_rotate(*, actor: Actor | None = None) -> str:
    """Put a new checkpoint-signing key in service; old versions stay in the ring to verify."""
    from compliance.audit.services import ActorType, AuditAction, audit_record

    previous = signing_key().verifier.id.hex()
    with transaction.atomic():
        get_key_provider().add_version(AUDIT_SIGNING)
        new = signing_key().verifier.id.hex()
        audit_record(
            action=AuditAction.KEY_ROTATED,
            actor=actor,
            actor_type=None if actor is not None else ActorType.SYSTEM,
            object_type="audit_signing_key",
            object_id=new,
            change_diff={"stage": "rotated", "previous_key_id": previous},
        )
    return f"new checkpoint-signing key {new}; the previous one stays listed to verify old checkpoints"
