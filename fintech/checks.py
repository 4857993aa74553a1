"""Start-up refusals for production and system checks for compliance-critical configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from fintech.settings.base import DEFAULT_SECRET_KEY


def production_refusals(*, debug: bool, secret_key: str, databases: dict, redis_url: str) -> None:
    """Raise ImproperlyConfigured when production settings are unsafe. Called by prod settings."""
    if debug:
        raise ImproperlyConfigured("DEBUG must be off in production (unset DJANGO_DEBUG).")
    if not secret_key or secret_key == DEFAULT_SECRET_KEY or secret_key.startswith("django-insecure"):
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) to a real secret.")
    if len(secret_key) < 50 or len(set(secret_key)) < 5:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters of real entropy.")
    if not databases or databases["default"].get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured("Production runs on PostgreSQL: set DATABASE_URL=postgres://...")
    if not redis_url:
        raise ImproperlyConfigured("Production needs Redis (cache and Celery broker): set REDIS_URL.")


@register(Tags.security)
def check_logging_redacts_pii(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every configured log handler must run the PII redaction filter (POPIA s19)."""
    errors = []
    filters = settings.LOGGING.get("filters", {})
    redacting = {name for name, spec in filters.items() if spec.get("()") == "compliance.redaction.PIIRedactionFilter"}
    for name, handler in settings.LOGGING.get("handlers", {}).items():
        if not redacting.intersection(handler.get("filters", [])):
            errors.append(
                Error(
                    f"Log handler '{name}' does not run the PII redaction filter.",
                    hint="Add 'redact_pii' to its filters.",
                    id="fintech.E001",
                )
            )
    return errors


@register()
def check_utc(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Audit timestamps and deadlines are computed in UTC with aware datetimes."""
    if settings.TIME_ZONE != "UTC" or not settings.USE_TZ:
        return [Error("TIME_ZONE must be 'UTC' and USE_TZ True.", id="fintech.E002")]
    return []
