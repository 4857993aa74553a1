"""System checks of the retention targets (errors: ``manage.py check`` fails).

compliance.E110  a retention target names a policy code compliance.pi.vocabulary does not declare
compliance.E111  a retention target's policy has no RetentionPolicy row (checked when the database
                 is reachable and migrated): the purge would report the target as an error
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from compliance.pi.vocabulary import RETENTION_POLICIES
from compliance.retention.engine import RetentionTarget, retention_targets
from kernel.db_checks import database_migrated


def check_targets(targets: list[RetentionTarget], *, rows: set[str] | None) -> list[Error]:
    """``rows``: the policy codes that have a row, or None when the database cannot be asked."""
    errors: list[Error] = []
    for target in targets:
        if target.policy not in RETENTION_POLICIES:
            errors.append(
                Error(
                    f"Retention target {target.key} names the undeclared policy {target.policy!r}.",
                    hint="Declare it in compliance.pi.vocabulary.RETENTION_POLICIES (with a data migration "
                    "that seeds its row), or name a declared policy.",
                    obj=target.key,
                    id="compliance.E110",
                )
            )
        elif rows is not None and target.policy not in rows:
            errors.append(
                Error(
                    f"Retention target {target.key} names the policy {target.policy!r}, which has no "
                    "RetentionPolicy row: the purge cannot run it.",
                    hint="Run manage.py seed_vocabulary (creates the declared rows; edits are kept).",
                    obj=target.key,
                    id="compliance.E111",
                )
            )
    return errors


def _policy_rows() -> set[str] | None:
    if not database_migrated():
        return None
    from compliance.retention.models import RetentionPolicy

    return set(RetentionPolicy.objects.values_list("code", flat=True))


@register("compliance")
def check_retention_targets(app_configs: Any, **kwargs: Any) -> list[Error]:
    return check_targets(retention_targets(), rows=_policy_rows())
