"""Fixtures for the PI inventory and field-encryption tests."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from django.db import connection

from compliance.crypto.keys import FileKeyProvider, get_key_provider

SENTINELS = {
    "email": "Sentinel.Person@Example.COM",
    "id_number": "8001015009087",
    "phone": "082 555 0142",
    "address": "SENTINEL-ADDR 42 Sentinel Road, Sentinelton",
    "bank_account": "SENTINEL-BANK-62000012345",
    "nickname": "PlainNick",
}


def make_key_list(*pairs: tuple[int, bytes]) -> str:
    return ",".join(f"{version}:{base64.b64encode(key).decode()}" for version, key in pairs)


@pytest.fixture
def file_keys(settings, tmp_path) -> Iterator[FileKeyProvider]:
    """Switch the process to a fresh key-ring file (v1 of both rings); restored afterwards."""
    settings.FIELD_KEYS = {"PROVIDER": "file", "KEY_RING_FILE": str(tmp_path / "keys.json"), "CREATE_IF_MISSING": True}
    provider = get_key_provider()
    assert isinstance(provider, FileKeyProvider)
    yield provider


def raw_row(table: str, pk: int) -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" WHERE id = %s', [pk])  # noqa: S608 - table name is ours
        names = [column.name for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def raw_column(table: str, column: str) -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" ORDER BY id')  # noqa: S608 - names are ours
        return [row[0] for row in cursor.fetchall()]
