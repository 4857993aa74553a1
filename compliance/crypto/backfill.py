"""Data-migration helpers: encrypt columns that were plaintext, and back again.

A schema migration that turns a plain column into an ``Encrypted*Field`` leaves the existing values
in clear (PostgreSQL casts varchar/date to text, SQLite copies the table). The data migration after
it calls ``encrypt_existing_rows`` to encrypt them in place and compute the blind indexes; its
reverse, ``decrypt_existing_rows``, restores plaintext so the schema migration can be reversed.

Why raw SQL: the historical model already declares the encrypted field, so reading a plaintext
value through the ORM would try (and fail) to decrypt it. Rows are read and written by primary key
in batches, through the *historical* fields (their associated data is the same
``app_label.model.field`` the live model uses).

Idempotent: a value that already is an encrypted token is left alone (and decrypted only to
recompute its index), so a migration interrupted half-way can simply be run again. A plaintext
value can never look like a token: tokens are ``v<digits>:<base64>``, which no e-mail address,
name, ID or account number, ISO date or base32 TOTP secret matches.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import models

from compliance.crypto import aead
from compliance.crypto.blind_index import blind_index
from compliance.crypto.fields import BlindIndexField, EncryptedField
from compliance.crypto.subject_keys import is_subject_token

BATCH = 500


def _is_token(value: Any) -> bool:
    return isinstance(value, str) and (aead._TOKEN.match(value) is not None or is_subject_token(value))


def _columns(model: type[models.Model], names: list[str]) -> tuple[list[EncryptedField], list[BlindIndexField]]:
    encrypted = [model._meta.get_field(name) for name in names]
    if not all(isinstance(field, EncryptedField) for field in encrypted):
        raise TypeError("encrypt_existing_rows only handles Encrypted*Field columns.")
    checked = cast(list[EncryptedField], encrypted)  # every item passed the isinstance check above
    indexes = [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, BlindIndexField) and field.source_field in names
    ]
    return checked, indexes


def _batches(schema_editor: Any, model: type[models.Model], columns: list[str]):
    quote = schema_editor.connection.ops.quote_name
    pk = model._meta.pk.column
    names = ", ".join(quote(c) for c in columns)
    # Identifiers come from the model's meta and are quoted; values are parameters.
    select = f"SELECT {quote(pk)}, {names} FROM {quote(model._meta.db_table)} WHERE {quote(pk)} > %s"  # noqa: S608
    select += f" ORDER BY {quote(pk)} LIMIT {BATCH}"
    last = -1
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(select, [last])
            rows = cursor.fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]


def _update(schema_editor: Any, model: type[models.Model], pk: Any, values: dict[str, Any]) -> None:
    quote = schema_editor.connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = %s" for column in values)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            # Identifiers come from the model's meta and are quoted; values are parameters.
            f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s",  # noqa: S608
            [*values.values(), pk],
        )


def _plain_python(field: EncryptedField, raw: Any, connection: Any) -> Any:
    """The Python value of a stored column value, whether it is already encrypted or not."""
    if raw is None:
        return None
    if _is_token(raw):
        return field.from_db_value(raw, None, connection)
    return field.parse_plaintext(raw if not isinstance(raw, bytes) else raw.decode("utf-8"))


def encrypt_existing_rows(apps: Any, schema_editor: Any, label: str, fields: list[str]) -> None:
    """Encrypt the plaintext values of ``fields`` of model ``label`` and (re)compute their indexes."""
    model = apps.get_model(label)
    encrypted, indexes = _columns(model, fields)
    connection = schema_editor.connection
    read = [f.column for f in encrypted]
    for rows in _batches(schema_editor, model, read):
        for pk, *raw_values in rows:
            plain = {f.name: _plain_python(f, raw, connection) for f, raw in zip(encrypted, raw_values, strict=True)}
            values: dict[str, Any] = {}
            for field, raw in zip(encrypted, raw_values, strict=True):
                if raw is not None and not _is_token(raw):
                    values[field.column] = field.get_prep_value(plain[field.name])
            for index in indexes:
                values[index.column] = blind_index(index.normaliser, plain[index.source_field])
            if values:
                _update(schema_editor, model, pk, values)


def decrypt_existing_rows(apps: Any, schema_editor: Any, label: str, fields: list[str]) -> None:
    """Reverse of ``encrypt_existing_rows``: plaintext back in the columns, indexes cleared."""
    model = apps.get_model(label)
    encrypted, indexes = _columns(model, fields)
    connection = schema_editor.connection
    for rows in _batches(schema_editor, model, [f.column for f in encrypted]):
        for pk, *raw_values in rows:
            values: dict[str, Any] = {index.column: None for index in indexes}
            for field, raw in zip(encrypted, raw_values, strict=True):
                if _is_token(raw):
                    value = field.from_db_value(raw, None, connection)
                    values[field.column] = None if value is None else field.plaintext_column(value)
            if values:
                _update(schema_editor, model, pk, values)
