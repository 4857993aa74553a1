"""Admin screens for retention policies, purge runs and the secret inventory (SPEC C8).

- Policies: the information officer edits periods, action and enabled (saves go through
  ``retention_policy_save``, audited); nobody deletes one (purge targets name them by code).
- Purge runs: read-only history with counts per policy.
- Secrets: read-only inventory with an overdue banner; an admin records the rotation of an
  externally held secret with an action (audited), never by typing a date.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from compliance.admin_readonly import ReadOnlyAdminMixin
from compliance.models.retention import RetentionPolicy, RetentionRun
from compliance.models.secrets import AlertState, SecretRotation
from compliance.secrets_inventory import secret_rotation_record
from compliance.services_retention import retention_policy_save


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


def warn_about_secrets(request: HttpRequest) -> None:
    """The admin warning banner: every overdue secret by name (names and dates, never values)."""
    overdue = list(SecretRotation.objects.filter(alert_state=AlertState.OVERDUE).values_list("name", flat=True))
    if overdue:
        messages.error(
            request,
            f"{len(overdue)} secret(s) overdue for rotation: {', '.join(overdue)}. "
            "Rotate them and record the rotation here.",
        )


@admin.register(SecretRotation)
class SecretRotationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "owner",
        "provider",
        "platform_rotates",
        "rotated_at",
        "max_age_days",
        "alert_state",
        "last_checked_at",
        "last_outcome",
    )
    list_filter = ("alert_state", "kind", "platform_rotates")
    readonly_fields = (
        "name",
        "kind",
        "owner",
        "provider",
        "platform_rotates",
        "rotated_at",
        "last_checked_at",
        "alert_state",
        "overdue_since",
        "last_alerted_at",
        "last_outcome",
    )
    actions = ("record_rotation",)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("compliance.record_secret_rotation"):
            actions.pop("record_rotation", None)
        return actions

    @admin.action(description="Record that the selected secrets were rotated now")
    def record_rotation(self, request: HttpRequest, queryset: QuerySet) -> None:
        if not request.user.has_perm("compliance.record_secret_rotation"):
            messages.error(request, "You may not record secret rotations.")
            return
        for secret in queryset:
            secret_rotation_record(actor=request.user, secret=secret)
        messages.success(request, f"Recorded the rotation of {queryset.count()} secret(s).")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        warn_about_secrets(request)
        return super().changelist_view(request, extra_context)
