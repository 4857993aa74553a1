"""System checks of the role declarations (errors: ``manage.py check`` fails).

accounts.E001  a role names a permission no installed model declares (default or Meta.permissions)
accounts.E002  a permission is not written "app_label.codename"
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_permission_codename
from django.core.checks import Error, register

from accounts import roles


def declared_permissions() -> set[str]:
    """Every "app_label.codename" the installed models declare, as ``create_permissions`` makes them."""
    names: set[str] = set()
    for model in apps.get_models():
        opts = model._meta
        names.update(f"{opts.app_label}.{get_permission_codename(action, opts)}" for action in opts.default_permissions)
        names.update(f"{opts.app_label}.{codename}" for codename, _ in opts.permissions)
    return names


def check_role_permissions(role_permissions: dict[str, list[str]]) -> list[Error]:
    known = declared_permissions()
    errors: list[Error] = []
    for role, wanted in sorted(role_permissions.items()):
        for dotted in wanted:
            if dotted.count(".") != 1:
                errors.append(
                    Error(f"Role {role!r} names {dotted!r}, which is not 'app_label.codename'.", id="accounts.E002")
                )
            elif dotted not in known:
                errors.append(
                    Error(
                        f"Role {role!r} names the permission {dotted!r}, which no installed model declares.",
                        hint="Use a model's default permission (view_/add_/change_/delete_<model>) or add a "
                        "custom one to its Meta.permissions (with a migration); see accounts/roles.py.",
                        obj="accounts.roles",
                        id="accounts.E001",
                    )
                )
    return errors


@register("accounts")
def check_roles(app_configs: Any, **kwargs: Any) -> list[Error]:
    return check_role_permissions(roles.ROLE_PERMISSIONS)
