"""System check: every admin screen that shows a PI field masks it (issues 15 and 17).

A registered ModelAdmin whose list or change view shows a masked field of the PI inventory
(``compliance.pi.masking.masked_fields``) must be a ``PIMaskedAdmin`` (compliance/audit/admin.py),
and an inline that does must be a ``PIMasking``; otherwise ``manage.py check`` fails with
compliance.E130.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.checks import Error, Tags, register

from compliance.audit.admin import PIMaskedAdmin, PIMasking
from compliance.pi.masking import masked_fields


def shown_fields(model_admin: Any) -> set[str] | None:
    """The field names an admin (or inline) declares on its list and change views (None: every field)."""
    names = {str(item) for item in getattr(model_admin, "list_display", ()) if isinstance(item, str)}
    names |= {str(item) for item in model_admin.readonly_fields}
    if model_admin.fieldsets:
        names |= set(flatten_fieldsets(model_admin.fieldsets))
    elif model_admin.fields:
        names |= set(flatten_fieldsets([(None, {"fields": model_admin.fields})]))
    else:
        return None  # Django's default form: every editable field
    return names


def displayed_pi(model_admin: Any) -> list[str]:
    """The inventory's (masked) PI fields ``model_admin`` shows."""
    model = model_admin.model
    shown = shown_fields(model_admin)
    excluded = set(model_admin.exclude or ())
    found = []
    for name in masked_fields(model):
        if name in excluded:
            continue
        if (shown is None and getattr(model._meta.get_field(name), "editable", False)) or (shown and name in shown):
            found.append(name)
    return found


@register(Tags.admin)
def check_pi_admins_mask(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for model_admin in admin.site._registry.values():
        # The registered instance (it knows its model) and its inline classes (they declare theirs).
        screens: list[tuple[Any, type]] = [(model_admin, PIMaskedAdmin)]
        screens += [(inline, PIMasking) for inline in model_admin.inlines]
        for screen, mixin in screens:
            kind = screen if isinstance(screen, type) else type(screen)
            if issubclass(kind, mixin):
                continue
            pi = displayed_pi(screen)
            if pi:
                errors.append(
                    Error(
                        f"{kind.__name__} shows PI fields of {screen.model._meta.label} ({', '.join(pi)}) "
                        "without masking them.",
                        hint=f"Put compliance.audit.admin.{mixin.__name__} first in its bases.",
                        obj=kind,
                        id="compliance.E130",
                    )
                )
    return errors
