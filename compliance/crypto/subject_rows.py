"""Moving a subject's encrypted values between keys (docs/adr/0007): backfill, re-key, seal new rows.

- ``backfill_subject_keys`` (migration ``compliance.0020_subject_keys``, ``manage.py seal_subject_keys``):
  field-ring ``v…`` values of subject-owned rows under their subjects' keys.
- ``rekey_subject_rows`` (erasure, before ``shred_subject_key``): what is kept of a subject moves to
  the field ring (the hold key).
- ``connect_signals``: a row that is its own subject is sealed right after its INSERT.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.db.models import F, TextField
from django.db.models.functions import Cast

from compliance.crypto import aead
from compliance.crypto.fields import encrypted_fields
from compliance.crypto.subject_keys import (
    SealedToken,
    ShreddedValue,
    SubjectRef,
    encrypt,
    is_subject_token,
    subject_model,
    subject_of,
    subject_path,
)

_STORED = "_stored_token_"


def subject_models(subject_type: str | None = None, *, app_registry: Any = None) -> list[type[models.Model]]:
    """Models whose encrypted columns are under subject keys (of ``subject_type``, if given).

    ``app_registry``: a migration's historical ``apps`` (the data migration's backfill)."""
    from django.apps import apps

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
    path = subject_path(model)
    manager = model._base_manager
    if not path:  # subject_models() only returns declared models
        return manager.none()
    if path == "self":
        return manager.filter(pk=ref.subject_id)
    return manager.filter(**{f"{path}__pk": ref.subject_id})


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
    columns = encrypted_fields(model)
    rewritten = 0
    # The stored tokens come with each row, as text annotations (the fields would decrypt them).
    stored_tokens = {_STORED + c.attname: Cast(F(c.attname), output_field=TextField()) for c in columns}
    for row in queryset.select_for_update().annotate(**stored_tokens).order_by("pk").iterator(chunk_size=200):
        ref = None if to_hold else subject_of(row)
        values = {}
        for column in columns:
            stored = getattr(row, _STORED + column.attname)
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

    for model in subject_models():
        if subject_path(model) == "self":
            post_save.connect(_seal_new_row, sender=model, dispatch_uid=f"subject_keys.seal.{model._meta.label_lower}")
