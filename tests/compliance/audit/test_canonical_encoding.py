"""The canonical record bytes are the same as before the fast paths, byte for byte (issue 20).

Sealing and verification build a record's canonical bytes from the row's text (``to_char``
timestamps, the JSON encoder built once, the record's keys filled in their sorted order) instead of
``json.dumps(canonical_record(values), sort_keys=True, ...)``. Any difference would break every
archived segment and every signed checkpoint in the field, so:
- digests pinned from records hashed by the code before the change still come out;
- the encoder equals ``json.dumps`` over thousands of generated values (unicode, escapes, floats,
  big integers, nesting);
- the row-text path equals the model path on the same records, in memory and through PostgreSQL
  (records sealed by one path verify with the other);
- a record the row-text path declines (a year before 1000, a NULL behind the triggers) takes the
  model path and is still checked.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from compliance.audit import chain
from compliance.audit.chain import GENESIS_HASH, canonical_record, compute_hash, seal_pending, verify_chain
from compliance.audit.merkle import canonical_bytes, encode_value
from compliance.models import AuditEvent

T0 = datetime(2026, 12, 3, 4, 22, 51, 123456, tzinfo=UTC)
SEALED = datetime(2026, 12, 3, 4, 22, 52, 0, tzinfo=UTC)


def _values(n: int, **override: Any) -> dict[str, Any]:
    values = {
        "id": 1000 + n,
        "timestamp": T0 + timedelta(microseconds=n),
        "user_id": None,
        "actor_type": "system",
        "action": "TRANSFER",
        "source_ip": None,
        "change_diff": {},
        "request_id": "",
        "object_type": "ledger.JournalEntry",
        "object_id": f"e-{n}",
        "seq": n,
        "sealed_at": SEALED,
    }
    return values | override


# Awkward records: unicode, escapes, numbers JSON writes in more than one way, key order, IPv6.
CASES = [
    _values(
        1,
        change_diff={"amount": 1000, "currency": "ZAR", "from_account": "5f7e3c9a-1b2c", "to_account": "5f7e3c9a-1b2d"},
    ),
    _values(2, user_id=42, actor_type="user", action="LOGIN", source_ip="192.0.2.10", request_id="req-8f3a"),
    _values(3, source_ip="2001:db8::1", change_diff={"naïve": "Zoë Ñandú 日本語 🎉", "ключ": ["α", "β", {"ζ": None}]}),
    _values(4, source_ip="::ffff:10.0.0.1", object_id="ünïcode-🎉", object_type="kyc.Record"),
    _values(
        5,
        change_diff={
            "text": 'line\nbreak\ttab "quoted" back\\slash \u0000\u0001\u001f\u007f \u2028\u2029 \ud7ff\ue000'
        },
    ),
    _values(
        6,
        change_diff={
            "f": 0.1,
            "big": 1e16,
            "small": 1e-7,
            "neg": -0.0,
            "half": 10.5,
            "huge": 123456789012345678901234567890,
            "dec_text": "10.50",
            "int": -7,
            "t": True,
            "n": None,
            "e": 2.5e-300,
        },
    ),
    _values(
        7, change_diff={"b": 1, "a": {"z": [], "y": {}, "A": [1, [2, [3]]], "_": "", "ä": 0, "10": 1, "9": 2, "": 3}}
    ),
    _values(8, timestamp=datetime(2026, 1, 1, tzinfo=UTC), sealed_at=datetime(2026, 1, 1, 0, 0, 1, 999999, tzinfo=UTC)),
    _values(
        9, timestamp=datetime(2026, 6, 1, 2, 30, 0, 5, tzinfo=dt_timezone(timedelta(hours=2))), request_id="x" * 128
    ),
    _values(
        10, change_diff={"after": {"amount_minor": 100, "currency": "ZAR"}, "before": None, "list": [{"b": 2, "a": 1}]}
    ),
]

# Chained from GENESIS_HASH by the code before the fast paths (commit 98d9f08): these are hashes
# already sealed, archived and signed in the field; they must never change (hashes, not secrets:
# detect-secrets is told so line by line).
PINNED_CHAIN = [
    "60fe93710d32b300f2dcd123a1e6e4e38dd915f7462d5a300ca30a8fcb404d5a",  # pragma: allowlist secret
    "6966793d9722131f1d550b5ff7a50dcb12ce72db111c4372dde0baa15117ad22",  # pragma: allowlist secret
    "2b547701358239728a1ee387b2880385ecee26ac2759a33bbc14a15c25a96b84",  # pragma: allowlist secret
    "1e323cc566e4ec1bb57446280b6beda8dee059008b3e338932ac54156f34bf7c",  # pragma: allowlist secret
    "fcfc6bdab9fbd8404bbd3755d6130948bb51837f17b716e1caf30e2dcda93abb",  # pragma: allowlist secret
    "1833aea9a0249cb60ca60b4233a351add319432bcd473bfc20468250a2f4a416",  # pragma: allowlist secret
    "a2cfdf4712774e813e3829a080cdd2e6b39576db301a97804e4453af516afc6d",  # pragma: allowlist secret
    "e62c89aafe745fad45597cd72bbafa4845f52e82182311e55639af600f0cbf4a",  # pragma: allowlist secret
    "e8db7c5181a3b353f26e3f9ed8d454d2ca418789f917ae3b8658849f786d66a6",  # pragma: allowlist secret
    "2b85b550df45daaf0f7c80fc4a75c304d17e2676f9cc2cfc8978c6ec5e8ded3b",  # pragma: allowlist secret
]
# SHA-256 of the ten canonical lines (each + "\n"), from the same code.
PINNED_LINES_SHA256 = "442292c2ee2bc52933655dc4479b0083f3d11b74016879399d28bac59e2af51f"  # pragma: allowlist secret


def _reference(value: Any) -> bytes:
    """The definition, spelled out independently of the module under test."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _reference_hash(values: dict[str, Any], prev: str) -> str:
    return hashlib.sha256(_reference(canonical_record(values)) + prev.encode()).hexdigest()


# --- Generated values -------------------------------------------------------------------------------
_ALPHABET = (
    string.ascii_letters
    + string.digits
    + " _-.:/\"\\'\n\t\r\b\f\x01\x1f\x7f"
    + "äöüßÑñΩЖж中文日本語🎉😀\u2028\u2029\ue000"
)


def _text(rng: random.Random, *, nul: bool) -> str:
    alphabet = _ALPHABET + ("\x00" if nul else "")
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def _number(rng: random.Random) -> int | float:
    return rng.choice(
        [
            rng.randint(-1000, 1000),
            rng.randint(-(10**30), 10**30),
            rng.uniform(-1e6, 1e6),
            rng.random() * 10 ** rng.randint(-320, 308),
            rng.choice([0.1, 1e16, 1e-7, -0.0, 5e-324, 1.7976931348623157e308, 10.5, 1.1, 100.0]),
        ]
    )


def _json_value(rng: random.Random, depth: int = 0, *, nul: bool = True) -> Any:
    kinds = ["text", "number", "bool", "null"] + (["list", "dict", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "text":
        return _text(rng, nul=nul)
    if kind == "number":
        return _number(rng)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_json_value(rng, depth + 1, nul=nul) for _ in range(rng.randint(0, 4))]
    return {_text(rng, nul=nul): _json_value(rng, depth + 1, nul=nul) for _ in range(rng.randint(0, 5))}


def _random_values(rng: random.Random, n: int, *, nul: bool) -> dict[str, Any]:
    diff = {_text(rng, nul=nul): _json_value(rng, nul=nul) for _ in range(rng.randint(0, 6))}
    return _values(
        n,
        timestamp=T0 + timedelta(seconds=rng.randint(-(10**8), 10**8), microseconds=rng.randint(0, 999999)),
        user_id=rng.choice([None, rng.randint(1, 10**12)]),
        actor_type=rng.choice(["user", "system", "anonymous"]),
        action=rng.choice(["TRANSFER", "LOGIN", "PI_REVEALED", _text(rng, nul=False)[:64]]),
        source_ip=rng.choice([None, "10.1.2.3", "2001:db8::7", "::ffff:192.0.2.1", "fe80::1", "::1"]),
        change_diff=diff,
        request_id=_text(rng, nul=False),
        object_type=_text(rng, nul=False),
        object_id=_text(rng, nul=False),
    )


# --- In memory --------------------------------------------------------------------------------------
def test_pinned_digests_of_records_sealed_before_the_change_still_come_out():
    prev, digests = GENESIS_HASH, []
    for values in CASES:
        digest = compute_hash(values, prev)
        assert digest == _reference_hash(values, prev)
        digests.append(digest)
        prev = digest
    assert digests == PINNED_CHAIN
    lines = b"".join(canonical_bytes(canonical_record(values)) + b"\n" for values in CASES)
    assert hashlib.sha256(lines).hexdigest() == PINNED_LINES_SHA256


def test_the_encoder_equals_json_dumps_over_thousands_of_generated_values():
    rng = random.Random(9162)
    for _ in range(5000):
        value = {_text(rng, nul=True): _json_value(rng) for _ in range(rng.randint(0, 6))}
        assert encode_value(value).encode() == _reference(value)
        assert canonical_bytes(value) == _reference(value)


def _row_text(values: dict[str, Any]) -> tuple[Any, ...]:
    """The frozen columns as PostgreSQL hands them to the row-text path (jsonb in its own spelling:
    spaces after separators, keys in its own order)."""
    diff = json.dumps(dict(sorted(values["change_diff"].items(), key=lambda kv: (len(kv[0]), kv[0]))))
    return (
        values["id"],
        chain._utc(values["timestamp"]),
        values["user_id"],
        values["actor_type"],
        values["action"],
        values["source_ip"],
        diff,
        values["request_id"],
        values["object_type"],
        values["object_id"],
    )


def test_the_row_text_path_equals_the_definition_on_generated_records():
    rng = random.Random(20)
    records = CASES + [_random_values(rng, 100 + n, nul=True) for n in range(2000)]
    for values in records:
        fast = chain._record_bytes(_row_text(values), 0, values["seq"], chain._utc(values["sealed_at"]))
        assert fast == _reference(canonical_record(values)), values


def test_a_timestamp_outside_years_1000_to_9999_is_declined_to_the_model_path():
    values = _values(1)
    assert chain._record_bytes((*_row_text(values)[:1], None, *_row_text(values)[2:]), 0, 1, "x") is None
    assert chain._record_bytes((*_row_text(values), None), 0, 1, None) is None
    # A NULL where the schema promises text (only possible behind the triggers) is declined too.
    row = list(_row_text(values))
    row[4] = None
    assert chain._record_bytes(tuple(row), 0, 1, chain._utc(SEALED)) is None


# --- Through PostgreSQL -----------------------------------------------------------------------------
def _insert(records: list[dict[str, Any]]) -> None:
    """Insert unsealed rows as ``audit_record`` leaves them; generated user ids become a real user's."""
    user = get_user_model().objects.create_user(email="canonical@example.test")
    AuditEvent.objects.bulk_create(
        AuditEvent(
            **{k: v for k, v in values.items() if k not in ("id", "seq", "sealed_at", "user_id")},
            user_id=None if values["user_id"] is None else user.pk,
        )
        for values in records
    )


def _assert_stored_hashes_are_the_definition() -> int:
    fields = [*chain.RECORD_FIELDS, "prev_hash", "hash"]
    prev, count = GENESIS_HASH, 0
    for values in AuditEvent.objects.order_by("seq").values(*fields):
        assert values["prev_hash"] == prev
        assert values["hash"] == _reference_hash(values, prev), values
        prev, count = values["hash"], count + 1
    return count


@pytest.mark.django_db
def test_records_sealed_through_the_row_text_path_hash_as_the_definition_says():
    assert connection.vendor == "postgresql"
    rng = random.Random(7)
    # jsonb refuses \u0000; PostgreSQL text refuses NUL: those stay in the in-memory test above.
    records = [values | {"change_diff": _strip_nul(values["change_diff"])} for values in CASES]
    records += [_random_values(rng, 100 + n, nul=False) for n in range(600)]
    _insert(records)
    assert seal_pending(batch_size=256).sealed == len(records)
    assert _assert_stored_hashes_are_the_definition() == len(records)
    result = verify_chain()
    assert (result.ok, result.checked) == (True, len(records))


@pytest.mark.django_db
def test_a_chain_sealed_by_the_model_path_verifies_through_the_row_text_path(monkeypatch):
    # The model path is the code that sealed every record in the field before this change.
    rng = random.Random(11)
    _insert([_random_values(rng, n, nul=False) for n in range(300)])
    monkeypatch.setattr(chain, "_hash_unsealed_postgresql", chain._hash_unsealed_orm)
    assert seal_pending(batch_size=128).sealed == 300
    monkeypatch.undo()
    assert _assert_stored_hashes_are_the_definition() == 300
    assert verify_chain().ok


@pytest.mark.django_db
def test_declined_records_take_the_model_path_and_tampering_is_still_named(behind_the_triggers):
    _insert([_values(n, timestamp=T0 + timedelta(seconds=n)) for n in range(1, 6)])
    # A timestamp in year 999 (behind the triggers, before sealing): to_char's year is not %Y's.
    behind_the_triggers(
        "UPDATE compliance_auditevent SET timestamp = '0999-05-01 10:00:00.000001+00' WHERE object_id = 'e-3'"
    )
    assert seal_pending().sealed == 5
    assert _assert_stored_hashes_are_the_definition() == 5
    assert verify_chain().ok
    # A NULL the schema forbids: the row-text path declines it, the model path names it.
    behind_the_triggers("ALTER TABLE compliance_auditevent ALTER COLUMN action DROP NOT NULL")
    behind_the_triggers("UPDATE compliance_auditevent SET action = NULL WHERE seq = 4")
    result = verify_chain()
    assert (result.ok, result.first_broken_seq, result.reason) == (False, 4, "record content does not match its hash")


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_strip_nul(item) for item in value]
    if isinstance(value, dict):
        return {_strip_nul(key): _strip_nul(item) for key, item in value.items()}
    return value
