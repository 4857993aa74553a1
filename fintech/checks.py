"""System checks for compliance-critical configuration (start-up refusals: fintech/settings/refusals.py)."""

from __future__ import annotations

import pathlib
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


@register(Tags.security)
def check_segregation_of_duties(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every staff service refuses staff acting on themselves, or says why it has no subject (fintech/duties.py)."""
    from fintech import duties

    messages = {
        "fintech.E003": (
            "Staff service {} checks a staff permission but never calls kernel.access.require_not_own.",
            "Guard it (staff must not act on their own account or data subject), or declare in "
            "fintech.duties.NO_SUBJECT why it has no subject.",
        ),
        "fintech.E004": (
            "fintech.duties.NO_SUBJECT names {}, which is not a staff service.",
            "Remove the stale declaration.",
        ),
    }
    return [
        Error(messages[check_id][0].format(name), hint=messages[check_id][1], id=check_id)
        for check_id, name in duties.problems(pathlib.Path(settings.BASE_DIR))
    ]
