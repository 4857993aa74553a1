"""Access and portability: gather everything held about a subject, from the PI inventory.

No per-model code: every model registered in ``compliance.pi.registry`` says how its rows reach
the data subject (``subject``: "self" or a foreign-key path) and which fields are personal
information and exportable. This module walks that registry, so a new app's data is exported as
soon as it is annotated.

The bundle is a ZIP, encrypted at rest (AES-256-GCM, bound to the export's id) and kept for seven
days. Its layout depends on the request type (``DsarKind.export_format``):

- access (POPIA s23): ``data.json`` (every table, and ``who_accessed``: the staff actions and reads
  about the subject from the audit trail — role, action, purpose and date, never a staff member's
  name or account id), ``tables/*.csv`` and ``who_accessed.csv``, ``data_dictionary.json`` /
  ``.csv`` (every column: its meaning, category, purposes by name, lawful basis, retention) and a
  ``README.txt`` in plain words (what each table is, why we hold it, for how long, who receives
  it, where it came from, the Information Officer's contact and the right to complain);
- portability (s23(1)(b)): ``portability.json`` in the documented machine-readable schema
  ``portability.schema.json`` (JSON Schema, shipped in the bundle and in docs/), with the CSVs and
  the data dictionary.

CSV cells hold text as is and every other value JSON-encoded (``true``, ``null``,
``{"code": "kyc", "name": "..."}``), never a Python repr. A related record without a public id is
named by its ``export_reference()`` (a purpose by code and name, a notice by purpose and version,
the journal entry behind a posting by type and reference) instead of being dropped.

Secrets are never exported even when a model forgot to annotate them (password hashes, keys,
tokens): they fail the ``_is_secret`` test below.

Other people are never identified in a subject's bundle: a reference to a user who is not the
subject (the officer who decided, the operations user who verified, another customer) is
exported as that person's role only (``staff (information_officer)``, ``another person``),
never their id, name or e-mail (``_person``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone

from compliance.audit.models import AuditEvent
from compliance.audit.services import AuditAction
from compliance.crypto import aead
from compliance.dsar.kinds import Fulfilment, fulfilled_by, kind_for
from compliance.dsar.models import DataSubjectRequest, DsarExport, DsarStatus
from compliance.pi.inventory import is_product_model
from compliance.pi.registry import ModelEntry, registry
from compliance.pi.vocabulary import CATEGORY_SOURCES, LAWFUL_BASIS_REFERENCES, PURPOSE_RECIPIENTS, PURPOSES
from compliance.retention.models import RetentionPolicy

EXPORT_DAYS = 7
FORMAT = "fintech-dsar-export/1"
PORTABILITY_FORMAT = "fintech-dsar-portability/1"
PORTABILITY_SCHEMA = Path(__file__).with_name("portability.schema.json")
_SECRET_MARKERS = ("password", "secret", "token", "key", "hash", "otp", "cvv")


def _is_secret(name: str) -> bool:
    return any(marker in name.lower() for marker in _SECRET_MARKERS)


def subject_rows(entry: ModelEntry, subject: Any) -> models.QuerySet:
    manager = entry.model._default_manager
    if entry.subject == "self":
        return manager.filter(pk=subject.pk)
    if not entry.subject:
        return manager.none()
    return manager.filter(**{entry.subject: subject})


def export_columns(entry: ModelEntry) -> list[models.Field]:
    """Exportable PI fields plus the record's other (non-PI) facts, never secrets or internal keys."""
    annotations = entry.annotations()
    columns = []
    for field in entry.model._meta.concrete_fields:
        annotation = annotations.get(field.name)
        if annotation is not None:
            if annotation.export:
                columns.append(field)
        elif field.name in entry.not_pi and not field.primary_key and not _is_secret(field.name):
            if field.is_relation and not _named(field.related_model):
                continue  # an internal id would mean nothing to the subject
            columns.append(field)
    return columns


def _named(model: Any) -> bool:
    """A related model the subject can recognise: one with a public id or an export reference."""
    return hasattr(model, "export_reference") or hasattr(model, "public_id")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return None
    if isinstance(value, models.Model):
        if hasattr(value, "export_reference"):
            return value.export_reference()
        return str(value.public_id) if hasattr(value, "public_id") else None
    return value


def csv_cell(value: Any) -> str:
    """A CSV cell: text as is, anything else JSON-encoded (never a Python repr)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _person(user: Any, subject: Any, roles_seen: dict[int, str]) -> str:
    """How a user other than the subject appears in the subject's bundle: a role, nothing more."""
    if user.pk == subject.pk:
        return str(user.public_id)
    if user.pk not in roles_seen:
        if user.is_staff:
            names = sorted(user.groups.values_list("name", flat=True))
            roles_seen[user.pk] = f"staff ({', '.join(names)})" if names else "staff"
        else:
            roles_seen[user.pk] = "another person"
    return roles_seen[user.pk]


def table_rows(entry: ModelEntry, subject: Any) -> Iterator[dict[str, Any]]:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    columns = export_columns(entry)
    related = [f.name for f in columns if f.is_relation]
    people = {f.name for f in columns if f.is_relation and f.related_model is user_model}
    roles_seen: dict[int, str] = {}
    queryset = subject_rows(entry, subject).select_related(*related).order_by("pk")
    for row in queryset.iterator(chunk_size=2000):
        yield {
            field.name: (
                _person(value, subject, roles_seen)
                if field.name in people and (value := getattr(row, field.name)) is not None
                else _plain(getattr(row, field.name))
            )
            for field in columns
        }


def collect(subject: Any) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    for entry in registry:
        if not is_product_model(entry) or not entry.subject:
            continue
        rows = list(table_rows(entry, subject))
        if rows:
            tables[entry.label.lower()] = {
                "name": str(entry.model._meta.verbose_name_plural).capitalize(),
                "description": entry.description,
                "rows": rows,
            }
    return tables


# --- Who accessed your data (POPIA s23(1)(b)): the audit trail about the subject ------------------
def _subject_objects(subject: Any) -> dict[str, set[str]]:
    """model label -> the ids (public id and primary key) of the subject's records, from the inventory."""
    found: dict[str, set[str]] = {}
    for entry in registry:
        if not is_product_model(entry) or not entry.subject:
            continue
        has_public_id = any(f.name == "public_id" for f in entry.model._meta.concrete_fields)
        columns = ["pk", "public_id"] if has_public_id else ["pk"]
        ids: set[str] = set()
        for row in subject_rows(entry, subject).values_list(*columns):
            ids.update(str(value) for value in row)
        if ids:
            found[entry.label] = ids
    return found


def _staff_reference(user_id: int) -> str:
    """A stable reference to a staff member that identifies them to the Information Officer (who
    holds the key) and to no one else: never their name, e-mail or account id."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"staff-reference|{user_id}".encode(), hashlib.sha256)
    return f"staff-{digest.hexdigest()[:12]}"


def who_accessed(subject: Any, *, until: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every audited action or read about the subject's records by someone other than the subject:
    when, who (role and a reference), what, about which record and for what purpose."""
    from django.db.models import Q

    objects = _subject_objects(subject)
    if not objects:
        return []
    about = Q()
    for label, ids in objects.items():
        about |= Q(object_type__iexact=label, object_id__in=sorted(ids))
    events = AuditEvent.objects.filter(about).exclude(user=subject).select_related("user").order_by("timestamp", "id")
    if until is not None:
        events = events.filter(timestamp__lte=until)
    labels = {entry.label.lower(): str(entry.model._meta.verbose_name) for entry in registry}
    roles_seen: dict[int, str] = {}
    rows = []
    for event in events.iterator(chunk_size=2000):
        diff = event.change_diff if isinstance(event.change_diff, dict) else {}
        if event.user is None:
            who, reference = "the platform (automatic)", ""
        else:
            who, reference = _person(event.user, subject, roles_seen), _staff_reference(event.user.pk)
        action = AuditAction(event.action).label if event.action in AuditAction.values else event.action
        step = _status_move(diff)
        rows.append(
            {
                "when": event.timestamp.isoformat(),
                "who": who,
                "staff_reference": reference,
                "action": f"{action}: {step}" if step else action,
                "about": labels.get(event.object_type.lower(), event.object_type),
                "purpose": str(diff.get("purpose") or diff.get("kind") or ""),
                "fields": sorted(diff.get("fields") or []) if isinstance(diff.get("fields"), list) else [],
            }
        )
    return rows


def _status_move(diff: dict[str, Any]) -> str:
    """Which step an audited transition was, in words ("received to identity verified"): without
    it every step of a request reads the same to the subject."""
    before, after = diff.get("before"), diff.get("after")
    if not (isinstance(before, dict) and isinstance(after, dict)) or "status" not in after:
        return ""
    moved = [str(status).replace("_", " ") for status in (before.get("status"), after["status"]) if status]
    return " to ".join(moved)


def table_name(label: str) -> str:
    """A registered table in words ("Bank accounts"), as the subject reads it; the label if unknown."""
    entry = registry.get(label)
    return str(entry.model._meta.verbose_name_plural).capitalize() if entry else label


def _purpose_name(code: str) -> str:
    return PURPOSES[code].name if code in PURPOSES else code


def _field_name(entry: ModelEntry, name: str) -> str:
    verbose = {f.name: f.verbose_name for f in entry.model._meta.concrete_fields}
    return str(verbose.get(name, name.replace("_", " "))).capitalize()


def data_dictionary(tables: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per exported column: what it means and, for personal information, why we hold it."""
    policies = {policy.code: policy for policy in RetentionPolicy.objects.all()}
    rows: list[dict[str, Any]] = []
    for label, table in tables.items():
        entry = registry.get(label)
        if entry is None or not table["rows"]:
            continue
        annotations = entry.annotations()
        for column in table["rows"][0]:
            annotation = annotations.get(column)
            row: dict[str, Any] = {
                "table": label,
                "table_name": table["name"],
                "column": column,
                "name": _field_name(entry, column),
                "personal_information": annotation is not None,
                "category": "",
                "purposes": [],
                "lawful_basis": "",
                "kept": "",
                "source": "",
                "description": "",
            }
            if annotation is not None:
                policy = policies.get(annotation.retention)
                row.update(
                    category=str(annotation.category),
                    purposes=[_purpose_name(code) for code in annotation.purposes],
                    lawful_basis=LAWFUL_BASIS_REFERENCES.get(annotation.lawful_basis, str(annotation.lawful_basis)),
                    kept=policy.describe_period() if policy else annotation.retention,
                    source=CATEGORY_SOURCES.get(annotation.category, ""),
                    description=annotation.description,
                )
            rows.append(row)
    return rows


def _readme(
    subject: Any, tables: dict[str, dict[str, Any]], generated_at: dt.datetime, *, accessed: int, portability: bool
) -> str:
    officer = settings.INFORMATION_OFFICER_CONTACT
    regulator = settings.INFORMATION_REGULATOR_CONTACT
    lines = [
        "Your personal information held by the platform",
        "=" * 46,
        f"Prepared {generated_at:%Y-%m-%d %H:%M} UTC under POPIA s23"
        + (" (s23(1)(b): portability)." if portability else " (access to your personal information)."),
        "",
        "What is in this bundle:",
    ]
    if portability:
        lines += [
            "  - portability.json: everything, in the machine-readable format described by portability.schema.json",
            "    (JSON Schema), so another service can import it.",
        ]
    else:
        lines += [
            "  - data.json: everything in one machine-readable document.",
            f"  - who_accessed.csv: who looked at or acted on your information ({accessed} record(s)): "
            "the staff role, what they did, when and why.",
        ]
    lines += [
        "  - tables/*.csv: one file per kind of record. Text is as you see it; other values (yes/no, dates, "
        "references) are JSON (true, false, null, {...}).",
        "  - data_dictionary.csv / .json: what every column means.",
        "",
    ]
    policies = {policy.code: policy for policy in RetentionPolicy.objects.all()}
    for label, table in tables.items():
        entry = registry.get(label)
        lines.append(f"{table['name']} ({len(table['rows'])} record(s)): {table['description']}".rstrip())
        purposes: set[str] = set()
        for name, annotation in (entry.annotations() if entry else {}).items():
            if not annotation.export or entry is None:
                continue
            purposes.update(annotation.purposes)
            policy = policies.get(annotation.retention)
            kept = policy.describe_period() if policy else annotation.retention
            lines.append(
                f"  - {_field_name(entry, name)}: used for {', '.join(_purpose_name(p) for p in annotation.purposes)}; "
                f"{LAWFUL_BASIS_REFERENCES.get(annotation.lawful_basis, annotation.lawful_basis)}; kept {kept}. "
                f"Source: {CATEGORY_SOURCES.get(annotation.category, 'our records')}."
            )
        recipients = [
            f"{_purpose_name(p)}: {PURPOSE_RECIPIENTS[p]}" for p in sorted(purposes) if p in PURPOSE_RECIPIENTS
        ]
        if recipients:
            lines.append("  Who receives it: " + "; ".join(recipients) + ".")
        lines.append("")
    lines += [
        f"Questions, corrections or objections: {officer['name']}, {officer['email']}, {officer['postal']}; "
        "or file a request in the app.",
        f"You may complain to {regulator['name']}: {regulator['email']}, {regulator['website']}, "
        f"{regulator['postal']}.",
    ]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    text = io.StringIO()
    if rows:
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
    return text.getvalue()


def portability_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(PORTABILITY_SCHEMA.read_text())
    return loaded


def build_bundle(*, subject: Any, dsar: DataSubjectRequest, generated_at: dt.datetime) -> tuple[bytes, dict[str, int]]:
    tables = collect(subject)
    portability = kind_for(dsar.type).export_format == "portability"
    dictionary = data_dictionary(tables)
    accessed = [] if portability else who_accessed(subject, until=generated_at)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        if portability:
            document: dict[str, Any] = {
                "format": PORTABILITY_FORMAT,
                "subject": str(subject.public_id),
                "generated_at": generated_at.isoformat(),
                "records": {
                    label: {"name": table["name"], "description": table["description"], "rows": table["rows"]}
                    for label, table in tables.items()
                },
            }
            bundle.writestr("portability.json", json.dumps(document, indent=1, ensure_ascii=False, default=str))
            bundle.writestr("portability.schema.json", PORTABILITY_SCHEMA.read_text())
        else:
            document = {
                "format": FORMAT,
                "subject": str(subject.public_id),
                "request": str(dsar.public_id),
                "generated_at": generated_at.isoformat(),
                "tables": tables,
                "who_accessed": accessed,
            }
            bundle.writestr("data.json", json.dumps(document, indent=1, ensure_ascii=False, default=str))
            bundle.writestr("who_accessed.csv", _csv(accessed))
        for label, table in tables.items():
            bundle.writestr(f"tables/{label}.csv", _csv(table["rows"]))
        bundle.writestr("data_dictionary.json", json.dumps(dictionary, indent=1, ensure_ascii=False))
        bundle.writestr("data_dictionary.csv", _csv(dictionary))
        bundle.writestr(
            "README.txt", _readme(subject, tables, generated_at, accessed=len(accessed), portability=portability)
        )
    return buffer.getvalue(), {label: len(table["rows"]) for label, table in tables.items()}


def _associated_data(export_public_id: uuid.UUID) -> bytes:
    return f"dsar-export:{export_public_id}".encode()


def export_create(*, dsar: DataSubjectRequest) -> DsarExport | None:
    """Build, encrypt and store the bundle, then mark the request fulfilled. Idempotent."""
    from compliance.dsar.services import dsar_fulfil

    with transaction.atomic():
        dsar = DataSubjectRequest.objects.select_for_update().select_related("subject").get(pk=dsar.pk)
        if dsar.status != DsarStatus.APPROVED or not fulfilled_by(dsar.type, Fulfilment.EXPORT):
            return None
        if DsarExport.objects.filter(dsar=dsar).exists():
            return dsar.export
        now = timezone.now()
        plaintext, counts = build_bundle(subject=dsar.subject, dsar=dsar, generated_at=now)
        export_id = uuid.uuid4()
        token = aead.encrypt(plaintext, associated_data=_associated_data(export_id))
        name = default_storage.save(f"dsar-exports/{export_id}.bin", ContentFile(token.encode("ascii")))
        export = DsarExport.objects.create(
            public_id=export_id,
            dsar=dsar,
            storage_name=name,
            sha256=hashlib.sha256(plaintext).hexdigest(),
            size_bytes=len(plaintext),
            tables=counts,
            created_at=now,
            expires_at=now + dt.timedelta(days=EXPORT_DAYS),
        )
        dsar_fulfil(
            actor=None,
            dsar=dsar,
            statement=(
                f"Your data export is ready: {sum(counts.values())} records from {len(counts)} tables. "
                f"Download it from the app (a recent one-time code is needed) until "
                f"{export.expires_at:%Y-%m-%d %H:%M} UTC."
            ),
        )
    return export


def export_read(*, export: DsarExport) -> bytes:
    """Decrypt the stored bundle and check it against the digest taken when it was made."""
    with default_storage.open(export.storage_name, "rb") as handle:
        token = handle.read().decode("ascii")
    plaintext = aead.decrypt(token, associated_data=_associated_data(export.public_id))
    if hashlib.sha256(plaintext).hexdigest() != export.sha256:
        raise aead.FieldDecryptionError("The export bundle does not match its digest.")
    return plaintext
