"""A test admin site with a PI-holding model's admin using PIAccessAuditedAdmin."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import path

from compliance.audit.admin import PIAccessAuditedAdmin

site = admin.AdminSite(name="pi_test_admin")


class AuditedUserAdmin(PIAccessAuditedAdmin, admin.ModelAdmin):
    fields = ("email", "first_name", "last_name", "is_active")


site.register(get_user_model(), AuditedUserAdmin)

urlpatterns = [path("pi-admin/", site.urls)]
