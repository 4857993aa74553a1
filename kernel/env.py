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
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
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


def failover_options(*, connect_timeout: int, statement_timeout_ms: int) -> dict[str, Any]:
    """libpq settings so that a dead, hung or demoted database node cannot hold a request.

    - ``connect_timeout``: a new connection to a node that does not answer (a SIGSTOPped primary,
      a lost machine) gives up after this many seconds instead of the kernel's ~2 minutes, so the
      next host of a multi-host URL, or the next attempt through the write endpoint, is tried;
    - TCP keepalives (idle 10 s, every 3 s, 3 probes) and ``tcp_user_timeout``: an idle pooled
      connection to a vanished host is found dead in ~20 s, and data left unacknowledged by
      the peer fails the query after the same time;
    - ``statement_timeout``: the server cancels any statement running longer (a lock held by a
      stuck session, a runaway query), below gunicorn's 30 s worker timeout so the app answers
      503 in the JSON shape before the worker would be killed.
    """
    return {
        "connect_timeout": connect_timeout,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 3,
        "keepalives_count": 3,
        "tcp_user_timeout": 20_000,
        "options": f"-c statement_timeout={statement_timeout_ms}",
    }


def database_config(
    url: str, *, connect_timeout: int | None = None, statement_timeout_ms: int | None = None, **options: Any
) -> dict[str, Any]:
    """Django's DATABASES entry for ``url``, including a multi-host PostgreSQL URL.

    With ``connect_timeout`` (seconds) and ``statement_timeout_ms`` a PostgreSQL entry also gets
    ``failover_options`` (merged with any ``options`` the URL's query string already sets).

    ``postgres://user@h1:5432,h2:5433/db?target_session_attrs=read-write`` becomes HOST "h1,h2"
    and PORT "5432,5433", which psycopg tries in order, keeping the first that accepts writes:
    after a failover the app follows the promoted standby (docs/ARCHITECTURE.md, failover drill).
    dj-database-url alone rejects such a URL. Bracketed IPv6 hosts are not supported in the list.
    """
    config = _parse_database_url(url, **options)
    if connect_timeout is not None and statement_timeout_ms is not None and "postgresql" in config["ENGINE"]:
        extra = failover_options(connect_timeout=connect_timeout, statement_timeout_ms=statement_timeout_ms)
        current = config.setdefault("OPTIONS", {})
        extra["options"] = " ".join(filter(None, [current.get("options", ""), extra["options"]]))
        current.update({key: value for key, value in extra.items() if key == "options" or key not in current})
    return config


def _parse_database_url(url: str, **options: Any) -> dict[str, Any]:
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return dict(dj_database_url.parse(url, **options))
    pairs = [host.rsplit(":", 1) if ":" in host else [host, "5432"] for host in hosts.split(",")]
    if any(not host or not port.isdigit() for host, port in pairs):
        raise ImproperlyConfigured("DATABASE_URL: every host of a multi-host URL needs the form host[:port].")
    first = f"{userinfo}{at}{pairs[0][0]}:{pairs[0][1]}"
    config = dict(dj_database_url.parse(urlunsplit(parts._replace(netloc=first)), **options))
    config["HOST"] = ",".join(host for host, _ in pairs)
    config["PORT"] = ",".join(port for _, port in pairs)
    return config
