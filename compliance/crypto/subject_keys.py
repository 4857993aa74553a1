"""Per-data-subject data keys: envelope encryption and crypto-shredding (docs/adr/0007).

Every encrypted PI column of a row that belongs to one data subject is encrypted under that
subject's own 256-bit data key, which the database stores only wrapped by the field-key ring
(``SubjectKey.wrapped_key``; the ring comes from the key provider: env, file or KMS-wrapped).
Destroying the subject's key ("shredding") makes every copy of those values unreadable at once:
the live rows, replicas, restored backups (once ``reapply_erasures`` ran), audit change diffs and
archived audit segments, without touching any of them.

Token format (text, beside the field ring's ``v<version>:<base64>``)::

    s<format>:<subject key id>:<base64(nonce[12] || ciphertext || tag[16])>

The token names its key, so decryption needs no row context. The associated data is the same
column label the field ring uses (``app_label.model.field``).

Which subject a row belongs to is declared once, in the PI inventory (``@pi_model(subject=...)``:
``"self"`` or the foreign-key path to the subject); ``subject_of`` follows it. A model with
encrypted fields but no subject declaration fails the system check compliance.E123.

Where the keys live (``kernel.db_router``): in their own database (the ``keys`` alias,
``SUBJECT_KEYS_DATABASE_URL``; production requires it, check compliance.E125), so no backup of the
main database holds a key; or, in single-database mode (tests), in the main database.

Invariants:
- A key is created lazily, the first time PI of its subject is encrypted. Single-database mode:
  in the caller's transaction (a rollback leaves no key and no token under it), offered for
  encryption only once committed. Separate key store: committed at once in the key store
  (autocommit on ``keys``), independently of the caller's transaction; a rollback of the caller
  leaves an orphan key that no token names (harmless, never reused).
- A destroyed key never comes back: ``destroyed_at`` is set and ``wrapped_key`` emptied in one
  UPDATE; encryption for a subject whose key is destroyed falls back to the field ring (what is
  still written about an erased subject is retained or pseudonymous data).
- With a separate key store, a key is destroyed only after the main transaction that re-keyed
  what is kept has committed (``transaction.on_commit``): destroying first and then rolling back
  would lose the retained values. Until then the subject's new values go under the field ring.
  A crash in between is caught by ``destroy_keys_of_erased`` (the erasure ledger's task).
- The process cache (LRU, ``CACHE_SIZE`` keys, ``CACHE_SECONDS`` each) holds unwrapped keys in
  memory only (never Redis); shredding evicts the key in this process at once, other processes
  re-read the row within ``CACHE_SECONDS``.
- Reading a value under a destroyed key returns ``ShreddedValue`` (``"[shredded]"``) instead of
  raising: admin screens, exports and the API show the marker, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone

from compliance.crypto import aead
from compliance.crypto.keys import KEY_BYTES, KeyProvider, generate_key, on_provider_reset
from kernel.db_router import key_store_alias, separate_key_store

NONCE_BYTES = aead.NONCE_BYTES
TAG_BYTES = aead.TAG_BYTES
FORMAT = 1
SHREDDED = "[shredded]"
CACHE_SIZE = 4096
CACHE_SECONDS = 30.0
_TOKEN = re.compile(r"^s([1-9][0-9]{0,3}):([1-9][0-9]{0,18}):([A-Za-z0-9+/]+={0,2})$")
# The associated data of the diff values an audit record carries encrypted (compliance.audit.services).
AUDIT_DIFF_AAD = b"compliance.auditevent.change_diff"


class SubjectKeyDestroyed(aead.FieldDecryptionError):
    """The value was encrypted under a subject key that has been destroyed (the subject was erased)."""


class ShreddedValue(str):
    """What an encrypted field reads as when its subject key was destroyed: ``"[shredded]"``.

    Keeps the stored token, so saving the row again writes the (unreadable) ciphertext back
    unchanged instead of encrypting the marker."""

    token: str

    def __new__(cls, token: str) -> ShreddedValue:
        value = super().__new__(cls, SHREDDED)
        value.token = token
        return value


class SealedToken(str):
    """A token already encrypted (by ``pre_save`` or a backfill): ``get_prep_value`` stores it as is."""


@dataclass(frozen=True)
class SubjectRef:
    """A data subject: its model label (lower case) and primary key, as text. No PI."""

    subject_type: str
    subject_id: str


def is_subject_token(value: Any) -> bool:
    return isinstance(value, str) and _TOKEN.match(value) is not None


def token_key_id(token: str) -> int:
    match = _TOKEN.match(token or "")
    if not match:
        raise aead.FieldDecryptionError("The stored value is not a subject-key token.")
    return int(match.group(2))


def _wrap_aad(ref: SubjectRef) -> bytes:
    return f"compliance.subjectkey|{ref.subject_type}|{ref.subject_id}".encode()


# --- The process cache ---------------------------------------------------------------------------
_DESTROYED = b""


class _KeyCache:
    """key id -> (subject, key bytes or _DESTROYED, loaded at); subject -> key id. Thread-safe LRU."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: OrderedDict[int, tuple[SubjectRef, bytes, float]] = OrderedDict()
        self._by_subject: dict[SubjectRef, int] = {}

    def get(self, key_id: int) -> tuple[SubjectRef, bytes] | None:
        with self._lock:
            entry = self._by_id.get(key_id)
            if entry is None:
                return None
            ref, key, loaded = entry
            if key is not _DESTROYED and time.monotonic() - loaded > CACHE_SECONDS:
                self._drop(key_id)
                return None
            self._by_id.move_to_end(key_id)
            return ref, key

    def for_subject(self, ref: SubjectRef) -> tuple[int, bytes] | None:
        with self._lock:
            key_id = self._by_subject.get(ref)
        if key_id is None:
            return None
        found = self.get(key_id)
        return (key_id, found[1]) if found else None

    def put(self, key_id: int, ref: SubjectRef, key: bytes, *, for_encryption: bool = True) -> None:
        with self._lock:
            self._by_id[key_id] = (ref, key, time.monotonic())
            self._by_id.move_to_end(key_id)
            if for_encryption:
                self._by_subject[ref] = key_id
            while len(self._by_id) > CACHE_SIZE:
                oldest, (old_ref, _, _) = self._by_id.popitem(last=False)
                if self._by_subject.get(old_ref) == oldest:
                    del self._by_subject[old_ref]

    def evict(self, key_id: int) -> None:
        with self._lock:
            self._drop(key_id)

    def _drop(self, key_id: int) -> None:
        entry = self._by_id.pop(key_id, None)
        if entry is not None and self._by_subject.get(entry[0]) == key_id:
            del self._by_subject[entry[0]]

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()
            self._by_subject.clear()

    def __len__(self) -> int:
        return len(self._by_id)


_cache = _KeyCache()


def clear_cache() -> None:
    """Forget every unwrapped key held by this process (tests; after a restore)."""
    _cache.clear()


def _provider(provider: KeyProvider | None) -> KeyProvider:
    from compliance.crypto.keys import get_key_provider

    return provider or get_key_provider()


def _unwrap(row: Any, provider: KeyProvider | None = None) -> bytes:
    ref = SubjectRef(row.subject_type, row.subject_id)
    return aead.decrypt(row.wrapped_key, associated_data=_wrap_aad(ref), provider=_provider(provider))


def decrypt_wrapped(row: Any, provider: KeyProvider | None = None) -> bytes:
    """The raw key of a live ``SubjectKey`` row (the rotation re-wraps it)."""
    return _unwrap(row, provider)


def wrap_key(ref: SubjectRef, key: bytes, provider: KeyProvider | None = None) -> str:
    return aead.encrypt(key, associated_data=_wrap_aad(ref), provider=_provider(provider))


def _load(key_id: int, *, fresh: bool = False) -> tuple[SubjectRef, bytes]:
    """The key ``key_id`` (cached). ``fresh``: created by the current transaction."""
    cached = _cache.get(key_id)
    if cached is not None:
        return cached
    from compliance.crypto.models import SubjectKey

    row = SubjectKey.objects.filter(pk=key_id).first()
    if row is None:
        raise aead.FieldDecryptionError(
            f"Subject key {key_id} does not exist (restored without its key table, or the keys not moved "
            "to the key store yet: manage.py move_subject_keys?)."
        )
    ref = SubjectRef(row.subject_type, row.subject_id)
    if row.destroyed_at is not None:
        _cache.put(key_id, ref, _DESTROYED)  # destruction is final: cached for good
        return ref, _DESTROYED
    key = _unwrap(row)
    if len(key) != KEY_BYTES:
        raise aead.FieldDecryptionError(f"Subject key {key_id} unwrapped to the wrong length.")
    if fresh:
        # Created by this transaction: decrypting by id is safe at once (a rolled-back id is never
        # reused, so no committed token names it), but encryption must not pick this key for the
        # subject until it is committed, or a rollback would leave tokens under a key that never was.
        _cache.put(key_id, ref, key, for_encryption=False)
        transaction.on_commit(lambda: _cache.put(key_id, ref, key))
    else:
        _cache.put(key_id, ref, key)
    return ref, key


def _key_for_encryption(ref: SubjectRef) -> tuple[int, bytes] | None:
    """The subject's live key (created if it has none); None when its key was destroyed (or will
    be when this transaction commits)."""
    if _destruction_pending(ref):
        return None  # destroyed when this transaction commits: nothing new goes under it
    cached = _cache.for_subject(ref)
    if cached is not None:
        return None if cached[1] is _DESTROYED else cached
    from compliance.crypto.models import SubjectKey

    row = SubjectKey.objects.filter(subject_type=ref.subject_type, subject_id=ref.subject_id).first()
    # In a separate key store the new row is committed at once (autocommit on ``keys``): it can be
    # offered for encryption now. In the main database it commits (or not) with the caller.
    fresh = row is None and not separate_key_store()
    if row is None:
        key = generate_key()
        # ON CONFLICT DO NOTHING: two transactions creating the same subject's key; the loser reads the winner's.
        SubjectKey.objects.bulk_create(
            [SubjectKey(subject_type=ref.subject_type, subject_id=ref.subject_id, wrapped_key=wrap_key(ref, key))],
            ignore_conflicts=True,
        )
        row = SubjectKey.objects.get(subject_type=ref.subject_type, subject_id=ref.subject_id)
    if row.destroyed_at is not None:
        _cache.put(row.pk, ref, _DESTROYED)
        return None
    found = _load(row.pk, fresh=fresh)
    return row.pk, found[1]


# --- Encrypting and decrypting values ----------------------------------------------------------------
def encrypt(ref: SubjectRef, plaintext: bytes, *, associated_data: bytes) -> str:
    """``s1:<key id>:<base64>`` under the subject's key, or the field ring's token once it is destroyed."""
    found = _key_for_encryption(ref)
    if found is None:
        return aead.encrypt(plaintext, associated_data=associated_data)
    key_id, key = found
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, associated_data)
    return f"s{FORMAT}:{key_id}:" + base64.b64encode(nonce + sealed).decode("ascii")


def decrypt(token: str, *, associated_data: bytes) -> bytes:
    """The plaintext of a subject-key token; ``SubjectKeyDestroyed`` once the key is gone."""
    match = _TOKEN.match(token or "")
    if not match:
        raise aead.FieldDecryptionError(f"The value stored for {associated_data.decode()} is not a subject-key token.")
    key_id = int(match.group(2))
    _, key = _load(key_id)
    if key is _DESTROYED:
        raise SubjectKeyDestroyed(f"The subject key of this {associated_data.decode()} value was destroyed (erased).")
    try:
        blob = base64.b64decode(match.group(3), validate=True)
    except (binascii.Error, ValueError):
        raise aead.FieldDecryptionError(f"The token stored for {associated_data.decode()} is damaged.") from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise aead.FieldDecryptionError(f"The token stored for {associated_data.decode()} is truncated.")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except InvalidTag:
        raise aead.FieldDecryptionError(
            f"Authentication failed decrypting {associated_data.decode()} with subject key {key_id}: "
            "tampered value, or a value copied from another column."
        ) from None


def token_destroyed(token: str) -> bool:
    """Whether the subject key a token names has been destroyed (no decryption)."""
    try:
        _, key = _load(token_key_id(token))
    except aead.FieldDecryptionError:
        return False
    return key is _DESTROYED


def decrypt_any(token: str, *, associated_data: bytes) -> bytes:
    """Either token format: ``s…`` (subject key) or ``v…`` (field ring)."""
    if token.startswith("s"):
        return decrypt(token, associated_data=associated_data)
    return aead.decrypt(token, associated_data=associated_data)


# --- Which subject a row belongs to -------------------------------------------------------------------
# Filled by the PI inventory (``compliance.pi.registry`` declares each model's subject): model label
# (lower case) -> "self" or the foreign-key path to the data subject. Kept here so the crypto layer
# never imports the inventory (``crypto < pi``).
_SUBJECT_PATHS: dict[str, str] = {}


def declare_subject(label: str, path: str) -> None:
    """Record (or, with an empty ``path``, forget) whose data ``label``'s rows are."""
    if path:
        _SUBJECT_PATHS[label.lower()] = path
    else:
        _SUBJECT_PATHS.pop(label.lower(), None)


def subject_path(model: type[models.Model]) -> str:
    return _SUBJECT_PATHS.get(model._meta.label_lower, "")


def subject_model(model: type[models.Model]) -> type[models.Model] | None:
    """The model of ``model``'s data subject, from its PI declaration (None: no declaration)."""
    path = subject_path(model)
    if not path:
        return None
    if path == "self":
        return model
    current: Any = model
    for part in path.split("__"):
        field = current._meta.get_field(part)
        if not field.is_relation or field.related_model is None:
            return None
        current = field.related_model
    return current


def subject_of(instance: models.Model) -> SubjectRef | None:
    """The data subject ``instance`` belongs to, following its model's PI declaration.

    None when the model declares none or the path is empty on this row (e.g. an unsaved "self"
    row has no primary key yet: ``subject_rows`` re-encrypts it right after the insert)."""
    model = type(instance)
    path = subject_path(model)
    if not path:
        return None
    target = subject_model(model)
    if target is None:
        return None
    if path == "self":
        pk = instance.pk
    else:
        current: Any = instance
        parts = path.split("__")
        for part in parts[:-1]:
            current = getattr(current, part, None)
            if current is None:
                return None
        last = current._meta.get_field(parts[-1])
        pk = getattr(current, last.attname, None)
    if pk is None:
        return None
    return SubjectRef(target._meta.label_lower, str(pk))


def ref_for(subject: models.Model) -> SubjectRef:
    """The reference of a subject row itself (e.g. a user)."""
    return SubjectRef(subject._meta.label_lower, str(subject.pk))


# --- Shredding ------------------------------------------------------------------------------------------
def _user_ref(subject_id: Any, subject_type: str | None) -> SubjectRef:
    if subject_type is None:
        from django.conf import settings

        subject_type = settings.AUTH_USER_MODEL.lower()
    return SubjectRef(subject_type.lower(), str(subject_id))


# The audit trail records each destruction (``crypto < audit``: audit registers itself from ready()).
_on_destroyed: Any = None


def on_key_destroyed(recorder: Any) -> None:
    """Register ``recorder(key_id, ref, format_version)``, called in the shredding transaction."""
    global _on_destroyed  # noqa: PLW0603 - one recorder, set once at start-up
    _on_destroyed = recorder


def shred_subject_key(subject_id: Any, *, subject_type: str | None = None) -> bool:
    """Destroy the data key of subject ``subject_id`` (a user's primary key by default).

    Returns True when a live key was destroyed (or, with a separate key store, is scheduled to be
    destroyed when the caller's transaction commits), False when there was none or it was already
    destroyed (idempotent: a restore's ``reapply_erasures`` calls it for every erased subject).
    Records KEY_DESTROYED, naming the key and the subject's id only. Whatever must outlive the
    subject has to be re-encrypted first (``subject_rows.rekey_subject_rows``): after this, every
    ``s1:<id>:`` token of the subject is unreadable.

    Single-database mode: in the caller's transaction (or its own), with KEY_DESTROYED. Separate key
    store: the key store cannot join the main transaction, and destroying the key before the
    re-keyed rows are committed could lose them if the main transaction then rolled back; so the
    destruction runs after the commit of the main transaction (at once outside one), in its own
    key-store transaction, followed by KEY_DESTROYED in its own main-database transaction.
    """
    from compliance.crypto.models import SubjectKey

    ref = _user_ref(subject_id, subject_type)
    if separate_key_store():
        if _destruction_pending(ref):
            return False  # already scheduled by this transaction: as if destroyed (single-database mode)
        live = SubjectKey.objects.filter(
            subject_type=ref.subject_type, subject_id=ref.subject_id, destroyed_at__isnull=True
        ).exists()
        if not live:
            return False
        # robust: the main transaction (the erasure) has committed whatever happens here; a failed
        # destruction is logged and retried by destroy_keys_of_erased (the erasure ledger's task).
        transaction.on_commit(_Destruction(ref), using=DEFAULT_DB_ALIAS, robust=True)
        return True
    with transaction.atomic():
        row = _destroy_row(ref, using=DEFAULT_DB_ALIAS)
        if row is None:
            return False
        _record_destroyed(row, ref)  # KEY_DESTROYED in the audit trail, same transaction
        key_id = row.pk
        _cache.evict(key_id)
        transaction.on_commit(lambda: _cache.put(key_id, ref, _DESTROYED))
    return True


class _Destruction:
    """The on-commit destruction of one subject's key in a separate key store (``shred_subject_key``)."""

    def __init__(self, ref: SubjectRef) -> None:
        self.ref = ref

    def __call__(self) -> None:
        _destroy_in_key_store(self.ref)


def _destruction_pending(ref: SubjectRef) -> bool:
    """Whether the current main transaction will destroy ``ref``'s key when it commits.

    Read from the transaction's own on-commit callbacks, so a rollback (of the transaction or of
    the savepoint that scheduled it) forgets it with them."""
    if not separate_key_store():
        return False
    pending = connections[DEFAULT_DB_ALIAS].run_on_commit
    # Entries are (savepoint ids, callback, robust).
    return any(isinstance(entry[1], _Destruction) and entry[1].ref == ref for entry in pending)


def _destroy_in_key_store(ref: SubjectRef) -> bool:
    """Destroy ``ref``'s key in the key store now, then record KEY_DESTROYED. True if it was live."""
    row = _destroy_row(ref, using=key_store_alias())
    if row is None:
        return False
    _cache.evict(row.pk)
    _cache.put(row.pk, ref, _DESTROYED)
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        _record_destroyed(row, ref)  # KEY_DESTROYED in the audit trail
    return True


def _destroy_row(ref: SubjectRef, *, using: str) -> Any:
    """Empty the wrapped key and set ``destroyed_at`` under a row lock, in ``using``'s transaction
    (a savepoint inside the caller's): the destroyed row, or None when there was no live key."""
    from compliance.crypto.models import SubjectKey

    with transaction.atomic(using=using):
        row = (
            SubjectKey.objects.using(using)
            .select_for_update()
            .filter(subject_type=ref.subject_type, subject_id=ref.subject_id)
            .first()
        )
        if row is None or row.destroyed_at is not None:
            return None
        SubjectKey.objects.using(using).filter(pk=row.pk).update(wrapped_key="", destroyed_at=timezone.now())
    return row


def _record_destroyed(row: Any, ref: SubjectRef) -> None:
    if _on_destroyed is None:
        raise RuntimeError("No recorder of destroyed keys is registered (compliance's ready() does it).")
    _on_destroyed(row.pk, ref, row.version)


def live_subject_keys(subject_type: str, subject_ids: list[str]) -> list[str]:
    """Which of ``subject_ids`` (of ``subject_type``) still have a live key in the key store."""
    from compliance.crypto.models import SubjectKey

    return list(
        SubjectKey.objects.filter(
            subject_type=subject_type.lower(), subject_id__in=subject_ids, destroyed_at__isnull=True
        ).values_list("subject_id", flat=True)
    )


def subject_key_destroyed(subject_id: Any, *, subject_type: str | None = None) -> bool:
    from compliance.crypto.models import SubjectKey

    ref = _user_ref(subject_id, subject_type)
    return SubjectKey.objects.filter(
        subject_type=ref.subject_type, subject_id=ref.subject_id, destroyed_at__isnull=False
    ).exists()


on_provider_reset(clear_cache)  # subject keys were unwrapped by the forgotten provider's ring
