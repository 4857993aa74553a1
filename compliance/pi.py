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

Models that are not ours (third-party apps) are declared the same way from an ``AppConfig.ready``
with ``register_pi_model("app_label.Model", fields=..., not_pi=...)``.

Invariants (enforced by the system checks in compliance/checks.py):
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

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.db import models


class Category(StrEnum):
    IDENTITY = "identity"
    CONTACT = "contact"
    FINANCIAL = "financial"
    CARD = "card"
    SPECIAL = "special"  # POPIA s26: religion, race, health, biometrics, criminal behaviour, ...
    CHILDREN = "children"  # POPIA s34/s35


CATEGORY_DESCRIPTIONS = {
    Category.IDENTITY: "Identifies the person: names, identity/passport numbers, date of birth.",
    Category.CONTACT: "Reaches the person: e-mail, phone, postal and physical address.",
    Category.FINANCIAL: "Bank accounts, balances, transactions, income.",
    Category.CARD: "Payment card data (PCI DSS): PAN; CVV is never stored.",
    Category.SPECIAL: "Special personal information (POPIA s26): prohibited unless s27 applies.",
    Category.CHILDREN: "Personal information of children (POPIA s34): prohibited unless s35 applies.",
}
SENSITIVE_BY_DEFAULT = frozenset({Category.CARD, Category.SPECIAL, Category.CHILDREN})


class LawfulBasis(StrEnum):
    """POPIA s11(1)(a)-(f)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTEREST = "vital_interest"
    PUBLIC_LAW_DUTY = "public_law_duty"
    LEGITIMATE_INTEREST = "legitimate_interest"


LAWFUL_BASIS_REFERENCES = {
    LawfulBasis.CONSENT: "POPIA s11(1)(a): the data subject consents",
    LawfulBasis.CONTRACT: "POPIA s11(1)(b): necessary for a contract with the data subject",
    LawfulBasis.LEGAL_OBLIGATION: "POPIA s11(1)(c): complies with an obligation imposed by law",
    LawfulBasis.VITAL_INTEREST: "POPIA s11(1)(d): protects a legitimate interest of the data subject",
    LawfulBasis.PUBLIC_LAW_DUTY: "POPIA s11(1)(e): proper performance of a public law duty",
    LawfulBasis.LEGITIMATE_INTEREST: "POPIA s11(1)(f): legitimate interest of the responsible party",
}


class Erasure(StrEnum):
    """What a deletion request does to the field."""

    DELETE = "delete"  # the row goes
    NULL = "null"  # the value is cleared
    PSEUDONYMISE = "pseudonymise"  # replaced by a stable, non-identifying token
    RETAIN_UNDER_LEGAL_DUTY = "retain_under_legal_duty"  # kept until the retention end, then purged


@dataclass(frozen=True)
class Purpose:
    code: str
    description: str
    consent_required: bool


PURPOSES: dict[str, Purpose] = {
    p.code: p
    for p in (
        Purpose("account_management", "Opening and running the customer's account and wallet.", False),
        Purpose("kyc", "Customer due diligence: verifying identity (FICA s21).", False),
        Purpose("payments", "Executing deposits, withdrawals and transfers the customer asks for.", False),
        Purpose("fraud_prevention", "Detecting and preventing fraud and money laundering (FICA, POCA).", False),
        Purpose("direct_marketing", "Offers by e-mail/SMS: only with explicit opt-in (POPIA s69).", True),
        Purpose("legal_compliance", "Records the law requires us to keep and report (FICA, tax, PAIA).", False),
        Purpose("security", "Authentication, MFA, audit of access, incident investigation (POPIA s19).", False),
    )
}


@dataclass(frozen=True)
class RetentionPolicy:
    code: str
    period: timedelta | None  # None: for as long as the trigger lasts
    trigger: str  # what starts the clock
    reason: str  # the law or need that sets the period

    def describe_period(self) -> str:
        if self.period is None:
            return f"while {self.trigger}"
        days = self.period.days
        if days >= 365 and days % 365 == 0:
            amount = f"{days // 365} year{'s' if days // 365 != 1 else ''}"
        elif self.period < timedelta(days=1):
            amount = f"{int(self.period.total_seconds() // 3600)} hours"
        else:
            amount = f"{days} days"
        return f"{amount} after {self.trigger}"


_YEAR = timedelta(days=365)
RETENTION_POLICIES: dict[str, RetentionPolicy] = {
    p.code: p
    for p in (
        RetentionPolicy(
            "fica_customer_due_diligence",
            5 * _YEAR,
            "the business relationship ends",
            "FICA s22/s23: customer due diligence records kept 5 years after the relationship ends",
        ),
        RetentionPolicy(
            "fica_transactions",
            5 * _YEAR,
            "the transaction date",
            "FICA s22A/s23: transaction records kept 5 years after the transaction",
        ),
        RetentionPolicy(
            "audit_trail", 5 * _YEAR, "the event", "PMLA/FICA and POPIA s19: evidence of processing and access"
        ),
        RetentionPolicy(
            "account_active_plus_1y",
            _YEAR,
            "the account is closed",
            "POPIA s14: no longer than needed; one year covers disputes and chargebacks",
        ),
        RetentionPolicy("mfa_secrets", None, "the MFA device is enrolled", "Security: deleted when the device is"),
        RetentionPolicy("session", timedelta(days=1), "the session ends", "Security: sessions expire"),
        RetentionPolicy(
            "consent_records",
            5 * _YEAR,
            "the consent is withdrawn or the relationship ends",
            "POPIA s11(2)(a): the responsible party bears the burden of proof of consent",
        ),
        RetentionPolicy(
            "dsar_records", 5 * _YEAR, "the request is closed", "POPIA s23-s25, PAIA: proof of handling requests"
        ),
        RetentionPolicy(
            "dsar_export_7d", timedelta(days=7), "the export is produced", "Minimisation: download window only"
        ),
        RetentionPolicy(
            "marketing_until_withdrawn", None, "consent is in force", "POPIA s69: direct marketing only with consent"
        ),
    )
}


@dataclass(frozen=True)
class PI:
    """The annotation of one field that holds personal information."""

    category: Category
    purposes: tuple[str, ...]
    lawful_basis: LawfulBasis
    retention: str
    export: bool = True
    erasure: Erasure = Erasure.NULL
    sensitive: bool | None = None  # None: by category (card, special, children)
    description: str = ""
    derived_from: str = ""  # set on blind indexes: the annotated field they are computed from

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
        self._entries[entry.label.lower()] = entry

    def unregister(self, model: type[models.Model] | str) -> None:
        self._entries.pop(_label(model).lower(), None)

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


# --- Inventory rendering (manage.py pi_inventory, docs/POPIA_COMPLIANCE.md, the admin page) ---
def is_product_model(entry: ModelEntry) -> bool:
    """Test-only apps (``tests.*``) are left out of the product's inventory."""
    return not entry.model._meta.app_config.name.startswith("tests.")


def inventory(*, include_test_apps: bool = False) -> dict[str, Any]:
    """The inventory as JSON-ready data, deterministic (sorted) so the committed doc can be diffed."""
    from compliance.crypto.fields import BlindIndexField, EncryptedField

    models_out = []
    for entry in registry:
        if not include_test_apps and not is_product_model(entry):
            continue
        model = entry.model
        rows = []
        for name, annotation in entry.annotations().items():
            try:
                model_field = model._meta.get_field(name)
            except Exception:  # noqa: BLE001 - a bad declaration is reported by the checks, not here
                model_field = None
            rows.append(
                {
                    "field": name,
                    "category": str(annotation.category),
                    "purposes": list(annotation.purposes),
                    "lawful_basis": str(annotation.lawful_basis),
                    "retention": annotation.retention,
                    "export": annotation.export,
                    "erasure": str(annotation.erasure),
                    "sensitive": bool(annotation.sensitive),
                    "encrypted": isinstance(model_field, EncryptedField),
                    "blind_index": isinstance(model_field, BlindIndexField),
                    "derived_from": annotation.derived_from,
                    "description": annotation.description,
                }
            )
        models_out.append(
            {
                "model": model._meta.label,
                "table": model._meta.db_table,
                "subject": entry.subject,
                "description": entry.description,
                "fields": rows,
                "not_pi": sorted(entry.not_pi),
            }
        )
    return {
        "categories": {str(c): CATEGORY_DESCRIPTIONS[c] for c in Category},
        "lawful_bases": {str(b): LAWFUL_BASIS_REFERENCES[b] for b in LawfulBasis},
        "purposes": {
            code: {"description": p.description, "consent_required": p.consent_required}
            for code, p in sorted(PURPOSES.items())
        },
        "retention_policies": {
            code: {"period": p.describe_period(), "reason": p.reason, "days": p.period.days if p.period else None}
            for code, p in sorted(RETENTION_POLICIES.items())
        },
        "models": models_out,
    }


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) or "—"
    return str(value).replace("|", "\\|") or "—"


def render_markdown(data: dict[str, Any]) -> str:
    lines = [
        "# POPIA compliance: personal-information inventory",
        "",
        "<!-- Generated by `manage.py pi_inventory`; do not edit by hand. A test fails when stale. -->",
        "",
        "Every field of ours that holds personal information, with its category, purposes, lawful",
        "basis (POPIA s11), retention policy and what a data-subject request does with it. The",
        "annotations live beside the model fields (`compliance.pi`); a system check refuses a",
        "PI-holding model with an unannotated field. Sensitive fields are encrypted at rest",
        "(AES-256-GCM, versioned keys; see `docs/adr/0002-field-encryption.md`); fields looked up",
        "exactly carry a blind index (keyed HMAC).",
        "",
        "## Personal information held",
        "",
    ]
    if not data["models"]:
        lines += ["No model of ours is registered as holding personal information yet.", ""]
    for model in data["models"]:
        lines += [f"### `{model['model']}` (table `{model['table']}`)", ""]
        if model["description"]:
            lines += [model["description"], ""]
        if model["subject"]:
            lines += [f"Data subject: `{model['subject']}`.", ""]
        lines += [
            "| field | category | purposes | lawful basis | retention | export | erasure | encrypted | note |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in model["fields"]:
            encrypted = "blind index" if row["blind_index"] else _cell(row["encrypted"])
            lines.append(
                f"| `{row['field']}` | {row['category']} | {_cell(row['purposes'])} | {row['lawful_basis']} "
                f"| {row['retention']} | {_cell(row['export'])} | {row['erasure']} | {encrypted} "
                f"| {_cell(row['description'])} |"
            )
        lines += ["", f"Not personal information: {', '.join(f'`{n}`' for n in model['not_pi']) or '—'}.", ""]
    lines += ["## Processing purposes", "", "| code | description | consent required |", "| --- | --- | --- |"]
    for code, purpose in data["purposes"].items():
        lines.append(f"| `{code}` | {purpose['description']} | {_cell(purpose['consent_required'])} |")
    lines += ["", "## Retention policies", "", "| code | period | reason |", "| --- | --- | --- |"]
    for code, policy in data["retention_policies"].items():
        lines.append(f"| `{code}` | {policy['period']} | {policy['reason']} |")
    lines += ["", "## Categories", "", "| category | meaning |", "| --- | --- |"]
    for code, meaning in data["categories"].items():
        lines.append(f"| {code} | {meaning} |")
    lines += ["", "## Lawful bases", "", "| basis | reference |", "| --- | --- |"]
    for code, reference in data["lawful_bases"].items():
        lines.append(f"| {code} | {reference} |")
    return "\n".join(lines) + "\n"
