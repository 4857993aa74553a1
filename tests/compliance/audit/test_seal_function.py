"""The sealing function's checks (migration 0021_seal_function_set_checks: set-wise, same rules and messages as 0006).

It admits only the continuation of the chain: each seq is the head's plus its position, each
prev_hash the previous element's hash (the head's for the first), each hash 64 lowercase hex
digits; the first failing position is named, seq before prev_hash before the hash's form.
"""

from __future__ import annotations

import hashlib

import pytest
from django.db import DatabaseError, connection, transaction

from compliance.audit.chain import GENESIS_HASH, seal_pending
from compliance.models import AuditEvent
from tests.compliance.audit.conftest import write_events

pytestmark = pytest.mark.django_db

SEAL = "SELECT compliance_audit_seal(%s::bigint[], %s::bigint[], %s::text[], %s::text[], now())"


def _h(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def _seal(ids, seqs, prevs, hashes) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(SEAL, [ids, seqs, prevs, hashes])


def _refused(ids, seqs, prevs, hashes, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        _seal(ids, seqs, prevs, hashes)
    assert not AuditEvent.objects.filter(seq__isnull=False).exclude(seq__lte=2).exists()


@pytest.fixture
def two_sealed_two_pending() -> tuple[list[int], str]:
    write_events(2)
    head = seal_pending()
    write_events(2)
    pending = list(AuditEvent.objects.filter(seq__isnull=True).order_by("id").values_list("id", flat=True))
    return pending, head.head_hash


def test_the_continuation_is_sealed(two_sealed_two_pending):
    (a, b), head = two_sealed_two_pending
    _seal([a, b], [3, 4], [head, _h(3)], [_h(3), _h(4)])
    assert list(AuditEvent.objects.filter(id__in=[a, b]).order_by("seq").values_list("seq", "prev_hash", "hash")) == [
        (3, head, _h(3)),
        (4, _h(3), _h(4)),
    ]


def test_the_first_failing_position_is_named_in_the_old_order(two_sealed_two_pending):
    (a, b), head = two_sealed_two_pending
    _refused([a, b], [3, 5], [head, _h(3)], [_h(3), _h(4)], r"seq 5 does not continue the chain \(head 2\)")
    _refused([a, b], [3, 4], [head, _h(9)], [_h(3), _h(4)], "prev_hash of seq 4 does not continue the chain")
    _refused([a, b], [3, 4], [GENESIS_HASH, _h(9)], [_h(3), _h(4)], "prev_hash of seq 3 does not continue")
    # Both a seq and a prev_hash problem at one position: the seq is named (0006's order).
    _refused([a, b], [3, 7], [head, _h(9)], [_h(3), _h(4)], "seq 7 does not continue")


@pytest.mark.parametrize(
    "bad",
    [
        "A" * 64,  # upper case
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "a" * 63 + "\n",
        "",
    ],
)
def test_a_hash_that_is_not_64_lowercase_hex_digits_is_refused(two_sealed_two_pending, bad):
    (a, b), head = two_sealed_two_pending
    _refused([a, b], [3, 4], [head, bad], [bad, _h(4)], "hash of seq 3 is not a SHA-256 hex digest")


def test_malformed_arrays_are_refused(two_sealed_two_pending):
    (a, b), head = two_sealed_two_pending
    _refused([a, b], [3], [head, _h(3)], [_h(3), _h(4)], "malformed arguments")
    # Two-dimensional arrays: what is checked must be what the UPDATE writes.
    with pytest.raises(DatabaseError, match="malformed arguments"), transaction.atomic(), connection.cursor() as c:
        c.execute(
            "SELECT compliance_audit_seal(ARRAY[[%s, %s]]::bigint[], ARRAY[[3, 4]]::bigint[], "
            "ARRAY[[%s, %s]]::text[], ARRAY[[%s, %s]]::text[], now())",
            [a, b, head, _h(3), _h(3), _h(4)],
        )


def test_a_sealed_or_missing_record_is_refused(two_sealed_two_pending):
    (a, _b), head = two_sealed_two_pending
    sealed = AuditEvent.objects.get(seq=1).pk
    _refused([a, sealed], [3, 4], [head, _h(3)], [_h(3), _h(4)], "1 of 2 records were missing or already sealed")
