from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("-created_at",)
    list_display = ("public_id", "is_active", "is_staff", "created_at")
    list_filter = ("is_active", "is_staff", "groups")
    search_fields = ("email",)
    readonly_fields = ("public_id", "created_at", "updated_at", "last_login")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("public_id", "email", "password")}),
        ("Personal information", {"fields": ("first_name", "last_name")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
