"""The log's hashing, pure (standard library only): record bytes, the RFC 9162 Merkle tree, proofs.

The offline verifier (``compliance.audit.verify``) imports this module without Django, so it
must never import Django or any project module (``tests/compliance/audit/test_offline_verifier``
checks it in a fresh interpreter).

What is hashed, and why (docs/adr/0006-audit-merkle-tree-and-checkpoints.md):
- A sealed record's **chain hash** is ``SHA-256(canonical_bytes(record) || prev_hash)``
  (``compliance.audit.chain``; ``record`` is the JSON-ready form of every frozen column plus
  ``seq`` and ``sealed_at``), so each record commits to its content and to every record before it.
- The **Merkle leaf** of the record at ``seq`` is its chain hash as 32 raw bytes, at leaf index
  ``seq - 1``: ``leaf_hash = SHA-256(0x00 || bytes.fromhex(hash))`` and interior nodes are
  ``SHA-256(0x01 || left || right)`` (RFC 9162 section 2.1.1). The leaf is re-derivable offline
  from an archived segment line (recompute the chain hash from the line, then hash it as a leaf),
  and from the database's ``hash`` column alone (so proofs need no re-serialisation).
- The tree of size ``n`` covers seq ``1..n``; its root is what a checkpoint signs.

Node addressing: a *perfect* subtree of ``2**level`` leaves starting at leaf ``index * 2**level``
is stored (``AuditMerkleNode``) under its in-order number ``node_id(level, index)``; every other
subtree hash (the right edge of a tree whose size is not a power of two) is folded from them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from json import encoder as _json_encoder
from typing import Any

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


# --- Records ------------------------------------------------------------------------------------
# The canonical form is ``json.dumps(record, sort_keys=True, separators=(",", ":"),
# ensure_ascii=False)``. ``json.dumps`` with those arguments builds a JSONEncoder and then a C
# encoder on every call, which cost more than the encoding of a small record; the same C encoder
# (same string escaper, same separators and flags; no circular-reference bookkeeping, which only
# ever raises) is built once here. ``tests/compliance/audit/test_canonical_encoding`` checks it
# against ``json.dumps`` byte for byte and against digests pinned from records already sealed.
def _not_serialisable(value: object) -> object:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


# (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan):
# what ``JSONEncoder.iterencode`` passes for those ``json.dumps`` arguments. The stubs omit it.
_make_c_encoder: Any = getattr(_json_encoder, "c_make_encoder", None)
_C_ENCODER = (
    _make_c_encoder(None, _not_serialisable, _json_encoder.encode_basestring, None, ":", ",", True, False, True)
    if _make_c_encoder is not None
    else None
)
_PY_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

# A JSON string literal, exactly as ``json.dumps(..., ensure_ascii=False)`` writes one.
encode_string: Callable[[str], str] = _json_encoder.encode_basestring


def encode_value(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``."""
    if _C_ENCODER is None:  # pragma: no cover - an interpreter without the C accelerator
        return _PY_ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def canonical_bytes(record: dict[str, Any]) -> bytes:
    """The one serialisation of a record: UTF-8 JSON, sorted keys, no whitespace."""
    return encode_value(record).encode()


def chain_hash(record: dict[str, Any], prev_hash: str) -> str:
    """The chain hash (hex) of a record given in canonical form, without its ``prev_hash``/``hash``."""
    return hashlib.sha256(canonical_bytes(record) + prev_hash.encode("ascii")).hexdigest()


# --- RFC 9162 hashing ---------------------------------------------------------------------------
def leaf_hash(record_hash: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + record_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def node_id(level: int, index: int) -> int:
    """In-order number of the perfect subtree (level, index): unique, and stable as the tree grows."""
    return (index << (level + 1)) + (1 << level) - 1


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees (level, index) covering leaves [start, end), left to right,
    for a range that begins on a boundary of its own size's power of two (as every range RFC 9162
    proofs visit does)."""
    out = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def fold(hashes: list[bytes]) -> bytes:
    """Root of perfect subtrees given left to right (largest first): fold from the right."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


class CompactRange:
    """The right edge of a tree: one perfect subtree hash per set bit of ``size``, largest first.

    ``append`` is O(log n) amortised O(1) hashes and reports every perfect subtree it completes
    (``on_node(level, index, hash)``), which is how the sealer stores the nodes proofs need.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError("a compact range has one hash per set bit of its size")

    def append(self, leaf: bytes, on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        index = self.size
        current = leaf
        if on_node:
            on_node(0, index, current)
        level = 0
        while index >> level & 1:
            current = node_hash(self.hashes.pop(), current)
            level += 1
            if on_node:
                on_node(level, index >> level, current)
        self.hashes.append(current)
        self.size += 1

    def append_records(self, record_hashes: Iterable[bytes], ids: list[int], digests: list[bytes]) -> None:
        """``append(leaf_hash(h), on_node)`` for each record hash, collecting every perfect subtree
        completed as ``node_id`` into ``ids`` and its hash into ``digests`` (the sealer's loop)."""
        size, hashes = self.size, self.hashes
        for record_hash in record_hashes:
            current = _sha256(LEAF_PREFIX + record_hash).digest()
            index = size
            ids.append(index << 1)  # node_id(0, index)
            digests.append(current)
            level = 0
            while index & 1:
                current = _sha256(NODE_PREFIX + hashes.pop() + current).digest()
                index >>= 1
                level += 1
                ids.append((index << (level + 1)) + (1 << level) - 1)  # node_id(level, index)
                digests.append(current)
            hashes.append(current)
            size += 1
        self.size = size

    def push(self, record_hash: bytes) -> None:
        """``append(leaf_hash(record_hash))`` without the node callback: the verifiers' inner loop."""
        current = _sha256(LEAF_PREFIX + record_hash).digest()
        index, hashes = self.size, self.hashes
        while index & 1:
            current = _sha256(NODE_PREFIX + hashes.pop() + current).digest()
            index >>= 1
        hashes.append(current)
        self.size += 1

    def root(self) -> bytes:
        return fold(self.hashes)


def root_of(record_hashes: Iterable[bytes]) -> bytes:
    tree = CompactRange()
    for record_hash in record_hashes:
        tree.append(leaf_hash(record_hash))
    return tree.root()


# --- Proof generation (RFC 9162 section 2.1.3.1 and 2.1.4.1) -------------------------------------
NodeReader = Callable[[int, int], bytes]  # (level, index) -> hash of that perfect subtree


def subtree_hash(start: int, end: int, node: NodeReader) -> bytes:
    """MTH(D[start:end]) from stored perfect subtrees."""
    return fold([node(level, index) for level, index in perfect_subtrees(start, end)])


def inclusion_path(index: int, size: int, node: NodeReader) -> list[bytes]:
    """PATH(index, D[0:size]): the audit path of leaf ``index``, from the leaf upwards."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    path: list[bytes] = []

    def walk(m: int, start: int, end: int) -> None:
        if end - start == 1:
            return
        k = _largest_power_of_two_below(end - start)
        if m < k:
            walk(m, start, start + k)
            path.append(subtree_hash(start + k, end, node))
        else:
            walk(m - k, start + k, end)
            path.append(subtree_hash(start, start + k, node))

    walk(index, 0, size)
    return path


def consistency_path(first: int, second: int, node: NodeReader) -> list[bytes]:
    """PROOF(first, D[0:second]): proves the tree of size ``first`` is a prefix of ``second``."""
    if not 0 < first <= second:
        raise ValueError("consistency needs 0 < first <= second")
    path: list[bytes] = []

    def sub(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                path.append(subtree_hash(start, end, node))
            return
        k = _largest_power_of_two_below(n)
        if m <= k:
            sub(m, start, start + k, whole)
            path.append(subtree_hash(start + k, end, node))
        else:
            sub(m - k, start + k, end, False)
            path.append(subtree_hash(start, start + k, node))

    sub(first, 0, second, True)
    return path


def nodes_needed(build: Callable[[NodeReader], Any]) -> set[tuple[int, int]]:
    """Which perfect subtrees ``build`` reads (run once with placeholders): fetch them in one query."""
    needed: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        needed.add((level, index))
        return EMPTY_ROOT

    build(record)
    return needed


# --- Proof verification (RFC 9162 section 2.1.3.2 and 2.1.4.2) ------------------------------------
def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    if first > second or first < 0:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
