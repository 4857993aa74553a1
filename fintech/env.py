"""Typed readers for environment variables.

Settings come only from the environment (12-factor). Every helper fails loudly with
``ImproperlyConfigured`` naming the variable, so a typo in a deploy manifest stops the process
at start-up instead of running with a silent default. Any variable ``NAME`` may instead be given
as ``NAME_FILE`` pointing at a file (Docker/Kubernetes secrets), so secrets need not sit in the
process environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points at an unreadable file") from exc
    return os.environ.get(name)


def env_str(name: str, default: str | object = _MISSING) -> str:
    value = _raw(name)
    if value is None:
        if default is _MISSING:
            raise ImproperlyConfigured(f"Set the {name} environment variable (or {name}_FILE).")
        return default  # type: ignore[return-value]
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off).")


def env_int(name: str, default: int | object = _MISSING) -> int:
    value = _raw(name)
    if value is None:
        if default is _MISSING:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default  # type: ignore[return-value]
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer.") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]
