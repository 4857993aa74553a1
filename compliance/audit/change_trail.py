"""django-auditlog as the field-level change trail shown in the admin, configured safely.

django-auditlog's defaults are wrong for us (see DEPENDENCIES.md): its mask hides only half a
value, ``AUDITLOG_INCLUDE_ALL_MODELS`` would log TOTP secrets in clear, its middleware trusts
``X-Forwarded-For`` and records no actor under DRF + JWT, and it copies the actor's e-mail into
every entry. Here:
- models are registered one by one with ``register_change_trail``; PI fields (the same rule as
  the audit trail, ``compliance.audit.pi_fields_for``) are masked *fully* and credentials are
  excluded outright; OTP/TOTP models are refused;
- ``AuditlogContextMiddleware`` (compliance/middleware.py) supplies the actor lazily (resolved
  when an entry is written, i.e. after DRF authenticated the request) and the client address
  through trusted proxies only; the actor's e-mail is never copied.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditlog.registry import auditlog
from django.db import models

from compliance.audit.services import pi_fields_for
from compliance.pi.masking import mask_full

# Never worth a diff, even masked: hashes and volatile bookkeeping.
ALWAYS_EXCLUDED = ("password", "last_login")
_REFUSED_APPS = ("otp_totp", "otp_static", "otp_email", "otp_hotp", "django_otp")


def mask_fully(value: str) -> str:
    """django-auditlog mask callable (a dotted path it imports): nothing of the value survives
    (its default keeps half). The format is the one masking helper's (compliance/pi/masking.py)."""
    return mask_full(value)


def register_change_trail(
    model: type[models.Model], *, pi_fields: Iterable[str] = (), exclude: Iterable[str] = ()
) -> None:
    """Track ``model``'s field changes in django-auditlog with PI masked and secrets excluded."""
    if model._meta.app_label in _REFUSED_APPS:
        raise ValueError("OTP device models hold secrets and are never change-tracked.")
    excluded = [name for name in (*ALWAYS_EXCLUDED, *exclude) if _has_field(model, name)]
    masked = sorted((pi_fields_for(model) | set(pi_fields)) - set(excluded))
    auditlog.register(model, exclude_fields=excluded, mask_fields=masked, mask_callable=f"{__name__}.mask_fully")


def _has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:  # noqa: BLE001 - FieldDoesNotExist; the name simply does not apply
        return False
    return True
