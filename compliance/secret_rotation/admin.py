"""Admin for the secret inventory (SPEC C8): read-only with an overdue banner; an admin records the
rotation of an externally held secret with an action (audited), never by typing a date."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from compliance.secret_rotation.inventory import secret_rotation_record
from compliance.secret_rotation.models import AlertState, SecretRotation
from kernel.admin import ReadOnlyAdminMixin, register_index_warning


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


register_index_warning("secrets-overdue", permission="compliance.view_secretrotation", show=warn_about_secrets)
