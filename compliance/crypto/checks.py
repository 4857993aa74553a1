"""System checks for the field-encryption keys.

compliance.E109  the key provider cannot be built (missing or malformed keys)
compliance.E123  a model with encrypted fields declares no data subject (subject keys, docs/adr/0007)
compliance.E124  (deploy) no audit signing key: checkpoints cannot be signed (docs/adr/0006)
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured


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
