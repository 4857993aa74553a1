"""System checks for the field-encryption keys.

compliance.E109  the key provider cannot be built (missing or malformed keys)
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security)
def check_field_keys(app_configs: Any, **kwargs: Any) -> list[Error]:
    from compliance.crypto.keys import get_key_provider

    try:
        get_key_provider()
    except ImproperlyConfigured as exc:
        return [Error(f"Field-encryption keys are not usable: {exc}", id="compliance.E109")]
    return []
