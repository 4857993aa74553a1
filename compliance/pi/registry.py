"""The personal-information inventory: what we hold, why, on what lawful basis, for how long.

Every model that holds personal information is declared once, beside its fields::

    @pi_model(
        subject="self",
        fields={
            "id_number": PI(Category.IDENTITY, purposes=["kyc"], lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
                            retention="fica_customer_due_diligence", erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY),
        },
        not_pi=["created_at", "is_active"],
    )
    class Customer(models.Model): ...

Fields that share most of their annotation declare the shared part once, typed, with
``functools.partial`` (mypy checks the arguments of both calls)::

    _FICA_CDD = partial(PI, purposes=["kyc"], lawful_basis=LawfulBasis.LEGAL_OBLIGATION, retention=...)
    fields={"date_of_birth": _FICA_CDD(Category.IDENTITY, sensitive=True), ...}

Models that are not ours (third-party apps) are declared the same way from an ``AppConfig.ready``
with ``register_pi_model("app_label.Model", fields=..., not_pi=...)``.

Invariants (enforced by the system checks in compliance/pi/checks.py):
- On a registered model every concrete field is either annotated or listed in ``not_pi`` (the
  auto-created primary key and blind indexes, which inherit their source's annotation, excepted).
  Data minimisation: nothing is collected "just in case".
- Every purpose and retention policy named exists in ``PURPOSES`` / ``RETENTION_POLICIES``.
- A field annotated ``sensitive`` is an encrypted field; a model with encrypted fields is registered.
The DSAR export/erasure, retention purges, audit-diff masking and admin masking all read this
registry instead of keeping their own field lists.

``PURPOSES`` and ``RETENTION_POLICIES`` are code registries for now; the consent and retention
issues may move them into database tables keyed by the same codes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.apps import apps
from django.db import models

from compliance.pi.vocabulary import SENSITIVE_BY_DEFAULT, Category, Erasure, LawfulBasis


@dataclass(frozen=True)
class PI:
    """The annotation of one field that holds personal information."""

    category: Category
    purposes: Collection[str]  # any collection in a declaration; stored as a tuple
    lawful_basis: LawfulBasis
    retention: str
    export: bool = True
    erasure: Erasure = Erasure.NULL
    sensitive: bool | None = None  # None: by category (card, special, children)
    description: str = ""
    derived_from: str = ""  # set on blind indexes: the annotated field they are computed from
    # POPIA s24: the name under which a correction request may change this field (e.g. "email",
    # "bank_account_number"); empty: not correctable through a DSAR. The owning app registers the
    # handler that applies it (compliance.dsar.corrections); compliance.E603 checks both agree.
    correctable: str = ""

    def __post_init__(self) -> None:
        # Accept lists/sets in declarations; store an ordered, hashable tuple.
        object.__setattr__(self, "purposes", tuple(self.purposes))
        object.__setattr__(self, "category", Category(self.category))
        object.__setattr__(self, "lawful_basis", LawfulBasis(self.lawful_basis))
        object.__setattr__(self, "erasure", Erasure(self.erasure))
        if self.sensitive is None:
            object.__setattr__(self, "sensitive", self.category in SENSITIVE_BY_DEFAULT)


@dataclass
class ModelEntry:
    """One registered model: its annotations as declared."""

    label: str  # "app_label.ModelName"
    fields: dict[str, PI]
    not_pi: frozenset[str]
    subject: str = ""  # "self", or the FK path to the data subject (e.g. "user")
    description: str = ""
    _model: type[models.Model] | None = field(default=None, repr=False)

    @property
    def model(self) -> type[models.Model]:
        if self._model is None:
            self._model = apps.get_model(self.label)
        return self._model

    def annotations(self) -> dict[str, PI]:
        """Declared annotations plus those derived for blind indexes, in model field order."""
        from compliance.crypto.fields import BlindIndexField

        result: dict[str, PI] = {}
        for model_field in self.model._meta.concrete_fields:
            name = model_field.name
            if name in self.fields:
                result[name] = self.fields[name]
            elif isinstance(model_field, BlindIndexField) and model_field.source_field in self.fields:
                source = self.fields[model_field.source_field]
                result[name] = replace(
                    source,
                    export=False,
                    sensitive=False,
                    description=f"Blind index (keyed HMAC) of {model_field.source_field}, for exact lookups.",
                    derived_from=model_field.source_field,
                    correctable="",
                )
        # Declared names that are not concrete fields (m2m, typos) still show, so checks can flag them.
        for name, annotation in self.fields.items():
            result.setdefault(name, annotation)
        return result


class PIRegistry:
    """All PI-holding models, filled at import time by ``@pi_model`` / ``register_pi_model``."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}

    def register(self, entry: ModelEntry) -> None:
        from compliance.crypto.subject_keys import declare_subject

        self._entries[entry.label.lower()] = entry
        declare_subject(entry.label, entry.subject)  # whose key encrypts its rows (docs/adr/0007)

    def unregister(self, model: type[models.Model] | str) -> None:
        from compliance.crypto.subject_keys import declare_subject

        self._entries.pop(_label(model).lower(), None)
        declare_subject(_label(model), "")

    def get(self, model: type[models.Model] | str) -> ModelEntry | None:
        return self._entries.get(_label(model).lower())

    def is_registered(self, model: type[models.Model] | str) -> bool:
        return self.get(model) is not None

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.label.lower()))

    def __len__(self) -> int:
        return len(self._entries)


registry = PIRegistry()


def _label(model: type[models.Model] | str) -> str:
    return model if isinstance(model, str) else model._meta.label


def register_pi_model(
    model: type[models.Model] | str,
    *,
    fields: dict[str, PI],
    not_pi: Iterable[str] = (),
    subject: str = "",
    description: str = "",
) -> ModelEntry:
    """Declare a model's PI fields (for models declared elsewhere, e.g. third-party apps)."""
    entry = ModelEntry(
        label=_label(model),
        fields=dict(fields),
        not_pi=frozenset(not_pi),
        subject=subject,
        description=description,
        _model=None if isinstance(model, str) else model,
    )
    registry.register(entry)
    return entry


def pi_model(*, fields: dict[str, PI], not_pi: Iterable[str] = (), subject: str = "", description: str = "") -> Any:
    """Class decorator form of ``register_pi_model``."""

    def decorate(model: type[models.Model]) -> type[models.Model]:
        register_pi_model(model, fields=fields, not_pi=not_pi, subject=subject, description=description)
        return model

    return decorate


# --- The API other parts call ---------------------------------------------------------------
def annotation_for(model: type[models.Model] | str, field_name: str) -> PI | None:
    """The field's annotation, or None when the field is not PI (or the model holds none)."""
    entry = registry.get(model)
    if entry is None:
        return None
    return entry.annotations().get(field_name)


def pi_field_names(model: type[models.Model] | str) -> frozenset[str]:
    """Names of the fields annotated as PI (blind indexes included: they are pseudonymous PI)."""
    entry = registry.get(model)
    return frozenset(entry.annotations()) if entry else frozenset()


def exportable_fields(model: type[models.Model] | str) -> tuple[str, ...]:
    """Fields a DSAR access/portability export includes, in model field order."""
    entry = registry.get(model)
    if entry is None:
        return ()
    return tuple(name for name, annotation in entry.annotations().items() if annotation.export)


def correctable_fields() -> dict[str, tuple[str, str]]:
    """Correction name -> (model label, field) for every field the inventory marks correctable."""
    found: dict[str, tuple[str, str]] = {}
    for entry in registry:
        for name, annotation in entry.fields.items():
            if annotation.correctable:
                found[annotation.correctable] = (entry.label, name)
    return found
