"""A test admin site with a PI-holding model's admin using PIMaskedAdmin."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import path

from compliance.audit.admin import PIMaskedAdmin

site = admin.AdminSite(name="pi_test_admin")


class AuditedUserAdmin(PIMaskedAdmin, admin.ModelAdmin):
    fields = ("email", "first_name", "last_name", "is_active")


site.register(get_user_model(), AuditedUserAdmin)

urlpatterns = [path("pi-admin/", site.urls)]
