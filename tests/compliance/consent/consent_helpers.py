"""Users, roles, API clients and seed data for the consent tests.

Kept apart so the shared personas (accounts) can replace ``make_user``/``make_staff`` later.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from accounts.services import roles_sync
from compliance.consent.models import PurposeNotice
from compliance.consent.seed import seed_processing_purposes
from tests import personas

PASSWORD = "correct-horse-battery-staple-42"  # pragma: allowlist secret
_counter = itertools.count(1)


def make_user(prefix: str = "customer", *, groups: tuple[str, ...] = ("customer",), **extra: Any):
    user = get_user_model().objects.create_user(
        email=f"{prefix}{next(_counter)}@example.test", password=PASSWORD, **extra
    )
    for name in groups:
        group, _ = Group.objects.get_or_create(name=name)
        user.groups.add(group)
    return user


def grant_role_permissions(role: str) -> Group:
    """The role's permissions exactly as the product grants them (accounts/roles.py)."""
    roles_sync()
    return Group.objects.get(name=role)


def make_staff(role: str):
    return personas.make_staff(role)


def api_client(user) -> APIClient:
    return personas.make_api_client(user)


def seed_purposes() -> None:
    # A transactional test elsewhere may have flushed the migration's seed rows: re-seed.
    seed_processing_purposes(apps)


def current_version(code: str) -> int:
    return (
        PurposeNotice.objects.filter(purpose__code=code, published_at__isnull=False)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )


def spy_audit(monkeypatch, module: str = "compliance.consent.services") -> list[dict[str, Any]]:
    """Record every audit_record call the consent services make, still calling the real one."""
    import importlib

    target = importlib.import_module(module)
    real = target.audit_record
    calls: list[dict[str, Any]] = []

    def recording(**kwargs: Any) -> None:
        calls.append(kwargs)
        real(**kwargs)

    monkeypatch.setattr(target, "audit_record", recording)
    return calls
