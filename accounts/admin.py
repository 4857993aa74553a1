"""Admin screens for users and devices. Writes go through accounts.services."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.http import HttpRequest, HttpResponse

from accounts import roles, services
from accounts.models import TOTPDevice, User
from accounts.phone import phone_to_e164
from compliance.audit.admin import PIMaskedAdmin
from compliance.crypto.admin import BlindIndexSearchMixin
from kernel.admin import DeleteThroughServiceMixin
from kernel.types import Actor


class StaffCreationForm(AdminUserCreationForm):
    """Admins create staff accounts here (never through the API), with exactly one staff role."""

    role = forms.ChoiceField(choices=[(role, role.replace("_", " ")) for role in roles.STAFF_ROLES])

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")

    def clean_email(self) -> str:
        # A friendly form error; the unique blind index still decides in the service.
        email = User.objects.normalize_email(self.cleaned_data.get("email"))
        if User.objects.filter_by_email(email).exists():
            raise forms.ValidationError("A user with this e-mail address already exists.")
        return email


class UserEditForm(UserChangeForm):
    """The admin's edit form: the phone number is stored in E.164, like through the API."""

    def clean_phone(self) -> str | None:
        value = (self.cleaned_data.get("phone") or "").strip()
        return phone_to_e164(value) if value else None


@admin.register(User)
class UserAdmin(PIMaskedAdmin, BlindIndexSearchMixin, DjangoUserAdmin):
    add_form = StaffCreationForm
    form = UserEditForm
    ordering = ("-created_at",)
    list_display = ("public_id", "is_active", "is_staff", "created_at")
    list_filter = ("is_active", "is_staff", "groups")
    # The e-mail and phone are encrypted: search finds exact (normalised) values via their blind
    # indexes; the public id is searched as a plain column.
    blind_index_search_fields = ("email", "phone")
    search_fields = ("=public_id",)
    readonly_fields = ("public_id", "created_at", "updated_at", "last_login")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("public_id", "email", "password")}),
        ("Personal information", {"fields": ("first_name", "last_name", "phone")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "first_name", "last_name", "role", "password1", "password2"),
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            # Only a superuser can make or unmake a superuser or edit another admin's e-mail.
            fields += ("is_superuser", "email")
        return fields

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool) -> None:
        if not change:
            created = services.staff_user_create(
                actor=cast(User, request.user),
                email=form.cleaned_data["email"],
                password=form.cleaned_data.get("password1") or None,
                role=form.cleaned_data["role"],
                first_name=form.cleaned_data.get("first_name", ""),
                last_name=form.cleaned_data.get("last_name", ""),
            )
            # The admin continues with ``obj`` (redirects, messages): point it at the new row.
            obj.pk = created.pk
            obj.public_id = created.public_id
            obj._state.adding = False
            return
        services.user_admin_update(actor=cast(User, request.user), user=obj, changed_fields=list(form.changed_data))

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            # Django's form saved the new password; cut off the sessions and tokens it protected.
            services.password_set_by_admin_record(
                actor=cast(User, request.user), user=cast(User, self.get_object(request, unquote(id)))
            )
        return response

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        if not change:
            return
        if "groups" in form.changed_data:
            services.user_roles_set(
                actor=cast(User, request.user),
                user=form.instance,
                role_names=[g.name for g in form.cleaned_data["groups"]],
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(DeleteThroughServiceMixin, admin.ModelAdmin):
    """Devices are listed (never their keys) and can be deleted so a user can re-enrol: through
    ``services.totp_reset_by_admin`` (tokens revoked, owner told, audited, never one's own)."""

    list_display = ("user", "confirmed", "created_at", "confirmed_at")
    list_select_related = ("user",)
    list_filter = ("confirmed",)
    fields = ("user", "name", "confirmed", "created_at", "confirmed_at")
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_through_service(self, actor: Actor, obj: Any) -> None:
        services.totp_reset_by_admin(actor=cast(User, actor), device=obj)


# --- Third-party screens -----------------------------------------------------------------------------
class LockoutReleaseAdminMixin(DeleteThroughServiceMixin):
    """django-axes' lockout screen: deleting a row lifts that lockout, through
    ``services.lockout_release_by_admin`` (audited LOCKOUT_RELEASED, never one's own)."""

    def delete_through_service(self, actor: Actor, obj: Any) -> None:
        services.lockout_release_by_admin(actor=cast(User, actor), attempt=obj)


def _replace_third_party_admins() -> None:
    """The lockout (django-axes) and refresh-token screens with their PI masked; the role groups and
    the token blacklist read-only for everyone (superusers too).

    Roles are declared in accounts/roles.py and ``sync_roles`` makes the groups match it: a group
    edited by hand would be a role nobody declared. A blacklist row is a revoked refresh token,
    written by the services that revoke (logout, password change, erasure): deleting one by hand
    would bring a revoked token back to life, unaudited."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    from kernel.admin import ReadOnlyAdminMixin, reregister

    reregister(Group, ReadOnlyAdminMixin)
    if apps.is_installed("axes"):
        import axes.admin  # noqa: F401 - registers axes' screens first, so they can be replaced

        reregister(apps.get_model("axes", "AccessAttempt"), PIMaskedAdmin, LockoutReleaseAdminMixin)
        for name in ("AccessLog", "AccessFailureLog"):
            reregister(apps.get_model("axes", name), PIMaskedAdmin, ReadOnlyAdminMixin)
    if apps.is_installed("rest_framework_simplejwt.token_blacklist"):
        import rest_framework_simplejwt.token_blacklist.admin  # noqa: F401 - as above

        reregister(apps.get_model("token_blacklist", "OutstandingToken"), PIMaskedAdmin)
        reregister(apps.get_model("token_blacklist", "BlacklistedToken"), ReadOnlyAdminMixin)


_replace_third_party_admins()
