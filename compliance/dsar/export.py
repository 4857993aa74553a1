"""Access and portability: gather everything held about a subject, from the PI inventory.

No per-model code: every model registered in ``compliance.pi.registry`` says how its rows reach
the data subject (``subject``: "self" or a foreign-key path) and which fields are personal
information and exportable. This module walks that registry, so a new app's data is exported as
soon as it is annotated.

The bundle is a ZIP with one machine-readable JSON document (``data.json``), one CSV per table
and a human-readable ``README.txt`` (what each table is, why we hold it, for how long). It is
encrypted at rest (AES-256-GCM, bound to the export's id) and kept for seven days.

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
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone

from compliance.crypto import aead
from compliance.dsar.kinds import Fulfilment, fulfilled_by
from compliance.dsar.models import DataSubjectRequest, DsarExport, DsarStatus
from compliance.pi.inventory import is_product_model
from compliance.pi.registry import ModelEntry, registry
from compliance.retention.models import RetentionPolicy

EXPORT_DAYS = 7
FORMAT = "fintech-dsar-export/1"
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
            if field.is_relation and not hasattr(field.related_model, "public_id"):
                continue  # an internal id would mean nothing to the subject
            columns.append(field)
    return columns


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return None
    if isinstance(value, models.Model):
        return str(value.public_id) if hasattr(value, "public_id") else None
    return value


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
            tables[entry.label.lower()] = {"description": entry.description, "rows": rows}
    return tables


def _readme(subject: Any, tables: dict[str, dict[str, Any]], generated_at: dt.datetime) -> str:
    lines = [
        "Your personal information held by the platform",
        "=" * 46,
        f"Prepared {generated_at:%Y-%m-%d %H:%M} UTC under POPIA s23 (access) / portability.",
        "data.json holds everything in one machine-readable document; tables/*.csv one file per table.",
        "",
    ]
    # The periods in force: the officer-edited rows the purge and erasure read, not the declaration.
    policies = {policy.code: policy for policy in RetentionPolicy.objects.all()}
    for label, table in tables.items():
        entry = registry.get(label)
        lines.append(f"{label}: {len(table['rows'])} record(s). {table['description']}".rstrip())
        for name, annotation in (entry.annotations() if entry else {}).items():
            if not annotation.export:
                continue
            policy = policies.get(annotation.retention)
            kept = policy.describe_period() if policy else annotation.retention
            lines.append(
                f"  - {name}: {annotation.category} data, used for {', '.join(annotation.purposes)}; "
                f"lawful basis {annotation.lawful_basis}; kept {kept}."
            )
        lines.append("")
    lines.append("Questions or corrections: file a request in the app or write to the Information Officer.")
    return "\n".join(lines) + "\n"


def build_bundle(*, subject: Any, dsar: DataSubjectRequest, generated_at: dt.datetime) -> tuple[bytes, dict[str, int]]:
    tables = collect(subject)
    document = {
        "format": FORMAT,
        "subject": str(subject.public_id),
        "request": str(dsar.public_id),
        "generated_at": generated_at.isoformat(),
        "tables": tables,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("data.json", json.dumps(document, indent=1, ensure_ascii=False))
        for label, table in tables.items():
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=list(table["rows"][0]))
            writer.writeheader()
            writer.writerows(table["rows"])
            bundle.writestr(f"tables/{label}.csv", text.getvalue())
        bundle.writestr("README.txt", _readme(subject, tables, generated_at))
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
