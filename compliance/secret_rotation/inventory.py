"""Secret inventory and the daily rotation check (SPEC C8).

Every secret and key the platform relies on has a row (``SecretRotation``): when it was last
rotated and how old it may get (30 days by default). The daily check (``secrets_check``):
1. syncs the inventory: field-encryption and blind-index key versions from the key metadata
   (``key_version_status``), secrets other apps own through ``register_secret_source`` (the JWT
   signing keys), and the externally held ones (Django SECRET_KEY, database, Redis, audit-archive
   S3 credentials), whose rotation date comes from Secrets Manager when the secret is kept there
   (``SECRETS_INVENTORY_SM_NAMES``) or is recorded by an operator in the admin;
2. for every overdue secret raises exactly one alert per run: one structured log line (ERROR if it
   is still overdue afterwards, WARNING if the check rotated it), one increment of
   ``fintech_secret_rotation_alerts_total``, one SECRET_ROTATION_OVERDUE audit record; the
   ``fintech_secrets_overdue`` gauge and the admin banner read the rows' alert state;
3. rotates what the platform owns: JWT signing keys (a new kid; the old key verifies for its
   grace window) and field/blind-index keys held in a file or KMS key ring (a new version and a
   re-encryption run, continued by a task). Keys from the environment are only alerted on:
   the platform cannot change its own environment.
Invariants: no secret value is read into this module except through the provider's ``describe``
(dates only); log lines, audit records and metrics carry names and dates, never values; a
failed rotation is an alert with its exception class, never a crash of the whole check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter

from compliance.audit.services import ActorType, AuditAction, audit_record
from compliance.secret_rotation.models import AlertState, SecretKind, SecretRotation
from kernel.tasks import enqueue_on_commit
from kernel.types import Actor

logger = logging.getLogger(__name__)

ALERTS = Counter(
    "fintech_secret_rotation_alerts",
    "Alerts raised by the daily secret-rotation check (one per overdue secret per run).",
    ["kind"],
)


@dataclass(frozen=True)
class SecretSource:
    name: str
    kind: str
    owner: str
    provider: str = ""
    # When the secret was last rotated, as the platform knows it (None: unknown / not derivable).
    rotated_at: Callable[[], datetime | None] | None = None
    # Rotates it; returns a short outcome (no secret values). None: the platform cannot.
    rotate: Callable[..., str] | None = None


_SOURCES: dict[str, SecretSource] = {}


def register_secret_source(
    name: str,
    *,
    kind: str,
    owner: str,
    provider: str = "",
    rotated_at: Callable[[], datetime | None] | None = None,
    rotate: Callable[..., str] | None = None,
) -> None:
    """Other apps declare the secrets they own (accounts: the JWT signing keys) in ``ready()``."""
    _SOURCES[name] = SecretSource(name, kind, owner, provider, rotated_at, rotate)


def _active_key_in_service_since(purpose: str) -> datetime | None:
    from compliance.secret_rotation.rotation import key_version_status

    # Re-read on every call: after a rotation the active version (and its date) has changed.
    for status in key_version_status():
        if status["purpose"] == purpose and status["state"] == "active":
            return status["in_service_since"]
    return None


def _field_key_sources() -> Iterator[SecretSource]:
    from compliance.crypto.keys import get_key_provider
    from compliance.secret_rotation.rotation import key_rotation_start, key_version_status, key_versions_sync

    key_versions_sync()  # the metadata mirrors the provider (numbers and dates, never keys)
    provider_name = get_key_provider().name
    kinds = {"field": SecretKind.FIELD_KEY, "blind_index": SecretKind.BLIND_INDEX_KEY}
    for status in key_version_status():
        if status["state"] != "active":
            continue
        purpose = status["purpose"]

        def rotate(*, actor: Actor | None = None, purpose: str = purpose) -> str:
            run = key_rotation_start(actor=actor, purpose=purpose)

            enqueue_on_commit("compliance.crypto.continue_key_rotation", run.pk)
            return f"new version v{run.target_version}; re-encryption started"

        yield SecretSource(
            name=f"{purpose.replace('_', '-')}-key",
            kind=kinds.get(purpose, SecretKind.OTHER),
            owner="platform",
            provider=provider_name,
            rotated_at=partial(_active_key_in_service_since, purpose),
            # Keys from the environment cannot be changed by the platform: alert only.
            rotate=None if provider_name == "env" else rotate,
        )


def _audit_signing_sources() -> Iterator[SecretSource]:
    """The audit checkpoint-signing key (compliance.audit.transparency), when a ring is configured."""
    from compliance.audit.transparency import signing_key_rotate, signing_key_rotated_at
    from compliance.crypto.keys import AUDIT_SIGNING, KeyProviderError, get_key_provider

    provider = get_key_provider()
    try:
        provider.ring(AUDIT_SIGNING)
    except KeyProviderError:
        return
    yield SecretSource(
        name="audit-signing-key",
        kind=SecretKind.OTHER,
        owner="platform",
        provider=provider.name,
        rotated_at=signing_key_rotated_at,
        # Keys from the environment cannot be changed by the platform: alert only.
        rotate=None if provider.name == "env" else signing_key_rotate,
    )


def _sm_rotated_at(name: str) -> Callable[[], datetime | None] | None:
    """Read the rotation date from the secrets provider when this secret is kept there."""
    secret_name = settings.SECRETS_INVENTORY_SM_NAMES.get(name)
    if not secret_name:
        return None

    def rotated_at() -> datetime | None:
        from compliance.secret_rotation.providers import SecretNotFound, get_secrets_provider

        try:
            return get_secrets_provider().describe(secret_name).rotated_at
        except SecretNotFound:
            return None

    return rotated_at


def _external_sources() -> Iterator[SecretSource]:
    provider = settings.SECRETS_PROVIDER.get("KIND", "file")

    def external(name: str, kind: str) -> SecretSource:
        rotated_at = _sm_rotated_at(name)
        return SecretSource(name, kind, "operator", provider if rotated_at else "environment", rotated_at)

    yield external("django-secret-key", SecretKind.DJANGO_SECRET_KEY)
    yield external("database-credentials", SecretKind.DATABASE)
    if settings.REDIS_URL:
        yield external("redis-credentials", SecretKind.REDIS)
    if settings.AUDIT_ARCHIVE_BACKEND == "s3":
        yield external("audit-archive-s3-credentials", SecretKind.OBJECT_STORAGE)


def secret_sources() -> list[SecretSource]:
    sources = {s.name: s for s in (*_field_key_sources(), *_audit_signing_sources(), *_external_sources())}
    sources.update(_SOURCES)
    return [sources[name] for name in sorted(sources)]


def secrets_sync() -> list[tuple[SecretRotation, SecretSource]]:
    """Create or refresh one row per known secret (dates only; rows are never deleted here)."""
    synced = []
    for source in secret_sources():
        rotated_at = source.rotated_at() if source.rotated_at else None
        with transaction.atomic():
            row, _created = SecretRotation.objects.select_for_update().get_or_create(
                name=source.name, defaults={"kind": source.kind, "owner": source.owner}
            )
            row.kind, row.owner, row.provider = source.kind, source.owner, source.provider
            row.platform_rotates = source.rotate is not None
            fields = ["kind", "owner", "provider", "platform_rotates", "updated_at"]
            # A derivable date is authoritative (None: unknown, hence overdue); a secret without
            # one keeps what an operator recorded.
            if source.rotated_at is not None and rotated_at != row.rotated_at:
                row.rotated_at = rotated_at
                fields.append("rotated_at")
            row.save(update_fields=fields)
        synced.append((row, source))
    return synced


@dataclass
class SecretCheckResult:
    checked: int = 0
    alerts: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)
    still_overdue: list[str] = field(default_factory=list)


def _rotate(row: SecretRotation, source: SecretSource, actor: Actor | None) -> tuple[str, bool]:
    try:
        outcome = source.rotate(actor=actor)  # type: ignore[misc]
    except Exception as exc:
        logger.exception("secret rotation failed", extra={"secret": row.name, "error": type(exc).__name__})
        return f"rotation failed ({type(exc).__name__})", False
    rotated_at = source.rotated_at() if source.rotated_at else None
    row.rotated_at = rotated_at or timezone.now()
    return outcome, True


def secrets_check(*, actor: Actor | None = None, rotate: bool = True) -> SecretCheckResult:
    """The daily check: one alert per overdue secret, rotation of what the platform owns."""
    result = SecretCheckResult()
    for row, source in secrets_sync():
        result.checked += 1
        now = timezone.now()
        if not row.is_overdue(now):
            SecretRotation.objects.filter(pk=row.pk).update(
                alert_state=AlertState.OK, overdue_since=None, last_checked_at=now
            )
            continue
        previous_rotation = row.rotated_at
        outcome, rotated = "alert only: rotate it and record the rotation", False
        if rotate and source.rotate is not None:
            outcome, rotated = _rotate(row, source, actor)
        still_overdue = row.is_overdue(timezone.now())
        with transaction.atomic():
            locked = SecretRotation.objects.select_for_update().get(pk=row.pk)
            locked.rotated_at = row.rotated_at
            locked.alert_state = AlertState.OVERDUE if still_overdue else AlertState.OK
            locked.overdue_since = (locked.overdue_since or now) if still_overdue else None
            locked.last_checked_at = now
            locked.last_alerted_at = now
            locked.last_outcome = outcome[:200]
            locked.save(
                update_fields=[
                    "rotated_at",
                    "alert_state",
                    "overdue_since",
                    "last_checked_at",
                    "last_alerted_at",
                    "last_outcome",
                    "updated_at",
                ]
            )
            audit_record(
                action=AuditAction.SECRET_ROTATION_OVERDUE,
                actor=actor,
                actor_type=None if actor is not None else ActorType.SYSTEM,
                object_type="secret",
                object_id=row.name,
                change_diff={
                    "kind": row.kind,
                    "max_age_days": row.max_age_days,
                    "last_rotated_at": previous_rotation.isoformat() if previous_rotation else None,
                    "rotated_now": rotated,
                    "still_overdue": still_overdue,
                    "outcome": outcome[:200],
                },
            )
        ALERTS.labels(kind=row.kind).inc()
        log = logger.error if still_overdue else logger.warning
        log(
            "secret overdue for rotation",
            extra={
                "secret": row.name,
                "kind": row.kind,
                "last_rotated_at": previous_rotation.isoformat() if previous_rotation else None,
                "max_age_days": row.max_age_days,
                "outcome": outcome,
            },
        )
        result.alerts.append(row.name)
        if rotated:
            result.rotated.append(row.name)
        if still_overdue:
            result.still_overdue.append(row.name)
    return result


def secret_rotation_record(*, actor: Actor, secret: SecretRotation) -> SecretRotation:
    """An operator records that an externally held secret was rotated just now."""
    now = timezone.now()
    with transaction.atomic():
        locked = SecretRotation.objects.select_for_update().get(pk=secret.pk)
        previous = locked.rotated_at
        locked.rotated_at = now
        locked.alert_state = AlertState.OK
        locked.overdue_since = None
        locked.save(update_fields=["rotated_at", "alert_state", "overdue_since", "updated_at"])
        audit_record(
            action=AuditAction.KEY_ROTATED,
            actor=actor,
            object_type="secret",
            object_id=locked.name,
            change_diff={
                "stage": "recorded",
                "kind": locked.kind,
                "previous_rotation": previous and previous.isoformat(),
            },
        )
    return locked
