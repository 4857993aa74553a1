"""Seed the retention policies from the one declaration, ``compliance.pi.vocabulary.RETENTION_POLICIES``.

Existing rows are left alone: the information officer may have edited them, and from then on the
row is what the purge and erasure read. Used by tests, the demo data and ``manage.py
seed_vocabulary``; migrations carry frozen copies of the data instead of importing this.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps

from compliance.pi.vocabulary import RETENTION_POLICIES


def policy_row(code: str) -> dict[str, Any]:
    """The seed values of the declared policy ``code`` (the RetentionPolicy row's fields)."""
    policy = RETENTION_POLICIES[code]
    return {
        "period_days": None if policy.period is None else max(policy.period.days, 0),
        "trigger": policy.trigger,
        "legal_reason": policy.reason,
        "action": policy.action,
    }


def seed_retention_policies(apps: Any = global_apps) -> int:
    """Create the declared policies that have no row. Returns how many were created."""
    model = apps.get_model("compliance", "RetentionPolicy")
    created = 0
    for code in RETENTION_POLICIES:
        _, was_created = model.objects.get_or_create(code=code, defaults=policy_row(code))
        created += int(was_created)
    return created
