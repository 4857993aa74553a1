"""System checks for the field-encryption keys.

compliance.E109  the key provider cannot be built (missing or malformed keys)
compliance.E123  a model with encrypted fields declares no data subject (subject keys, docs/adr/0007)
compliance.E124  (deploy) no audit signing key: checkpoints cannot be signed (docs/adr/0006)
compliance.E125  (deploy) no separate subject-key store: the main database's backups would hold the
                 subject keys, so an erased subject stays readable from them (docs/adr/0007)
compliance.E126  (deploy) the key store is configured but the main database still holds subject keys
                 (run ``manage.py move_subject_keys``)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from kernel.db_router import KEYS


@register(Tags.security)
def check_field_keys(app_configs: Any, **kwargs: Any) -> list[Error]:
    from compliance.crypto.keys import get_key_provider

    try:
        get_key_provider()
    except ImproperlyConfigured as exc:
        return [Error(f"Field-encryption keys are not usable: {exc}", id="compliance.E109")]
    return []


@register(Tags.security)
def check_subject_declarations(app_configs: Any, **kwargs: Any) -> list[Error]:
    """compliance.E123: a model with encrypted (PI) fields must say whose data it is.

    Its ``@pi_model(subject=...)`` ("self" or the foreign-key path to the data subject) is what
    encrypts its columns under that subject's key and what erasure shreds; without it the values
    would stay under the shared field ring and survive the subject's erasure in every backup."""
    from django.apps import apps

    from compliance.crypto.fields import encrypted_fields
    from compliance.crypto.subject_keys import subject_model, subject_path

    errors: list[Error] = []
    for model in apps.get_models():
        if model._meta.proxy or not encrypted_fields(model, local=True):
            continue
        path = subject_path(model)  # declared through the PI inventory's @pi_model(subject=...)
        problem = ""
        if not path:
            problem = "declares no data subject"
        else:
            try:
                if subject_model(model) is None:
                    problem = f"declares the subject path {path!r}, which is not a chain of relations"
            except FieldDoesNotExist:
                problem = f"declares the subject path {path!r}, which names no field"
        if problem:
            errors.append(
                Error(
                    f"{model._meta.label} has encrypted fields but {problem}: its values cannot be encrypted "
                    "under the data subject's key nor shredded on erasure.",
                    hint='Add subject="self" or subject="<foreign key path to the subject>" to its @pi_model.',
                    obj=model,
                    id="compliance.E123",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def check_audit_signing_keys(app_configs: Any, **kwargs: Any) -> list[Error]:
    """compliance.E124 (``check --deploy``): no audit signing key, so checkpoints go unsigned.

    Production settings already refuse to start without one for the env and file providers
    (``require_field_keys``); this also covers the KMS provider, whose ring is unwrapped only here."""
    from compliance.crypto.keys import AUDIT_SIGNING, KeyProviderError, get_key_provider

    try:
        get_key_provider().ring(AUDIT_SIGNING)
    except (KeyProviderError, ImproperlyConfigured):
        return [
            Error(
                "No audit signing key is configured: audit checkpoints cannot be signed, so a consistent "
                "rewrite of the whole audit chain would go undetected (docs/adr/0006).",
                hint="Set AUDIT_SIGNING_KEYS (or AUDIT_SIGNING_KEYS_FILE), or add the 'audit_signing' ring.",
                id="compliance.E124",
            )
        ]
    return []


def _database_identity(alias: str) -> tuple[frozenset[tuple[str, str]], str]:
    """(host, port) pairs and database name of ``alias`` (a multi-host URL lists several pairs)."""
    config = settings.DATABASES[alias]
    hosts = str(config.get("HOST") or "").split(",")
    ports = str(config.get("PORT") or "").split(",")
    ports += [ports[-1]] * (len(hosts) - len(ports))
    pairs = frozenset((host.strip().lower(), port.strip() or "5432") for host, port in zip(hosts, ports, strict=False))
    return pairs, str(config.get("NAME") or "")


@register(Tags.security, deploy=True)
def check_subject_key_store(app_configs: Any, **kwargs: Any) -> list[Error]:
    """compliance.E125 (``check --deploy``): the subject keys must live in their own database.

    In the main database, every backup of it (weeks of pgBackRest/RDS retention) would hold each
    subject's wrapped key, and whoever holds such a backup and the field ring (KMS decrypt) could
    read a subject erased after it was taken (docs/adr/0007, the threat model)."""
    hint = (
        "Set SUBJECT_KEYS_DATABASE_URL to the key-store database (its own server, 1-day backups; "
        "deploy/terraform/keystore.tf), run `manage.py migrate --database keys` and `manage.py move_subject_keys`."
    )
    if KEYS not in settings.DATABASES:
        return [
            Error(
                "No separate subject-key store is configured: the main database's backups would hold the "
                "subject keys, so an erased subject stays readable from a backup taken before the erasure.",
                hint=hint,
                id="compliance.E125",
            )
        ]
    main, keys = _database_identity(DEFAULT_DB_ALIAS), _database_identity(KEYS)
    if main[1] == keys[1] and main[0] & keys[0]:
        return [
            Error(
                "SUBJECT_KEYS_DATABASE_URL names the main database itself: its backups would hold the subject keys.",
                hint=hint,
                id="compliance.E125",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_subject_keys_moved(app_configs: Any, **kwargs: Any) -> list[Error]:
    """compliance.E126 (``check --deploy``): with a key store configured, the main database must
    hold no subject key any more (they would stay in its backups, and the application, reading
    the key store only, could not decrypt what they encrypt)."""
    if KEYS not in settings.DATABASES:
        return []
    from compliance.crypto.models import SubjectKey

    try:
        left = SubjectKey.objects.using(DEFAULT_DB_ALIAS).exists()
    except DatabaseError:
        return []  # no database (or not migrated yet) to look at: nothing to move
    if not left:
        return []
    return [
        Error(
            "A subject-key store is configured, but the main database still holds subject keys.",
            hint="Run `manage.py move_subject_keys` (after `manage.py migrate --database keys`).",
            id="compliance.E126",
        )
    ]
