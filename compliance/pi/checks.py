"""System checks for the PI inventory and the field-encryption keys (errors, not warnings).

compliance.E101  a concrete field of a PI-holding model is neither annotated nor listed in not_pi
compliance.E102  an annotation names an unknown processing purpose
compliance.E103  an annotation names an unknown retention policy
compliance.E104  an annotation or not_pi entry names no field of the model
compliance.E105  a field annotated sensitive is not encrypted
compliance.E106  a field is both annotated and listed in not_pi
compliance.E107  a model has encrypted fields or blind indexes but is not registered as holding PI
compliance.E108  an annotation has no purpose
compliance.E109  the key provider cannot be built (missing or malformed keys)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.core.checks import Error, register
from django.db import models

from compliance.pi.registry import ModelEntry, registry
from compliance.pi.vocabulary import PURPOSES, RETENTION_POLICIES


def _accountable_fields(model: type[models.Model]) -> list[models.Field]:
    """Fields that must be annotated or declared not PI: concrete ones and forward many-to-many."""
    from compliance.crypto.fields import BlindIndexField

    result = []
    for model_field in [*model._meta.concrete_fields, *model._meta.many_to_many]:
        # The implicit `id` and multi-table `*_ptr` links are Django's, not data we chose to collect.
        if model_field.auto_created:
            continue
        # A blind index inherits its source's annotation (see ModelEntry.annotations).
        if isinstance(model_field, BlindIndexField):
            continue
        result.append(model_field)
    return result


def check_entry(entry: ModelEntry) -> list[Error]:
    errors: list[Error] = []
    model = entry.model
    label = model._meta.label
    declared = set(entry.fields)
    for model_field in _accountable_fields(model):
        name = model_field.name
        if name not in declared and name not in entry.not_pi:
            errors.append(
                Error(
                    f"{label}.{name} is not annotated: declare it as PI (category, purposes, lawful basis, "
                    "retention) or list it in not_pi.",
                    hint="Data minimisation (POPIA s10): collect nothing without a declared purpose.",
                    obj=model,
                    id="compliance.E101",
                )
            )
    all_names = {f.name for f in model._meta.get_fields() if not f.auto_created or f.concrete}
    for name in sorted((declared | entry.not_pi) - all_names):
        errors.append(Error(f"{label} declares '{name}', which is not a field.", obj=model, id="compliance.E104"))
    for name in sorted(declared & entry.not_pi):
        errors.append(
            Error(f"{label}.{name} is both annotated as PI and listed in not_pi.", obj=model, id="compliance.E106")
        )
    from compliance.crypto.fields import EncryptedField

    for name, annotation in sorted(entry.fields.items()):
        if not annotation.purposes:
            errors.append(Error(f"{label}.{name} names no processing purpose.", obj=model, id="compliance.E108"))
        for purpose in annotation.purposes:
            if purpose not in PURPOSES:
                errors.append(
                    Error(
                        f"{label}.{name} names the unknown purpose '{purpose}'.",
                        hint=f"Known purposes: {', '.join(sorted(PURPOSES))}.",
                        obj=model,
                        id="compliance.E102",
                    )
                )
        if annotation.retention not in RETENTION_POLICIES:
            errors.append(
                Error(
                    f"{label}.{name} names the unknown retention policy '{annotation.retention}'.",
                    hint=f"Known policies: {', '.join(sorted(RETENTION_POLICIES))}.",
                    obj=model,
                    id="compliance.E103",
                )
            )
        if annotation.sensitive and name in all_names:
            declared_field = model._meta.get_field(name)  # any kind of field (m2m, relation), not only concrete ones
            if not isinstance(declared_field, EncryptedField):
                errors.append(
                    Error(
                        f"{label}.{name} is annotated sensitive but is stored in clear.",
                        hint="Use an Encrypted*Field from compliance.crypto.fields.",
                        obj=model,
                        id="compliance.E105",
                    )
                )
    return errors


def check_unregistered_encrypted_models(model_list: Iterable[type[models.Model]]) -> list[Error]:
    from compliance.crypto.fields import BlindIndexField, EncryptedField

    errors = []
    for model in model_list:
        if registry.is_registered(model):
            continue
        if any(isinstance(f, EncryptedField | BlindIndexField) for f in model._meta.concrete_fields):
            errors.append(
                Error(
                    f"{model._meta.label} stores encrypted personal information but is not in the PI inventory.",
                    hint="Decorate it with @compliance.pi.registry.pi_model(...).",
                    obj=model,
                    id="compliance.E107",
                )
            )
    return errors


@register("compliance")
def check_pi_inventory(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    for entry in registry:
        try:
            entry.model  # noqa: B018 - resolves the label
        except LookupError:
            errors.append(Error(f"The PI registry names an unknown model '{entry.label}'.", id="compliance.E104"))
            continue
        if app_configs is not None and entry.model._meta.app_config not in app_configs:
            continue
        errors.extend(check_entry(entry))
    model_list = apps.get_models() if app_configs is None else [m for ac in app_configs for m in ac.get_models()]
    errors.extend(check_unregistered_encrypted_models(model_list))
    return errors
