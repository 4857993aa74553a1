"""Key rotation: re-encrypt every encrypted column (or recompute every blind index) under the
active key version, in small resumable batches.

Why this is safe to run on a live system:
- Each batch is its own short transaction: it locks at most ``batch_size`` rows (``SELECT … FOR
  UPDATE`` in primary-key order, so two writers never lock in opposite orders), rewrites them and
  moves the checkpoint in the same transaction. A crash loses at most the batch in flight, which
  rolls back whole; the next run continues after the last committed checkpoint.
- Only stale rows are touched: a batch selects rows whose raw column does not start with the
  active ``v<N>:`` prefix, so a resumed or repeated run never rewrites a row twice and ordinary
  writes (already under the active key) are left alone.
- Rewriting goes through the model fields (decrypt with any configured version, encrypt with the
  active one) and ``bulk_update``, which bypasses ``save()``: business timestamps do not move.
- Completion is decided from the raw column prefixes, not from counters; rows written under an
  older key by a process that had not yet loaded the new version are picked up by another pass.
- Retiring old versions is a separate step that re-checks the raw prefixes first: a version is
  only removed when no row needs it.
Every completed rotation and every retirement writes one KEY_ROTATED audit record with counts,
never key material or values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance.audit.services import ActorType, AuditAction, audit_record
from compliance.crypto import subject_keys
from compliance.crypto.aead import version_prefix
from compliance.crypto.fields import BlindIndexField, EncryptedField, blind_index_fields, encrypted_fields
from compliance.crypto.keys import BLIND_INDEX, FIELD, PURPOSES, KeyProvider, KeyProviderError, get_key_provider
from compliance.crypto.models import FieldKeyVersion, KeyRotationRun, SubjectKey
from kernel.db_router import key_store_alias
from kernel.types import Actor

MAX_PASSES = 3
Progress = Callable[[str, int, int], None]


class RotationError(Exception):
    pass


@dataclass(frozen=True)
class Target:
    """One model's columns that a rotation of ``purpose`` rewrites."""

    model: type[models.Model]
    columns: tuple[models.Field, ...]

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


def rotation_targets(purpose: str) -> list[Target]:
    targets = []
    for model in sorted(apps.get_models(), key=lambda m: m._meta.label_lower):
        if model._meta.proxy or not model._meta.managed:
            continue
        # Each column is rotated through the model whose table holds it (multi-table inheritance).
        columns = encrypted_fields(model, local=True) if purpose == FIELD else blind_index_fields(model, local=True)
        if columns:
            targets.append(Target(model, tuple(columns)))
    return targets


def _stale_q(columns: tuple[models.Field, ...], prefix: str) -> Q:
    condition = Q()
    for column in columns:
        lookup = "ciphertext_startswith" if isinstance(column, EncryptedField) else "startswith"
        stale = Q(**{f"{column.name}__isnull": False}) & ~Q(**{f"{column.name}__{lookup}": prefix})
        if isinstance(column, EncryptedField):
            # Values under a data subject's key (``s1:…``) do not use the field ring directly: their
            # subject keys are re-wrapped instead (``_rewrap_subject_keys``).
            stale &= ~Q(**{f"{column.name}__ciphertext_startswith": "s"})
        condition |= stale
    return condition


SUBJECT_KEYS_LABEL = "compliance.subjectkey.wrapped_key"


def _stale_subject_keys(prefix: str) -> QuerySet:
    return SubjectKey.objects.filter(destroyed_at__isnull=True).exclude(wrapped_key__startswith=prefix)


def _rewrap_subject_keys(prefix: str, batch_size: int) -> int:
    """Re-wrap live subject keys under the active field-key version, in short transactions."""
    done = 0
    while True:
        # The key store may be its own database (kernel.db_router): lock and rewrite there.
        with transaction.atomic(using=key_store_alias()):
            rows = list(_stale_subject_keys(prefix).select_for_update().order_by("pk")[:batch_size])
            for row in rows:
                ref = subject_keys.SubjectRef(row.subject_type, row.subject_id)
                key = subject_keys.decrypt_wrapped(row)
                SubjectKey.objects.filter(pk=row.pk).update(wrapped_key=subject_keys.wrap_key(ref, key))
        done += len(rows)
        if len(rows) < batch_size:
            return done


def stale_counts(purpose: str, version: int) -> dict[str, int]:
    """Rows per ``app.model.field`` whose raw value is not under ``version`` (NULLs excluded)."""
    prefix = version_prefix(version)
    counts = {}
    for target in rotation_targets(purpose):
        for column in target.columns:
            stale = target.model._base_manager.filter(_stale_q((column,), prefix)).count()
            counts[f"{target.label}.{column.name}"] = stale
    if purpose == FIELD:
        counts[SUBJECT_KEYS_LABEL] = _stale_subject_keys(prefix).count()
    return counts


def _audit_diff(run: KeyRotationRun, **extra: Any) -> dict[str, Any]:
    return {
        "purpose": run.purpose,
        "target_version": run.target_version,
        "rows_rewritten": run.rows_rewritten,
        "batches": run.batches,
        **extra,
    }


def key_versions_sync(*, actor: Actor | None = None, provider: KeyProvider | None = None) -> list[FieldKeyVersion]:
    """Mirror the provider's versions into the metadata table (no keys: numbers and states only)."""
    provider = provider or get_key_provider()
    now = timezone.now()
    rows = []
    with transaction.atomic():
        for purpose in PURPOSES:
            versions = provider.versions(purpose)
            active = provider.active_version(purpose)
            for version in versions:
                state = FieldKeyVersion.State.ACTIVE if version == active else FieldKeyVersion.State.DECRYPT_ONLY
                row, created = FieldKeyVersion.objects.select_for_update().get_or_create(
                    purpose=purpose, version=version, defaults={"state": state, "provider": provider.name}
                )
                if not created and row.state != state:
                    row.state = state
                    row.save(update_fields=["state"])
                rows.append(row)
            # Versions the provider no longer holds were retired outside (e.g. removed from the env).
            gone = FieldKeyVersion.objects.filter(purpose=purpose).exclude(version__in=versions)
            gone.exclude(state=FieldKeyVersion.State.RETIRED).update(
                state=FieldKeyVersion.State.RETIRED, retired_at=now
            )
    return rows


def key_rotation_start(*, actor: Actor | None = None, purpose: str, add_version: bool = True) -> KeyRotationRun:
    """Begin (or find the unfinished) rotation of ``purpose`` keys; adds a version unless told not to."""
    if purpose not in PURPOSES:
        raise RotationError(f"Unknown key purpose {purpose!r}.")
    provider = get_key_provider()
    unfinished = KeyRotationRun.objects.filter(purpose=purpose, state=KeyRotationRun.State.RUNNING).first()
    if unfinished is not None:
        if unfinished.target_version != provider.active_version(purpose):
            raise RotationError(
                f"An unfinished {purpose} rotation targets v{unfinished.target_version} but the active key is "
                f"v{provider.active_version(purpose)}: restore that key configuration and resume."
            )
        return unfinished
    previous = provider.active_version(purpose)
    # The provider writes its own storage (file/KMS) outside the database transaction: if the
    # run row below fails, the next start simply adds one more version.
    try:
        target = provider.add_version(purpose) if add_version else previous
    except KeyProviderError as exc:
        raise RotationError(str(exc)) from None
    with transaction.atomic():
        key_versions_sync(actor=actor, provider=provider)
        run = KeyRotationRun.objects.create(purpose=purpose, target_version=target)
        audit_record(
            action=AuditAction.KEY_ROTATED,
            actor=actor,
            actor_type=None if actor is not None else ActorType.SYSTEM,
            object_type="field_key",
            object_id=f"{purpose}:v{target}",
            change_diff={"stage": "started", "purpose": purpose, "from_version": previous, "target_version": target},
        )
    return run


def _rewrite(target: Target, rows: list[models.Model], purpose: str) -> None:
    names = [column.name for column in target.columns]
    if purpose == BLIND_INDEX:
        for row in rows:
            for column in target.columns:
                if isinstance(column, BlindIndexField):
                    setattr(row, column.attname, column.compute(row))
    # For field keys the attributes already hold the decrypted values: saving them re-encrypts
    # under the active version.
    target.model._base_manager.bulk_update(rows, names)


def _load_columns(target: Target, purpose: str) -> list[str]:
    names = [column.name for column in target.columns]
    if purpose == BLIND_INDEX:
        names += [column.source_field for column in target.columns]  # type: ignore[attr-defined]
    return sorted(set(names))


def _rewrite_next_batch(*, run: KeyRotationRun, target: Target, stale_q: Q, batch_size: int) -> int:
    """Lock, rewrite and checkpoint the next batch of stale rows in one short transaction."""
    with transaction.atomic():
        queryset = target.model._base_manager.filter(stale_q).order_by("pk")
        last_pk = run.checkpoint.get(target.label)
        if last_pk is not None:
            queryset = queryset.filter(pk__gt=last_pk)
        rows = list(queryset.only(*_load_columns(target, run.purpose)).select_for_update(of=("self",))[:batch_size])
        if rows:
            _rewrite(target, rows, run.purpose)
            run.checkpoint[target.label] = rows[-1].pk
            run.rows_rewritten += len(rows)
            run.batches += 1
        else:
            run.models_done.append(target.label)
        run.save(update_fields=["checkpoint", "models_done", "rows_rewritten", "batches", "updated_at"])
    return len(rows)


def key_rotation_run(
    *,
    actor: Actor | None = None,
    run: KeyRotationRun,
    batch_size: int = 500,
    max_batches: int | None = None,
    pause_seconds: float = 0.0,
    progress: Progress | None = None,
) -> KeyRotationRun:
    """Advance ``run`` batch by batch; returns when complete or after ``max_batches`` batches."""
    provider = get_key_provider()
    purpose = run.purpose
    if provider.active_version(purpose) != run.target_version:
        raise RotationError(
            f"The active {purpose} key is v{provider.active_version(purpose)}, the run targets v{run.target_version}."
        )
    prefix = version_prefix(run.target_version)
    batches_this_call = 0
    for _pass in range(MAX_PASSES):
        for target in rotation_targets(purpose):
            if target.label in run.models_done:
                continue
            stale_q = _stale_q(target.columns, prefix)
            remaining = target.model._base_manager.filter(stale_q).count()
            done_in_model = 0
            while max_batches is None or batches_this_call < max_batches:
                rewritten = _rewrite_next_batch(run=run, target=target, stale_q=stale_q, batch_size=batch_size)
                if not rewritten:
                    break
                batches_this_call += 1
                done_in_model += rewritten
                if progress is not None:
                    progress(target.label, done_in_model, max(remaining, done_in_model))
                if pause_seconds:
                    time.sleep(pause_seconds)
            else:
                return run  # the batch limit: resumable from the checkpoint
        if purpose == FIELD:
            run.rows_rewritten += _rewrap_subject_keys(prefix, batch_size)
        # Decide completion from the raw prefixes: a process still on the old key may have written
        # rows behind the checkpoint, and those need another pass.
        if not any(stale_counts(purpose, run.target_version).values()):
            return _complete(actor=actor, run=run)
        run.checkpoint, run.models_done = {}, []
        run.save(update_fields=["checkpoint", "models_done", "updated_at"])
    raise RotationError(
        f"Rows under older {purpose} keys keep appearing after {MAX_PASSES} passes: restart every app process "
        "so all of them encrypt with the new version, then resume."
    )


def _complete(*, actor: Actor | None, run: KeyRotationRun) -> KeyRotationRun:
    now = timezone.now()
    with transaction.atomic():
        run = KeyRotationRun.objects.select_for_update().get(pk=run.pk)
        if run.state == KeyRotationRun.State.COMPLETED:
            return run
        run.state = KeyRotationRun.State.COMPLETED
        run.finished_at = now
        run.save(update_fields=["state", "finished_at", "updated_at"])
        key_versions_sync(actor=actor)
        FieldKeyVersion.objects.filter(purpose=run.purpose, version=run.target_version).update(rotated_at=now)
        audit_record(
            action=AuditAction.KEY_ROTATED,
            actor=actor,
            actor_type=None if actor is not None else ActorType.SYSTEM,
            object_type="field_key",
            object_id=f"{run.purpose}:v{run.target_version}",
            change_diff=_audit_diff(run, stage="reencrypted", models=len(run.models_done)),
        )
    return run


def key_versions_retire(*, actor: Actor | None = None, purpose: str) -> list[int]:
    """Remove every non-active version of ``purpose`` from the provider, once no row needs one."""
    provider = get_key_provider()
    if KeyRotationRun.objects.filter(purpose=purpose, state=KeyRotationRun.State.RUNNING).exists():
        raise RotationError(f"A {purpose} rotation is unfinished: resume it before retiring old keys.")
    active = provider.active_version(purpose)
    stale = {column: count for column, count in stale_counts(purpose, active).items() if count}
    if stale:
        summary = ", ".join(f"{column}: {count}" for column, count in sorted(stale.items()))
        raise RotationError(f"Rows still need older {purpose} keys ({summary}); run the rotation first.")
    retired = [version for version in provider.versions(purpose) if version != active]
    for version in retired:
        try:
            provider.retire_version(purpose, version)
        except KeyProviderError as exc:
            raise RotationError(str(exc)) from None
    with transaction.atomic():
        key_versions_sync(actor=actor, provider=provider)
        if retired:
            audit_record(
                action=AuditAction.KEY_ROTATED,
                actor=actor,
                actor_type=None if actor is not None else ActorType.SYSTEM,
                object_type="field_key",
                object_id=f"{purpose}:v{active}",
                change_diff={"stage": "retired", "purpose": purpose, "active_version": active, "retired": retired},
            )
    return retired


def key_version_status() -> list[dict[str, Any]]:
    """Per purpose and version: state and since when it has been in service (secret-rotation checks).

    ``in_service_since`` is when the rotation to that version completed (``rotated_at``), or its
    creation for a version no rotation has completed for yet.
    """
    return [
        {
            "purpose": row.purpose,
            "version": row.version,
            "state": row.state,
            "provider": row.provider,
            "created_at": row.created_at,
            "rotated_at": row.rotated_at,
            "retired_at": row.retired_at,
            "in_service_since": row.rotated_at or row.created_at,
        }
        for row in FieldKeyVersion.objects.order_by("purpose", "-version")
    ]
