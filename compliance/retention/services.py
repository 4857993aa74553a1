"""Writes to retention policies (the information officer's admin screen calls these)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from compliance.audit.services import AuditAction, audit_record
from compliance.retention.models import RetentionPolicy
from kernel.types import Actor

POLICY_EDITABLE_FIELDS = ("period_days", "trigger", "legal_reason", "action", "enabled")


def retention_policy_save(*, actor: Actor, policy: RetentionPolicy, changed: list[str]) -> RetentionPolicy:
    """Create or update ``policy`` (unsaved edits on the instance) and audit before/after."""
    with transaction.atomic():
        creating = policy.pk is None
        before: dict[str, Any] = {}
        if not creating:
            current = RetentionPolicy.objects.select_for_update().get(pk=policy.pk)
            before = {name: getattr(current, name) for name in POLICY_EDITABLE_FIELDS if name in changed}
        policy.full_clean()
        policy.save()
        after = {name: getattr(policy, name) for name in POLICY_EDITABLE_FIELDS if creating or name in changed}
        audit_record(
            action=AuditAction.RETENTION_POLICY_CHANGED,
            actor=actor,
            object_type="retention_policy",
            object_id=policy.code,
            change_diff={"created": creating, "before": before, "after": after},
        )
    return policy
