"""The loyalty programme's admin (guide step 8): every change view of a membership is a PI_ACCESS
record; the landing page warns staff who manage memberships about closed ones awaiting the purge."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from compliance.audit.admin import PIMaskedAdmin
from kernel.admin import register_index_warning
from tests.plugin_app.models import LoyaltyMember


@admin.register(LoyaltyMember)
class LoyaltyMemberAdmin(PIMaskedAdmin, admin.ModelAdmin):
    list_display = ("public_id", "points_balance", "joined_at", "closed_at")
    fields = ("public_id", "user", "nickname", "phone", "points_balance", "joined_at", "closed_at")
    readonly_fields = ("public_id", "user", "joined_at")
    search_fields = ("public_id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members join through the service, which audits it


def warn_about_closed_members(request: HttpRequest) -> None:
    closed = LoyaltyMember.objects.filter(closed_at__isnull=False).count()
    if closed:
        messages.info(request, f"{closed} closed loyalty membership(s) wait for the retention purge.")


register_index_warning(
    "loyalty-closed-members", permission="plugin_app.view_loyaltymember", show=warn_about_closed_members
)
