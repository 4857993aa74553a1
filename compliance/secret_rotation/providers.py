"""Where platform-owned secrets live: one small interface, a local file and AWS Secrets Manager.

The platform keeps secrets it rotates itself (the JWT signing-key ring) through this interface, and
reads when externally held secrets (database, Redis credentials) were last changed from it.

Invariants:
- Secret values never reach logs, exceptions or the database; ``describe`` returns dates only.
- ``put_secret`` makes the new value current; Secrets Manager keeps the previous one as
  ``AWSPREVIOUS`` (and the file provider keeps nothing but the current value).
- ``rotate_secret`` writes a value produced by the caller's generator, so the generator decides
  what a valid secret looks like; both providers report the write time as ``rotated_at``.
- The file provider writes atomically (temp file + rename, mode 0600) under an exclusive lock, so
  two processes rotating at once never leave a torn file.
"""

from __future__ import annotations

import fcntl
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone


class SecretNotFound(KeyError):
    pass


class SecretsProviderError(Exception):
    pass


@dataclass(frozen=True)
class SecretDescription:
    name: str
    rotated_at: datetime | None
    version_id: str


class SecretsProvider(ABC):
    name = "abstract"

    @abstractmethod
    def get_secret(self, name: str) -> str: ...

    @abstractmethod
    def put_secret(self, name: str, value: str) -> str:
        """Store ``value`` as the current version; returns the version id."""

    @abstractmethod
    def describe(self, name: str) -> SecretDescription: ...

    def rotate_secret(self, name: str, generate: Callable[[str | None], str]) -> SecretDescription:
        """Replace the secret by ``generate(current value or None)`` and describe the new version."""
        try:
            current: str | None = self.get_secret(name)
        except SecretNotFound:
            current = None
        self.put_secret(name, generate(current))
        return self.describe(name)


class FileSecretsProvider(SecretsProvider):
    """A JSON file of ``{name: {"value", "version_id", "rotated_at"}}``, mode 0600 (dev, single host)."""

    name = "file"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def get_secret(self, name: str) -> str:
        entry = self._read().get(name)
        if entry is None:
            raise SecretNotFound(name)
        return entry["value"]

    def put_secret(self, name: str, value: str) -> str:
        with self._locked():
            data = self._read()
            version = int(data.get(name, {}).get("version_id", "0")) + 1
            data[name] = {"value": value, "version_id": str(version), "rotated_at": timezone.now().isoformat()}
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)
        return str(version)

    def describe(self, name: str) -> SecretDescription:
        entry = self._read().get(name)
        if entry is None:
            raise SecretNotFound(name)
        return SecretDescription(name, datetime.fromisoformat(entry["rotated_at"]), entry["version_id"])


class AwsSecretsManagerProvider(SecretsProvider):
    """AWS Secrets Manager: secrets named ``<prefix><name>``; versions staged AWSCURRENT/AWSPREVIOUS."""

    name = "aws"

    def __init__(self, *, region: str, prefix: str = "", client: Any = None) -> None:
        import boto3

        self.prefix = prefix
        self.client = client or boto3.client("secretsmanager", region_name=region)

    def _id(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _not_found(self, exc: Exception) -> bool:
        return getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException"

    def get_secret(self, name: str) -> str:
        try:
            return self.client.get_secret_value(SecretId=self._id(name))["SecretString"]
        except self.client.exceptions.ResourceNotFoundException:
            raise SecretNotFound(name) from None

    def put_secret(self, name: str, value: str) -> str:
        try:
            response = self.client.put_secret_value(SecretId=self._id(name), SecretString=value)
        except self.client.exceptions.ResourceNotFoundException:
            response = self.client.create_secret(Name=self._id(name), SecretString=value)
        return response["VersionId"]

    def describe(self, name: str) -> SecretDescription:
        try:
            described = self.client.describe_secret(SecretId=self._id(name))
        except self.client.exceptions.ResourceNotFoundException:
            raise SecretNotFound(name) from None
        current = next(
            (vid for vid, stages in described.get("VersionIdsToStages", {}).items() if "AWSCURRENT" in stages), ""
        )
        rotated_at = described.get("LastRotatedDate") or described.get("LastChangedDate")
        return SecretDescription(name, rotated_at, current)

    def previous_secret(self, name: str) -> str | None:
        """The value before the last rotation (``AWSPREVIOUS``), if Secrets Manager still has it."""
        try:
            return self.client.get_secret_value(SecretId=self._id(name), VersionStage="AWSPREVIOUS")["SecretString"]
        except self.client.exceptions.ResourceNotFoundException:
            return None


_providers: dict[str, SecretsProvider] = {}


def get_secrets_provider() -> SecretsProvider:
    """The configured provider (``settings.SECRETS_PROVIDER``), one instance per configuration."""
    config = settings.SECRETS_PROVIDER
    cache_key = json.dumps(config, sort_keys=True, default=str)
    provider = _providers.get(cache_key)
    if provider is None:
        kind = config.get("KIND", "file")
        if kind == "file":
            provider = FileSecretsProvider(config["FILE"])
        elif kind == "aws":
            provider = AwsSecretsManagerProvider(region=config["AWS_REGION"], prefix=config.get("AWS_PREFIX", ""))
        else:
            raise SecretsProviderError(f"Unknown SECRETS_PROVIDER {kind!r}: use 'file' or 'aws'.")
        _providers[cache_key] = provider
    return provider
