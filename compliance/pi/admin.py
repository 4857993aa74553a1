"""The PI inventory in the admin: read-only, for the information officer and the auditor.

The page renders the live registry (the same data as docs/POPIA_COMPLIANCE.md). Access needs the
``compliance.view_pi_inventory`` permission, which the information_officer and auditor groups hold
(migration compliance 0002); superusers have every permission.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from compliance.crypto.models import FieldKeyVersion
from compliance.pi.inventory import inventory
from compliance.pi.models import PIInventory
from kernel.admin import ReadOnlyAdminMixin

PERMISSION = "compliance.view_pi_inventory"


@admin.register(PIInventory)
class PIInventoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.has_module_permission(request)

    def get_urls(self):
        from django.urls import path

        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Personal-information inventory",
            "opts": self.opts,
            "inventory": inventory(),
            "key_versions": list(FieldKeyVersion.objects.all()),
        }
        return TemplateResponse(request, "admin/compliance/pi_inventory.html", context)
