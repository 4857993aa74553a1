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
exported as that person's role only (``Information Officer``, ``another person``),
never their id, name or e-mail (``_person``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import hashlib
import hmac
import io
import json
import re
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections, models, transaction
from django.db.models import CharField, Q, TextField
from django.db.models.expressions import Func
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.text import capfirst

from compliance.audit.labels import action_label
from compliance.audit.models import AuditEvent
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
# zlib's fastest level: the bundle is encrypted and kept seven days, and level 6 took a third of
# an export's time for about a fifth less size (docs/BENCHMARKS.md, "DSAR export").
COMPRESS_LEVEL = 1
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
            roles_seen[user.pk] = role_names(names)
        else:
            roles_seen[user.pk] = "another person"
    return roles_seen[user.pk]


# --- Reading the subject's tables: one query per table, no model instances ----------------------
# Values come from ``values_list`` over a server-side cursor: Django applies each field's own
# ``from_db_value``, so encrypted fields are decrypted by the field (whatever key scheme it uses),
# exactly as loading the model would. The one exception is Django's own timestamp and UUID fields,
# which have no conversion of their own: PostgreSQL renders them as the text the export writes
# (``_as_text``). Related records are read in the same query (their public id, or the columns
# their ``export_reference_fields`` name); people other than the subject are resolved once per
# export (``_people``), never per row.
_PASSTHROUGH = frozenset({str, int, bool, type(None)})
_CHUNK = 5000


def _cells(values: Iterable[Any]) -> list[Any]:
    """``_plain`` of each value, skipping the call for the types it returns unchanged."""
    passthrough = _PASSTHROUGH
    return [value if type(value) in passthrough else _plain(value) for value in values]


def _people(user_ids: set[Any], subject: Any) -> dict[Any, str]:
    """``_person`` of each user id, from two queries for all of them (never a row's worth of users)."""
    from django.contrib.auth import get_user_model

    names: dict[Any, str] = {}
    if subject.pk in user_ids:
        names[subject.pk] = str(subject.public_id)
    others = user_ids - {subject.pk}
    if not others:
        return names
    user_model = get_user_model()
    staff = set(user_model._base_manager.filter(pk__in=others, is_staff=True).values_list("pk", flat=True))
    groups: dict[Any, list[str]] = {pk: [] for pk in staff}
    if staff:
        field = cast(models.ManyToManyField, user_model._meta.get_field("groups"))  # PermissionsMixin's
        through: Any = field.remote_field.through
        user_column, group_column = field.m2m_field_name(), field.m2m_reverse_field_name()
        for pk, name in through.objects.filter(**{f"{user_column}__in": staff}).values_list(
            f"{user_column}_id", f"{group_column}__name"
        ):
            groups[pk].append(name)
    for pk in others:
        if pk in staff:
            names[pk] = role_names(groups[pk])
        else:
            names[pk] = "another person"
    return names


class _IsoTimestamp(Func):
    """A timestamp as the text ``value.isoformat()`` gives for the aware UTC datetime Django reads
    (``2026-01-02T03:04:05.000006+00:00``; no fraction when the microseconds are 0), rendered by
    PostgreSQL in the query that reads it."""

    output_field = TextField()
    _WHOLE = 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'
    _FRACTION = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        inner, params = compiler.compile(self.source_expressions[0])
        utc = f"(({inner}) AT TIME ZONE 'UTC')"
        return (
            f"to_char({utc}, CASE WHEN date_trunc('second', {utc}) = {utc} THEN %s ELSE %s END)",
            [*params, *params, *params, self._WHOLE, self._FRACTION],
        )


def _renders_text(using: str) -> bool:
    """Whether the database renders timestamps and UUIDs as the export's text (``_as_text``): PostgreSQL,
    read in UTC (the datetimes Django would return are UTC, so their ``isoformat()`` ends in +00:00)."""
    connection = connections[using]
    return connection.vendor == "postgresql" and settings.USE_TZ and connection.timezone_name == "UTC"


def _as_text(path: str, field: models.Field) -> Func | None:
    """The expression that reads ``path`` (a ``field``) as the text the export writes for it, or None
    when Python must convert it. Only Django's own timestamp and UUID fields: a subclass (an
    encrypted field) decodes its own values through ``from_db_value``, never bypassed."""
    if type(field) is models.DateTimeField:
        return _IsoTimestamp(path)
    if type(field) is models.UUIDField:
        return Cast(path, TextField())
    return None


class _Reader:
    """How one table of the subject is read: the value paths of one query, and how each exported
    column is made from the values read."""

    def __init__(self, entry: ModelEntry, subject: Any) -> None:
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        self.entry, self.subject = entry, subject
        self.columns = export_columns(entry)
        self.queryset = subject_rows(entry, subject).order_by("pk")
        # Timestamps and UUIDs are ~half of the values read (every posting, entry and audit event
        # has them): PostgreSQL renders them as the export's text in the same query, which costs
        # it far less than Python's parsing them into objects and formatting them again
        # (docs/BENCHMARKS.md, "DSAR export"). Byte-identical: test_dsar_export_encoding.py.
        text = _renders_text(self.queryset.db)
        self.rendered: dict[str, Func] = {}
        self.paths: list[str] = []
        # Per column: (kind, first value index, extra); kinds: plain, text (rendered by the database),
        # person, reference, fetched, public_id.
        self.plan: list[tuple[str, int, Any]] = []
        for column in self.columns:
            at = len(self.paths)
            related: Any = column.related_model if column.is_relation else None
            if related is None:
                rendered = self._path(column.name, column, text)
                self.plan.append(("text" if rendered else "plain", at, None))
            elif related is user_model:
                self.paths.append(column.attname)
                self.plan.append(("person", at, None))
            elif hasattr(related, "export_reference") and hasattr(related, "export_reference_fields"):
                fields = related.export_reference_fields
                self.paths.append(column.attname)
                for name in fields:
                    self._path(f"{column.name}__{name}", related._meta.get_field(name), text)
                self.plan.append(("reference", at, (related, len(fields))))
            elif hasattr(related, "export_reference"):
                self.paths.append(column.attname)
                self.plan.append(("fetched", at, column))
            else:  # a related model with a public id (export_columns keeps no other relation)
                rendered = self._path(f"{column.name}__public_id", related._meta.get_field("public_id"), text)
                self.plan.append(("text" if rendered else "public_id", at, None))
        self.values: list[tuple[Any, ...]] = []

    def _path(self, path: str, field: models.Field, text: bool) -> bool:
        """Read ``path``: as text rendered by the database when it can (True), else as Django reads it."""
        expression = _as_text(path, field) if text else None
        if expression is None:
            self.paths.append(path)
            return False
        alias = f"_export_text_{len(self.rendered)}"
        self.rendered[alias] = expression
        self.paths.append(alias)
        return True

    def read(self) -> None:
        queryset = self.queryset.annotate(**self.rendered).values_list(*self.paths)
        self.values = list(queryset.iterator(chunk_size=_CHUNK))

    def person_ids(self) -> set[Any]:
        found: set[Any] = set()
        for kind, at, _ in self.plan:
            if kind == "person":
                found.update(row[at] for row in self.values)
        found.discard(None)
        return found

    def rows(self, people: dict[Any, str]) -> list[tuple[Any, ...]]:
        """The exported rows, each a tuple in ``self.columns`` order (built column by column)."""
        if not self.values:
            return []
        by_path = list(zip(*self.values, strict=True))
        columns: list[Iterable[Any]] = []
        for kind, at, extra in self.plan:
            values = by_path[at]
            if kind == "text":
                columns.append(values)
            elif kind == "plain":
                columns.append(_cells(values))
            elif kind == "person":
                columns.append([None if pk is None else people[pk] for pk in values])
            elif kind == "public_id":
                columns.append([None if value is None else str(value) for value in values])
            elif kind == "reference":
                model, width = extra
                make = model.export_reference_of
                parts = by_path[at + 1 : at + 1 + width]
                columns.append([None if pk is None else make(*rest) for pk, *rest in zip(values, *parts, strict=True)])
            else:  # "fetched": the related model names itself; one query, each distinct record once
                field = extra
                wanted = {pk for pk in values if pk is not None}
                target = field.target_field.name
                found = field.related_model._base_manager.in_bulk(wanted, field_name=target) if wanted else {}
                references = {pk: record.export_reference() for pk, record in found.items()}
                columns.append([None if pk is None else references[pk] for pk in values])
        return list(zip(*columns, strict=True))


def _tables(subject: Any) -> dict[str, dict[str, Any]]:
    """Every annotated table of the subject that has rows: {label: name, description, columns, rows
    (tuples in column order)}."""
    readers = []
    for entry in registry:
        if not is_product_model(entry) or not entry.subject:
            continue
        reader = _Reader(entry, subject)
        reader.read()
        if reader.values:
            readers.append(reader)
    people = _people(set().union(*(reader.person_ids() for reader in readers)), subject)
    return {
        reader.entry.label.lower(): {
            "name": capfirst(str(reader.entry.model._meta.verbose_name_plural)),
            "description": reader.entry.description,
            "columns": [column.name for column in reader.columns],
            "rows": reader.rows(people),
        }
        for reader in readers
    }


def table_rows(entry: ModelEntry, subject: Any) -> Iterator[dict[str, Any]]:
    """The subject's rows of one table as exported: {column: value}."""
    reader = _Reader(entry, subject)
    reader.read()
    people = _people(reader.person_ids(), subject)
    names = [column.name for column in reader.columns]
    for row in reader.rows(people):
        yield dict(zip(names, row, strict=True))


def collect(subject: Any) -> dict[str, dict[str, Any]]:
    """Every annotated table of the subject that has rows, each row a {column: value} dict."""
    return {
        label: {
            "name": table["name"],
            "description": table["description"],
            "rows": [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]],
        }
        for label, table in _tables(subject).items()
    }


# --- Who accessed your data (POPIA s23(1)(b)): the audit trail about the subject ------------------
def _about_subject(subject: Any) -> Q:
    """Audit events about any of the subject's records (named by primary key or public id), as one
    condition: subqueries per table, so the database matches them, not a list of ids built here."""
    about = Q()
    for entry in registry:
        if not is_product_model(entry) or not entry.subject:
            continue
        rows = subject_rows(entry, subject)
        ids = Q(object_id__in=rows.annotate(_as_text=Cast("pk", CharField())).values("_as_text"))
        if any(f.name == "public_id" for f in entry.model._meta.concrete_fields):
            ids |= Q(object_id__in=rows.annotate(_as_text=Cast("public_id", CharField())).values("_as_text"))
        about |= Q(object_type__iexact=entry.label) & ids
    return about


def _staff_reference(user_id: int) -> str:
    """A stable reference to a staff member that identifies them to the Information Officer (who
    holds the key) and to no one else: never their name, e-mail or account id."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"staff-reference|{user_id}".encode(), hashlib.sha256)
    return f"staff-{digest.hexdigest()[:12]}"


def who_accessed(subject: Any, *, until: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every audited action or read about the subject's records by someone other than the subject:
    when, who (role and a reference), what, about which record and for what purpose."""
    events = AuditEvent.objects.filter(_about_subject(subject)).exclude(user=subject).order_by("timestamp", "id")
    if until is not None:
        events = events.filter(timestamp__lte=until)
    found = list(
        events.values_list("timestamp", "user_id", "action", "object_type", "change_diff").iterator(chunk_size=_CHUNK)
    )
    people = _people({user_id for _, user_id, *_ in found if user_id is not None}, subject)
    references = {user_id: _staff_reference(user_id) for user_id in people}
    labels = {entry.label.lower(): str(entry.model._meta.verbose_name) for entry in registry}
    rows = []
    for timestamp, user_id, action_code, object_type, change_diff in found:
        diff = change_diff if isinstance(change_diff, dict) else {}
        if user_id is None:
            who, reference = "the platform (automatic)", ""
        else:
            who, reference = people[user_id], references[user_id]
        action = action_label(action_code)
        step = _status_move(diff)
        fields = diff.get("fields")
        rows.append(
            {
                "when": timestamp.isoformat(),
                "who": who,
                "staff_reference": reference,
                "action": f"{action}: {step}" if step else action,
                "about": labels.get(object_type.lower(), object_type),
                "purpose": _access_purpose(action_code, diff),
                "fields": sorted(field_name(object_type, str(f)) for f in fields) if isinstance(fields, list) else [],
            }
        )
    return rows


def _access_purpose(action_code: str, diff: dict[str, Any]) -> str:
    """Why it was done, in words: the reason staff gave (a reveal's), or what the step served. A
    request's own steps are recorded with their workflow kind ("transition"), which says nothing to
    the subject."""
    if diff.get("purpose"):
        return str(diff["purpose"])
    if action_code.startswith("DSAR_"):
        return "handling your request"
    return str(diff.get("kind") or "")


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
    return capfirst(str(entry.model._meta.verbose_name_plural)) if entry else label


def _purpose_name(code: str) -> str:
    return PURPOSES[code].name if code in PURPOSES else code


def _field_name(entry: ModelEntry, name: str) -> str:
    return capfirst(field_name(entry.label, name))


def field_name(label: str, column: str) -> str:
    """A column in words, as the subject reads it in a sentence ("ID number", "source IP address"):
    the field's verbose name, which carries its own capitals; the column in words if unknown."""
    entry = registry.get(label)
    if entry is not None:
        try:
            verbose = getattr(entry.model._meta.get_field(column), "verbose_name", None)
        except FieldDoesNotExist:
            verbose = None
        if verbose:
            return str(verbose)
    return column.replace("_", " ")


def role_names(groups: Iterable[str]) -> str:
    """A staff member as the subject sees them: their roles in words ("Information Officer"), never
    a group code; "Staff" when they hold none."""
    return ", ".join(sorted(name.replace("_", " ").title() for name in groups)) or "Staff"


_POLICY_PERIOD = re.compile(r"\bthe ([a-z0-9_]+) period\b")


def policies_in_words(text: str, policies: dict[str, RetentionPolicy]) -> str:
    """The inventory's texts name retention policies by code ("for the audit_trail period"); the
    subject reads the period ("for the retention period (5 years after the event)")."""

    def period(match: re.Match[str]) -> str:
        policy = policies.get(match.group(1))
        return f"the retention period ({policy.describe_period()})" if policy else match.group(0)

    return _POLICY_PERIOD.sub(period, text)


def data_dictionary(tables: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per exported column: what it means and, for personal information, why we hold it."""
    policies = {policy.code: policy for policy in RetentionPolicy.objects.all()}
    rows: list[dict[str, Any]] = []
    for label, table in tables.items():
        entry = registry.get(label)
        if entry is None or not table["rows"]:
            continue
        annotations = entry.annotations()
        for column in table["columns"]:
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
                    description=policies_in_words(annotation.description, policies),
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
        description = policies_in_words(table["description"], policies)
        lines.append(f"{table['name']} ({len(table['rows'])} record(s)): {description}".rstrip())
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


# --- Writing the bundle ---------------------------------------------------------------------------
# The documents are written into the ZIP entry by entry, table by table, as they are encoded. The
# encoders below produce exactly what ``json.dumps(..., indent=1, ensure_ascii=False, default=str)``
# and ``csv_cell`` produce (tests/compliance/dsar/test_dsar_export_encoding.py compares them), only
# without the standard library's pure-Python indenting encoder on every value.
_encode_text = json.encoder.encode_basestring  # the C implementation when available


_JSON_SIMPLE: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}


def _json_text(value: Any, level: int) -> str:
    """``json.dumps(value, indent=1, ensure_ascii=False, default=str)`` for a value nested ``level``
    deep (its lines indented as the standard encoder indents them at that depth)."""
    kind = type(value)
    if kind is str:
        return _encode_text(value)
    if kind in _JSON_SIMPLE:
        return _JSON_SIMPLE[kind](value)
    if kind is list or (kind is dict and all(type(key) is str for key in value)):
        return _json_container(value, level)
    # Floats, tuples, dicts with other keys, other types (default=str): the standard encoder.
    text = json.dumps(value, indent=1, ensure_ascii=False, default=str)
    return text.replace("\n", "\n" + " " * level) if level else text


def _json_container(value: dict[str, Any] | list[Any], level: int) -> str:
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    inner = "\n" + " " * (level + 1)
    if isinstance(value, dict):
        encode, deeper = _encode_text, level + 1
        # Text values (most of a reference's or an audit diff's) encoded inline: no call per item.
        items = [
            encode(key) + ": " + (encode(item) if type(item) is str else _json_text(item, deeper))
            for key, item in value.items()
        ]
        return "{" + inner + ("," + inner).join(items) + "\n" + " " * level + "}"
    items = [_json_text(item, level + 1) for item in value]
    return "[" + inner + ("," + inner).join(items) + "\n" + " " * level + "]"


class _Rows:
    """A table's rows for the JSON encoder: a list of {column: value} objects, kept as tuples."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns, self.rows = columns, rows


def _json_chunks(value: Any, level: int = 0) -> Iterator[str]:
    """``_json_text(value, level)`` in chunks: the dicts and lists that hold a table's rows are
    written as they are encoded, a few thousand rows at a time."""
    if isinstance(value, _Rows):
        yield from _rows_json(value, level)
    elif type(value) is dict and value and all(type(key) is str for key in value):
        inner = "\n" + " " * (level + 1)
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield (inner if index == 0 else "," + inner) + _encode_text(key) + ": "
            yield from _json_chunks(item, level + 1)
        yield "\n" + " " * level + "}"
    elif type(value) is list and value:
        inner = "\n" + " " * (level + 1)
        yield "["
        for index, item in enumerate(value):
            yield inner if index == 0 else "," + inner
            yield from _json_chunks(item, level + 1)
        yield "\n" + " " * level + "]"
    else:
        yield _json_text(value, level)


def _json_column(values: Iterable[Any], level: int) -> list[str]:
    """The JSON text of each value of one column, for values nested ``level`` deep."""
    encode = _encode_text
    return [
        encode(value) if (kind := type(value)) is str
        else "null" if value is None
        else int.__repr__(value) if kind is int
        else ("true" if value else "false") if kind is bool
        else _json_text(value, level)
        for value in values
    ]  # fmt: skip


def _rows_json(table: _Rows, level: int, rows_per_chunk: int = 2000) -> Iterator[str]:
    if not table.columns:
        yield _json_text([{} for _ in table.rows], level)
        return
    if not table.rows:
        yield "[]"
        return
    row_indent = "\n" + " " * (level + 1)
    # One row: "{" newline, then each '"column": value' on its own line, then "}" (indent=1).
    template = (
        "{"
        + ",".join(row_indent + " " + _encode_text(column).replace("%", "%%") + ": %s" for column in table.columns)
        + row_indent
        + "}"
    )
    yield "[" + row_indent
    for start in range(0, len(table.rows), rows_per_chunk):
        rows = table.rows[start : start + rows_per_chunk]
        texts = zip(*(_json_column(column, level + 2) for column in zip(*rows, strict=True)), strict=True)
        yield ("," + row_indent if start else "") + ("," + row_indent).join([template % row for row in texts])
    yield "\n" + " " * level + "]"


def _entry(name: str) -> zipfile.ZipInfo:
    """A ZIP entry as ``ZipFile.writestr`` makes one (date, compression, permissions), for writing
    through ``ZipFile.open``."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  # what ZipFile.writestr copies too
    info.external_attr = 0o600 << 16
    return info


def _write_json(bundle: zipfile.ZipFile, name: str, document: Any) -> None:
    with bundle.open(_entry(name), "w") as handle:
        pending: list[str] = []
        size = 0
        for chunk in _json_chunks(document):
            pending.append(chunk)
            size += len(chunk)
            if size > 1 << 16:
                handle.write("".join(pending).encode())
                pending, size = [], 0
        handle.write("".join(pending).encode())


# ``json.dumps(value, ensure_ascii=False, sort_keys=True)`` (``csv_cell``) without building an encoder
# for every cell: dumps makes a new JSONEncoder per call when given arguments.
_csv_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def _csv_column(values: Iterable[Any]) -> list[str]:
    """``csv_cell`` of each value of one column, with the common types done inline (same text)."""
    encode = _csv_json
    return [
        value if (kind := type(value)) is str
        else "null" if value is None
        else int.__repr__(value) if kind is int
        else ("true" if value else "false") if kind is bool
        else encode(value)
        for value in values
    ]  # fmt: skip


# What makes csv.writer (the excel dialect, QUOTE_MINIMAL) quote a cell: the delimiter, the quote
# character or a line-terminator character in it.
_CSV_QUOTE_WHEN = re.compile(r'[,"\r\n]')


def _csv_lines(columns: list[list[str]]) -> str:
    """The lines ``csv.writer().writerows`` writes for these rows of text cells (given column by
    column, two columns or more): the cells joined by commas, the ones that need it quoted (quotes
    doubled). The C writer examines every character of every cell; here a column is scanned once,
    and only a column with a character to quote is gone through cell by cell."""
    needs = _CSV_QUOTE_WHEN.search
    written = []
    for cells in columns:
        joined = "".join(cells)
        if "," in joined or '"' in joined or "\r" in joined or "\n" in joined:
            written.append(['"' + cell.replace('"', '""') + '"' if needs(cell) else cell for cell in cells])
        else:
            written.append(cells)
    return "\r\n".join(map(",".join, zip(*written, strict=True))) + "\r\n"


def _write_csv(
    bundle: zipfile.ZipFile, name: str, columns: list[str], rows: list[tuple[Any, ...]], rows_per_chunk: int = 2000
) -> None:
    """A CSV entry: the header and one line per row (an empty file when there are no columns)."""
    with bundle.open(_entry(name), "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        if columns:
            writer = csv.writer(text)
            writer.writerow(columns)
            for start in range(0, len(rows), rows_per_chunk):
                chunk = rows[start : start + rows_per_chunk]
                cells = [_csv_column(column) for column in zip(*chunk, strict=True)]
                if len(cells) > 1:
                    text.write(_csv_lines(cells))
                else:  # one column: csv.writer's own rule for a row of one empty cell ('""')
                    writer.writerows(zip(*cells, strict=True))


def _write_dict_rows_csv(bundle: zipfile.ZipFile, name: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0]) if rows else []
    _write_csv(bundle, name, columns, [tuple(row[column] for column in columns) for row in rows])


def portability_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(PORTABILITY_SCHEMA.read_text())
    return loaded


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector off while a bundle is built, back as it was afterwards.

    A bundle holds every row it read (tuples, the JSON documents, the reference dicts: ~100,000
    objects for a subject with 10,000 postings) until it is written, and the collector's young
    generations filled by them triggered ~200 collections and a full one per export that walked
    them all again and found nothing: 15-20% of the export's CPU (docs/BENCHMARKS.md, "DSAR
    export"). Reference counting still frees everything as usual; a cycle made meanwhile (a
    query's internals, say) waits for the first collection after the build. Process-wide, like
    the setting: another thread's cycles wait too, for as long as a build takes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_bundle(*, subject: Any, dsar: DataSubjectRequest, generated_at: dt.datetime) -> tuple[bytes, dict[str, int]]:
    with _cycle_collection_paused():
        return _build_bundle(subject=subject, dsar=dsar, generated_at=generated_at)


def _build_bundle(*, subject: Any, dsar: DataSubjectRequest, generated_at: dt.datetime) -> tuple[bytes, dict[str, int]]:
    tables = _tables(subject)
    portability = kind_for(dsar.type).export_format == "portability"
    dictionary = data_dictionary(tables)
    accessed = [] if portability else who_accessed(subject, until=generated_at)
    records = {
        label: {
            "name": table["name"],
            "description": table["description"],
            "rows": _Rows(table["columns"], table["rows"]),
        }
        for label, table in tables.items()
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as bundle:
        if portability:
            document: dict[str, Any] = {
                "format": PORTABILITY_FORMAT,
                "subject": str(subject.public_id),
                "generated_at": generated_at.isoformat(),
                "records": records,
            }
            _write_json(bundle, "portability.json", document)
            bundle.writestr("portability.schema.json", PORTABILITY_SCHEMA.read_text())
        else:
            document = {
                "format": FORMAT,
                "subject": str(subject.public_id),
                "request": str(dsar.public_id),
                "generated_at": generated_at.isoformat(),
                "tables": records,
                "who_accessed": accessed,
            }
            _write_json(bundle, "data.json", document)
            _write_dict_rows_csv(bundle, "who_accessed.csv", accessed)
        for label, table in tables.items():
            _write_csv(bundle, f"tables/{label}.csv", table["columns"], table["rows"])
        _write_json(bundle, "data_dictionary.json", dictionary)
        _write_dict_rows_csv(bundle, "data_dictionary.csv", dictionary)
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
