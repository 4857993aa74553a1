"""RFC 9162 hashing and proofs against trees of 1..8 leaves written out by hand.

Each expected root and proof below is spelled as the RFC defines it (section 2.1): leaves
``L(i) = SHA-256(0x00 || d_i)``, nodes ``N(a, b) = SHA-256(0x01 || a || b)``, and for a tree that
is not a power of two the left subtree is the largest power of two. Nothing here calls the code
under test to produce an expected value.
"""

from __future__ import annotations

import hashlib

import pytest

from compliance.audit import merkle

D = [f"record {i}".encode().ljust(32, b".") for i in range(8)]  # 32-byte leaf inputs (chain hashes)


def L(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + D[i]).digest()


def N(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + a + b).digest()


# Subtrees by hand.
L01, L23, L45, L67 = N(L(0), L(1)), N(L(2), L(3)), N(L(4), L(5)), N(L(6), L(7))
L0123, L4567 = N(L01, L23), N(L45, L67)
ROOTS = {
    1: L(0),
    2: L01,
    3: N(L01, L(2)),
    4: L0123,
    5: N(L0123, L(4)),
    6: N(L0123, L45),
    7: N(L0123, N(L45, L(6))),
    8: N(L0123, L4567),
}

# Inclusion paths (leaf upwards), RFC 9162 2.1.3.1, written out for every leaf of sizes 1..8.
INCLUSION = {
    (0, 1): [],
    (0, 2): [L(1)],
    (1, 2): [L(0)],
    (0, 3): [L(1), L(2)],
    (1, 3): [L(0), L(2)],
    (2, 3): [L01],
    (0, 4): [L(1), L23],
    (1, 4): [L(0), L23],
    (2, 4): [L(3), L01],
    (3, 4): [L(2), L01],
    (0, 5): [L(1), L23, L(4)],
    (3, 5): [L(2), L01, L(4)],
    (4, 5): [L0123],
    (0, 6): [L(1), L23, L45],
    (4, 6): [L(5), L0123],
    (5, 6): [L(4), L0123],
    (0, 7): [L(1), L23, N(L45, L(6))],
    (2, 7): [L(3), L01, N(L45, L(6))],
    (4, 7): [L(5), L(6), L0123],
    (5, 7): [L(4), L(6), L0123],
    (6, 7): [L45, L0123],
    (0, 8): [L(1), L23, L4567],
    (3, 8): [L(2), L01, L4567],
    (5, 8): [L(4), L67, L0123],
    (7, 8): [L(6), L45, L0123],
}

# Consistency proofs, RFC 9162 2.1.4.1, by hand (the RFC's own examples are (3,7), (4,7), (6,7)).
CONSISTENCY = {
    (1, 1): [],
    (1, 2): [L(1)],
    (1, 8): [L(1), L23, L4567],
    (2, 3): [L(2)],
    (2, 5): [L23, L(4)],
    (3, 4): [L(2), L(3), L01],
    (3, 7): [L(2), L(3), L01, N(L45, L(6))],
    (4, 7): [N(L45, L(6))],
    (4, 8): [L4567],
    (5, 8): [L(4), L(5), L67, L0123],
    (6, 7): [L45, L(6), L0123],
    (6, 8): [L45, L67, L0123],
    (7, 8): [L(6), L(7), L45, L0123],
}


@pytest.fixture(scope="module")
def stored_nodes() -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    tree = merkle.CompactRange()
    for i in range(8):
        tree.append(merkle.leaf_hash(D[i]), lambda level, index, digest: nodes.__setitem__((level, index), digest))
    return nodes


def test_hashing_is_rfc_9162():
    assert merkle.leaf_hash(D[0]) == L(0)
    assert merkle.node_hash(L(0), L(1)) == L01
    assert hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_incremental_root_matches_the_tree_by_hand(size):
    tree = merkle.CompactRange()
    for i in range(size):
        tree.append(merkle.leaf_hash(D[i]))
    assert tree.root() == ROOTS[size]
    assert merkle.root_of(D[:size]) == ROOTS[size]
    # The compact range holds one hash per set bit of the size, not the leaves.
    assert len(tree.hashes) == bin(size).count("1")


@pytest.mark.parametrize(("index", "size"), sorted(INCLUSION))
def test_inclusion_proofs_by_hand(index, size, stored_nodes):
    path = merkle.inclusion_path(index, size, lambda level, i: stored_nodes[(level, i)])
    assert path == INCLUSION[(index, size)]
    assert merkle.verify_inclusion(index, size, L(index), path, ROOTS[size])
    # The same proof for another leaf, another position or another root fails.
    assert not merkle.verify_inclusion(index, size, L((index + 1) % 8), path, ROOTS[size])
    if size > 1:
        assert not merkle.verify_inclusion((index + 1) % size, size, L(index), path, ROOTS[size])
    assert not merkle.verify_inclusion(index, size, L(index), path, ROOTS[size % 8 + 1])


def test_every_leaf_of_every_size_up_to_eight_proves(stored_nodes):
    for size in range(1, 9):
        for index in range(size):
            path = merkle.inclusion_path(index, size, lambda level, i: stored_nodes[(level, i)])
            assert merkle.verify_inclusion(index, size, L(index), path, ROOTS[size])
            if (index, size) in INCLUSION:
                assert path == INCLUSION[(index, size)]


@pytest.mark.parametrize(("first", "second"), sorted(CONSISTENCY))
def test_consistency_proofs_by_hand(first, second, stored_nodes):
    proof = merkle.consistency_path(first, second, lambda level, i: stored_nodes[(level, i)])
    assert proof == CONSISTENCY[(first, second)]
    assert merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)
    if first < second:
        # A forked old root, or a proof for other sizes, does not verify.
        assert not merkle.verify_consistency(first, second, N(ROOTS[first], ROOTS[first]), ROOTS[second], proof)
        assert not merkle.verify_consistency(first, second, ROOTS[first], ROOTS[first], proof)


def test_every_pair_of_sizes_up_to_eight_is_consistent(stored_nodes):
    for second in range(1, 9):
        for first in range(1, second + 1):
            proof = merkle.consistency_path(first, second, lambda level, i: stored_nodes[(level, i)])
            assert merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)


def test_out_of_range_requests_are_refused(stored_nodes):
    with pytest.raises(ValueError):
        merkle.inclusion_path(3, 3, lambda level, i: stored_nodes[(level, i)])
    with pytest.raises(ValueError):
        merkle.consistency_path(5, 4, lambda level, i: stored_nodes[(level, i)])
    assert not merkle.verify_inclusion(3, 3, L(3), [], ROOTS[3])
    assert not merkle.verify_consistency(2, 1, ROOTS[2], ROOTS[1], [])


def test_append_records_stores_the_same_nodes_as_append_with_a_callback():
    # The sealer's batch loop against the one-leaf-at-a-time definition, across many sizes.
    record_hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(300)]
    one, seen = merkle.CompactRange(), []
    for record_hash in record_hashes:
        one.append(merkle.leaf_hash(record_hash), lambda lvl, idx, h: seen.append((merkle.node_id(lvl, idx), h)))
    batched, ids, digests = merkle.CompactRange(), [], []
    for start in range(0, 300, 37):
        batched.append_records(record_hashes[start : start + 37], ids, digests)
    assert list(zip(ids, digests, strict=True)) == seen
    assert (batched.size, batched.hashes, batched.root()) == (one.size, one.hashes, one.root())
    pushed = merkle.CompactRange()
    for record_hash in record_hashes:
        pushed.push(record_hash)
    assert pushed.root() == one.root() == merkle.root_of(record_hashes)
