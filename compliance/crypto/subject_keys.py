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

Invariants:
- A key is created lazily, the first time PI of its subject is encrypted, in the caller's
  transaction (a rollback leaves no key and no token under it); it is cached only once committed.
- A destroyed key never comes back: ``destroyed_at`` is set and ``wrapped_key`` emptied in one
  UPDATE; encryption for a subject whose key is destroyed falls back to the field ring (what is
  still written about an erased subject is retained or pseudonymous data).
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
from django.db import models, transaction
from django.utils import timezone

from compliance.crypto import aead
from compliance.crypto.keys import KEY_BYTES, KeyProvider, generate_key

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
        raise aead.FieldDecryptionError(f"Subject key {key_id} does not exist (restored without its key table?).")
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
    """The subject's live key (created if it has none); None when its key was destroyed."""
    cached = _cache.for_subject(ref)
    if cached is not None:
        return None if cached[1] is _DESTROYED else cached
    from compliance.crypto.models import SubjectKey

    row = SubjectKey.objects.filter(subject_type=ref.subject_type, subject_id=ref.subject_id).first()
    fresh = row is None
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
def subject_model(model: type[models.Model]) -> type[models.Model] | None:
    """The model of ``model``'s data subject, from its PI declaration (None: no declaration)."""
    from compliance.pi.registry import registry

    entry = registry.get(model)
    if entry is None or not entry.subject:
        return None
    if entry.subject == "self":
        return model
    current: Any = model
    for part in entry.subject.split("__"):
        field = current._meta.get_field(part)
        if not field.is_relation or field.related_model is None:
            return None
        current = field.related_model
    return current


def subject_of(instance: models.Model) -> SubjectRef | None:
    """The data subject ``instance`` belongs to, following its model's PI declaration.

    None when the model declares none or the path is empty on this row (e.g. an unsaved "self"
    row has no primary key yet: ``seal_new_row`` re-encrypts it right after the insert)."""
    model = type(instance)
    from compliance.pi.registry import registry

    entry = registry.get(model)
    if entry is None or not entry.subject:
        return None
    target = subject_model(model)
    if target is None:
        return None
    if entry.subject == "self":
        pk = instance.pk
    else:
        current: Any = instance
        parts = entry.subject.split("__")
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


def shred_subject_key(subject_id: Any, *, subject_type: str | None = None) -> bool:
    """Destroy the data key of subject ``subject_id`` (a user's primary key by default).

    Returns True when a live key was destroyed, False when there was none or it was already
    destroyed (idempotent: a restore's ``reapply_erasures`` calls it for every erased subject).
    Runs in the caller's transaction (or its own); records KEY_DESTROYED, naming the key and the
    subject's id only. Whatever must outlive the subject has to be re-encrypted first
    (``rekey_subject_rows``): after this, every ``s1:<id>:`` token of the subject is unreadable.
    """
    from compliance.audit.services import ActorType, AuditAction, audit_record
    from compliance.crypto.models import SubjectKey

    ref = _user_ref(subject_id, subject_type)
    with transaction.atomic():
        row = (
            SubjectKey.objects.select_for_update()
            .filter(subject_type=ref.subject_type, subject_id=ref.subject_id)
            .first()
        )
        if row is None or row.destroyed_at is not None:
            return False
        now = timezone.now()
        SubjectKey.objects.filter(pk=row.pk).update(wrapped_key="", destroyed_at=now)
        audit_record(
            action=AuditAction.KEY_DESTROYED,
            actor=None,
            actor_type=ActorType.SYSTEM,
            object_type="compliance.SubjectKey",
            object_id=str(row.pk),
            change_diff={"subject_type": ref.subject_type, "subject": ref.subject_id, "format": row.version},
        )
        key_id = row.pk
        _cache.evict(key_id)
        transaction.on_commit(lambda: _cache.put(key_id, ref, _DESTROYED))
    return True


def subject_key_destroyed(subject_id: Any, *, subject_type: str | None = None) -> bool:
    from compliance.crypto.models import SubjectKey

    ref = _user_ref(subject_id, subject_type)
    return SubjectKey.objects.filter(
        subject_type=ref.subject_type, subject_id=ref.subject_id, destroyed_at__isnull=False
    ).exists()


# --- Moving rows between keys -------------------------------------------------------------------------
def subject_models(subject_type: str | None = None, *, app_registry: Any = None) -> list[type[models.Model]]:
    """Models whose encrypted columns are under subject keys (of ``subject_type``, if given).

    ``app_registry``: a migration's historical ``apps`` (the data migration's backfill)."""
    from django.apps import apps

    from compliance.crypto.fields import encrypted_fields

    found = []
    for model in (app_registry or apps).get_models():
        if model._meta.proxy or not encrypted_fields(model):
            continue
        target = subject_model(model)
        if target is None:
            continue
        if subject_type is None or target._meta.label_lower == subject_type:
            found.append(model)
    return sorted(found, key=lambda m: m._meta.label_lower)


def _rows_of(model: type[models.Model], ref: SubjectRef) -> models.QuerySet:
    from compliance.pi.registry import registry

    entry = registry.get(model)
    manager = model._base_manager
    if entry is None:  # subject_models() only returns declared models
        return manager.none()
    if entry.subject == "self":
        return manager.filter(pk=ref.subject_id)
    return manager.filter(**{f"{entry.subject}__pk": ref.subject_id})


def seal_rows(
    model: type[models.Model], queryset: models.QuerySet, *, to_hold: bool = False, only_prefix: str = ""
) -> int:
    """Re-encrypt the encrypted columns of ``queryset``'s rows, row by row, without ``save()``.

    ``to_hold=False``: under each row's subject key (the backfill; field-ring ``v`` tokens become
    ``s`` tokens). ``to_hold=True``: under the field ring (the *hold key*), so what erasure keeps
    stays readable after the subject key is shredded. ``only_prefix`` limits the rewrite to
    columns whose stored token starts with it. Blind indexes do not change (same plaintext).
    Returns the number of columns rewritten.
    """
    from compliance.crypto.fields import encrypted_fields

    columns = encrypted_fields(model)
    rewritten = 0
    for row in queryset.select_for_update().order_by("pk").iterator(chunk_size=200):
        raw = _raw_columns(model, row.pk, columns)
        ref = None if to_hold else subject_of(row)
        values = {}
        for column in columns:
            stored = raw[column.attname]
            value = getattr(row, column.attname)
            if stored is None or isinstance(value, ShreddedValue):
                continue
            if only_prefix and not stored.startswith(only_prefix):
                continue
            if to_hold and not is_subject_token(stored):
                continue
            if not to_hold and (ref is None or is_subject_token(stored)):
                continue
            plaintext = column.encode(value)
            if to_hold or ref is None:
                token = aead.encrypt(plaintext, associated_data=column.associated_data)
            else:
                token = encrypt(ref, plaintext, associated_data=column.associated_data)
            values[column.attname] = SealedToken(token)
        if values:
            model._base_manager.filter(pk=row.pk).update(**values)
            rewritten += len(values)
    return rewritten


def _raw_columns(model: type[models.Model], pk: Any, columns: list[Any]) -> dict[str, str | None]:
    """The stored tokens of one row (the ORM would decrypt them)."""
    from django.db import connections, router

    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    names = ", ".join(quote(c.column) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            # Identifiers come from the model's meta and are quoted; the key is a parameter.
            f"SELECT {names} FROM {quote(model._meta.db_table)} WHERE {quote(model._meta.pk.column)} = %s",  # noqa: S608
            [pk],
        )
        found = cursor.fetchone()
    return {c.attname: value for c, value in zip(columns, found or [None] * len(columns), strict=True)}


def rekey_subject_rows(ref: SubjectRef) -> int:
    """Before shredding: move every value of the subject still in the database (what erasure kept:
    retained, held or pseudonymised rows) from the subject key to the field ring (the hold key)."""
    total = 0
    for model in subject_models(ref.subject_type):
        total += seal_rows(model, _rows_of(model, ref), to_hold=True)
    return total


def backfill_subject_keys(
    model: type[models.Model] | None = None, *, batch_size: int = 500, app_registry: Any = None
) -> dict[str, int]:
    """Re-encrypt field-ring (``v…``) values of subject-owned rows under their subjects' keys.

    Idempotent and resumable (a row already under its subject key is skipped); rows of a subject
    whose key was destroyed stay under the field ring. Returns columns rewritten per model."""
    from compliance.crypto.fields import encrypted_fields

    done: dict[str, int] = {}
    for target in [model] if model is not None else subject_models(app_registry=app_registry):
        columns = encrypted_fields(target)
        stale = models.Q()
        for column in columns:
            stale |= models.Q(**{f"{column.name}__ciphertext_startswith": "v"})
        count = 0
        last = None
        while True:
            with transaction.atomic():
                queryset = target._base_manager.filter(stale).order_by("pk")
                if last is not None:
                    queryset = queryset.filter(pk__gt=last)
                pks = list(queryset.values_list("pk", flat=True)[:batch_size])
                if not pks:
                    break
                count += seal_rows(target, target._base_manager.filter(pk__in=pks))
                last = pks[-1]
        done[target._meta.label_lower] = count
    return done


def _seal_new_row(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **_: Any
) -> None:
    # A "self" subject has no primary key until it is inserted: its first values went under the
    # field ring; now that it has one, move them under its own key (same transaction).
    if created and not raw:
        with transaction.atomic():
            seal_rows(sender, sender._base_manager.filter(pk=instance.pk))


def connect_signals() -> None:
    """Seal new rows of models that are their own data subject (called from the app's ready())."""
    from django.db.models.signals import post_save

    from compliance.pi.registry import registry

    for model in subject_models():
        entry = registry.get(model)
        if entry is not None and entry.subject == "self":
            post_save.connect(_seal_new_row, sender=model, dispatch_uid=f"subject_keys.seal.{model._meta.label_lower}")
