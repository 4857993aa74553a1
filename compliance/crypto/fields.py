"""Model fields that store personal information encrypted, and blind indexes beside them.

Usage (a few declarative lines per model)::

    class Customer(BlindIndexedModelMixin, models.Model):
        phone = EncryptedCharField(max_length=20, blank=True)
        phone_index = BlindIndexField(source_field="phone", normaliser="phone")

    Customer.objects.filter(phone_index__matches="082 555 0100")   # or by_blind_index(Customer, "phone", ...)

Invariants:
- The column holds ``v<version>:<base64>`` (see aead) or, on a row that belongs to a data subject
  (its ``@pi_model(subject=...)``), ``s1:<subject key id>:<base64>`` under that subject's own key
  (see subject_keys; encrypted in ``pre_save``). The Python attribute holds the plaintext, or
  ``ShreddedValue`` ("[shredded]") once the subject's key has been destroyed.
- ``None`` is stored as NULL and ``""`` as an encrypted empty string: the two stay different.
- Associated data is ``<app_label>.<model>.<field>`` (or the ``associated_data=`` pinned at
  creation, which lets a model or field be renamed without re-encrypting).
- Filtering on an encrypted column is refused (``FieldError``) instead of silently matching
  nothing: only ``isnull`` and the rotation's ``ciphertext_startswith`` are allowed. Exact lookups
  go through the blind index.
- A blind index is recomputed from its source on every save; ``BlindIndexedModelMixin`` adds it
  to ``update_fields`` whenever its source is saved (a system check requires the mixin).
- ``QuerySet.update()`` bypasses ``pre_save``: never ``update()`` a blind-indexed source column.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core import validators
from django.core.checks import CheckMessage, Error
from django.core.exceptions import FieldError, ValidationError
from django.db import models
from django.db.models import Lookup
from django.db.models.lookups import Exact
from django.utils.dateparse import parse_date

from compliance.crypto import aead, subject_keys
from compliance.crypto.blind_index import NORMALISERS, blind_index, blind_index_candidates

ALLOWED_ENCRYPTED_LOOKUPS = frozenset({"isnull", "ciphertext_startswith"})


class EncryptedField(models.TextField):
    """Base class: a text column holding an AES-256-GCM token of the encoded value."""

    description = "Encrypted value"

    def __init__(self, *args: Any, associated_data: str | None = None, **kwargs: Any) -> None:
        self.pinned_associated_data = associated_data
        super().__init__(*args, **kwargs)

    # --- codec: subclasses override ---------------------------------------------------------
    def encode(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def decode(self, raw: bytes) -> Any:
        return raw.decode("utf-8")

    # --- plaintext columns (compliance.crypto.backfill) ----------------------------------------
    def parse_plaintext(self, raw: str) -> Any:
        """The Python value of a column still holding plaintext (before the backfill)."""
        return self.to_python(raw)

    def plaintext_column(self, value: Any) -> Any:
        """What the column holds when decrypted back to plaintext (the backfill's reverse)."""
        return value

    # --- Django plumbing ----------------------------------------------------------------------
    @property
    def associated_data(self) -> bytes:
        label = self.pinned_associated_data or f"{self.model._meta.label_lower}.{self.name}"
        return label.encode("utf-8")

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        if self.pinned_associated_data:
            kwargs["associated_data"] = self.pinned_associated_data
        return name, path, args, kwargs

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        errors = super().check(**kwargs)
        if self.unique or self.db_index:  # type: ignore[attr-defined]  # django-stubs does not declare Field.db_index
            errors.append(
                Error(
                    "Encrypted fields cannot be unique or indexed (every ciphertext differs).",
                    hint="Put unique=True on a BlindIndexField of this field instead.",
                    obj=self,
                    id="compliance.E120",
                )
            )
        return errors

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        if value.startswith("s"):
            try:
                return self.decode(subject_keys.decrypt(value, associated_data=self.associated_data))
            except subject_keys.SubjectKeyDestroyed:
                return subject_keys.ShreddedValue(value)  # the subject was erased: a marker, never a 500
        return self.decode(aead.decrypt(value, associated_data=self.associated_data))

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        """Encrypt under the row's data subject's key (``subject_keys``) when the model declares one."""
        value = super().pre_save(model_instance, add)
        if value is None or isinstance(value, subject_keys.SealedToken | subject_keys.ShreddedValue):
            return value
        if isinstance(value, str) and value == "" and isinstance(self, EncryptedDateField):
            return None
        ref = subject_keys.subject_of(model_instance)
        if ref is None:
            return value  # get_prep_value: the field ring
        plaintext = self.encode(self.to_python(value))
        return subject_keys.SealedToken(subject_keys.encrypt(ref, plaintext, associated_data=self.associated_data))

    def get_prep_value(self, value: Any) -> str | None:
        if isinstance(value, subject_keys.SealedToken):
            return str(value)  # encrypted by pre_save (or a backfill) already
        if isinstance(value, subject_keys.ShreddedValue):
            return value.token  # unreadable: written back unchanged
        value = models.Field.get_prep_value(self, value)
        if value is None:
            return None
        value = self.to_python(value)
        return aead.encrypt(self.encode(value), associated_data=self.associated_data)

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def value_to_string(self, obj: models.Model) -> str:
        # Serialisers (dumpdata, auditlog) see the plaintext through this; callers of those must
        # treat the output as PI. The inventory marks every such field.
        value = self.value_from_object(obj)
        return "" if value is None else str(value)

    def get_lookup(self, lookup_name: str) -> type[Lookup] | None:
        if lookup_name == "exact":
            # Django builds `field=None` as an exact lookup first and turns it into isnull.
            return EncryptedIsNoneExact
        if lookup_name not in ALLOWED_ENCRYPTED_LOOKUPS:
            raise refused_lookup(self, lookup_name)
        return super().get_lookup(lookup_name)

    def formfield(self, *args: Any, **kwargs: Any) -> forms.Field | None:
        return models.Field.formfield(self, *args, **{"form_class": forms.CharField, **kwargs})


def refused_lookup(field: models.Field, lookup_name: str) -> FieldError:
    return FieldError(
        f"Cannot filter on the encrypted field '{field.name}' with '{lookup_name}': every ciphertext "
        "differs, so the query would silently match nothing. Use its blind index "
        f"(e.g. {field.name}_index__matches=value) or filter after decryption."
    )


class EncryptedIsNoneExact(Exact):
    """Allows ``field=None`` (which Django rewrites to ``isnull``); refuses every other value."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs is not None:
            raise refused_lookup(lhs.output_field, "exact")
        super().__init__(lhs, rhs)


@EncryptedField.register_lookup
class CiphertextStartsWith(Lookup):
    """``field__ciphertext_startswith="v2:"``: compares the raw stored token (rotation only)."""

    lookup_name = "ciphertext_startswith"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        prefix = str(self.rhs)
        if not prefix.replace(":", "").isalnum():
            raise ValueError("A ciphertext prefix looks like 'v2:'.")
        return f"{lhs} LIKE %s", [*lhs_params, prefix + "%"]


class EncryptedCharField(EncryptedField):
    """Short text; ``max_length`` limits the plaintext (the column itself is unbounded text)."""

    description = "Encrypted short text"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(validators.MaxLengthValidator(self.max_length))

    def formfield(self, *args: Any, **kwargs: Any) -> forms.Field | None:
        return super().formfield(*args, **{"max_length": self.max_length, **kwargs})


class EncryptedTextField(EncryptedField):
    description = "Encrypted text"

    def formfield(self, *args: Any, **kwargs: Any) -> forms.Field | None:
        return super().formfield(*args, **{"widget": forms.Textarea, **kwargs})


class EncryptedEmailField(EncryptedCharField):
    description = "Encrypted e-mail address"
    default_validators = [validators.validate_email]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(*args, **kwargs)

    def formfield(self, *args: Any, **kwargs: Any) -> forms.Field | None:
        return super().formfield(*args, **{"form_class": forms.EmailField, **kwargs})


class EncryptedDateField(EncryptedField):
    """A date, stored as the encrypted ISO 8601 text ``YYYY-MM-DD``."""

    # What the model attribute holds, for the type checker's Django plugin (the column is text).
    _pyi_private_set_type: datetime.date | None  # type: ignore[assignment]
    _pyi_private_get_type: datetime.date  # type: ignore[assignment]

    description = "Encrypted date"

    def encode(self, value: datetime.date) -> bytes:
        return value.isoformat().encode("ascii")

    def decode(self, raw: bytes) -> datetime.date:
        return datetime.date.fromisoformat(raw.decode("ascii"))

    def to_python(self, value: Any) -> datetime.date | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime.datetime):
            raise ValidationError("A date of birth is a date, not a date and time.", code="invalid")
        if isinstance(value, datetime.date):
            return value
        try:
            parsed = parse_date(str(value))
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError("Enter a valid date (YYYY-MM-DD).", code="invalid")
        return parsed

    def get_prep_value(self, value: Any) -> str | None:
        if value == "":
            value = None
        return super().get_prep_value(value)

    def plaintext_column(self, value: Any) -> Any:
        return value.isoformat()

    def formfield(self, *args: Any, **kwargs: Any) -> forms.Field | None:
        return models.Field.formfield(self, *args, **{"form_class": forms.DateField, **kwargs})


class EncryptedJSONField(EncryptedField):
    """A JSON document (object, list, string, number), stored as its encrypted JSON text.

    For structured PI such as a correction request's ``{field: new value}``: the whole document is
    one ciphertext, so neither the keys' values nor their lengths are readable in the column."""

    _pyi_private_set_type: Any  # any JSON document
    _pyi_private_get_type: Any

    description = "Encrypted JSON"

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")

    def decode(self, raw: bytes) -> Any:
        return json.loads(raw.decode("utf-8"))

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)

    def parse_plaintext(self, raw: str) -> Any:
        return json.loads(raw)

    def plaintext_column(self, value: Any) -> Any:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    def formfield(self, *args: Any, **kwargs: Any) -> forms.Field | None:
        return models.Field.formfield(self, *args, **{"form_class": forms.JSONField, **kwargs})


class BlindIndexField(models.CharField):
    """``v<version>:<hex HMAC>`` of the normalised source value; NULL when the source is empty."""

    description = "Blind index (keyed HMAC) of another field"

    def __init__(self, *args: Any, source_field: str, normaliser: str, **kwargs: Any) -> None:
        if normaliser not in NORMALISERS:
            raise ValueError(f"Unknown blind-index normaliser {normaliser!r}; known: {sorted(NORMALISERS)}.")
        self.source_field = source_field
        self.normaliser = normaliser
        kwargs["max_length"] = 80
        kwargs.setdefault("db_index", not kwargs.get("unique", False))
        kwargs["null"] = True
        kwargs["blank"] = True
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        for forced in ("max_length", "null", "blank", "editable"):
            kwargs.pop(forced, None)
        if kwargs.get("db_index") is True and not kwargs.get("unique"):
            kwargs.pop("db_index")
        kwargs["source_field"] = self.source_field
        kwargs["normaliser"] = self.normaliser
        return name, path, args, kwargs

    def compute(self, instance: models.Model) -> str | None:
        return blind_index(self.normaliser, getattr(instance, self.source_field))

    def pre_save(self, model_instance: models.Model, add: bool) -> str | None:
        value = self.compute(model_instance)
        setattr(model_instance, self.attname, value)
        return value

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        errors = super().check(**kwargs)
        names = {f.name for f in self.model._meta.get_fields()}
        if self.source_field not in names:
            errors.append(
                Error(f"Blind index source field '{self.source_field}' does not exist.", obj=self, id="compliance.E121")
            )
        if not self.model._meta.abstract and not issubclass(self.model, BlindIndexedModelMixin):
            errors.append(
                Error(
                    f"{self.model._meta.label} has a blind index but does not inherit BlindIndexedModelMixin, "
                    "so save(update_fields=[source]) would leave a stale index.",
                    obj=self,
                    id="compliance.E122",
                )
            )
        return errors


@BlindIndexField.register_lookup
class BlindIndexMatches(Lookup):
    """``phone_index__matches="082 555 0100"``: normalise, HMAC under every key version, ``IN``."""

    lookup_name = "matches"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        candidates = blind_index_candidates(self.lhs.output_field.normaliser, self.rhs)
        if not candidates:
            return "1 = 0", []
        placeholders = ", ".join(["%s"] * len(candidates))
        return f"{lhs} IN ({placeholders})", [*lhs_params, *candidates]


class BlindIndexedModelMixin(models.Model):
    """Keeps blind indexes in step with ``save(update_fields=[...])`` of their sources."""

    class Meta:
        abstract = True

    def save(self, *args: Any, update_fields: Any = None, **kwargs: Any) -> None:
        if update_fields is not None:
            update_fields = set(update_fields)
            for index in blind_index_fields(type(self)):
                if index.source_field in update_fields:
                    update_fields.add(index.name)
        super().save(*args, update_fields=update_fields, **kwargs)


def encrypted_fields(model: type[models.Model], *, local: bool = False) -> list[EncryptedField]:
    """Encrypted columns of ``model``; ``local`` leaves out those a parent table owns."""
    candidates = model._meta.local_concrete_fields if local else model._meta.concrete_fields
    return [f for f in candidates if isinstance(f, EncryptedField)]


def blind_index_fields(model: type[models.Model], *, local: bool = False) -> list[BlindIndexField]:
    candidates = model._meta.local_concrete_fields if local else model._meta.concrete_fields
    return [f for f in candidates if isinstance(f, BlindIndexField)]


def by_blind_index(model_or_queryset: Any, field_name: str, value: object) -> models.QuerySet:
    """Rows whose ``field_name`` (the source field or its index field) equals ``value`` exactly."""
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, models.QuerySet)
        else model_or_queryset._default_manager.all()
    )
    for index in blind_index_fields(queryset.model):
        if field_name in (index.source_field, index.name):
            return queryset.filter(**{f"{index.name}__matches": value})
    raise FieldError(f"{queryset.model._meta.label} has no blind index for '{field_name}'.")
