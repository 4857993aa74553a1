"""System checks for compliance-critical configuration (start-up refusals: fintech/settings/refusals.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def check_logging_redacts_pii(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every configured log handler must run the PII redaction filter (POPIA s19)."""
    errors = []
    logging_config: dict[str, Any] = settings.LOGGING  # django-stubs: dict[str, object]
    filters = logging_config.get("filters", {})
    redacting = {name for name, spec in filters.items() if spec.get("()") == "kernel.redaction.PIIRedactionFilter"}
    for name, handler in logging_config.get("handlers", {}).items():
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
