"""The admin site: one login form asking for the password and the one-time code, OTP enforced on
every page for every staff user (superusers included), and an enrolment page for staff who have
no authenticator yet.

Invariants:
- ``has_permission`` (django-otp's OTPAdminSite) requires a session verified by a confirmed
  device; a password-only session opens no admin page, only the enrolment page below, and only
  while the user has no confirmed device.
- Wrong passwords and wrong codes feed the same django-axes counter (10 per account, 30 minutes).
"""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin import SimpleListFilter
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import login as otp_login
from django_otp.admin import OTPAdminSite

from accounts import services
from accounts.lockout import is_locked_out, record_failed_attempt
from accounts.middleware import LAST_SEEN_KEY, take_preserved_form
from accounts.selectors import acting_user
from kernel.admin import index_warnings


class AdminOTPLoginForm(AdminAuthenticationForm):
    otp_token = forms.CharField(
        label="One-time code",
        required=False,
        max_length=32,
        strip=True,
        help_text="The 6-digit code from your authenticator app, or a backup code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the correct e-mail address, password and one-time code for a staff account.",
        "otp_required": "Enter the one-time code from your authenticator app.",
    }

    def clean(self) -> dict[str, Any]:
        request = self.request
        if request is None:  # the admin's login view always passes the request
            raise ImproperlyConfigured("StaffLoginForm needs the request.")
        email = self.cleaned_data.get("username") or ""
        refusal = services.login_locked_check(request=request, email=email, channel="admin") if email else None
        if refusal is not None:
            raise forms.ValidationError(refusal.message, code="locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            services.login_failure_record(request=request, channel="admin", reason="invalid_credentials", email=email)
            raise
        user = self.user_cache
        if user is None:
            raise self.get_invalid_login_error()
        device = services.confirmed_device(user)
        # No device yet: a password-only session, which can only reach the enrolment page.
        user.otp_device = None
        if device is None:
            return cleaned
        token = cleaned.get("otp_token") or ""
        if not token:
            raise forms.ValidationError(self.error_messages["otp_required"], code="otp_required")
        verified = services.mfa_verify(user=user, code=token, request=request, channel="admin")
        if verified is None:
            record_failed_attempt(request, user.email)
            services.login_failure_record(request=request, channel="admin", reason="invalid_otp", user=user)
            raise self.get_invalid_login_error()
        # django-otp's user_logged_in receiver stores this device in the session.
        user.otp_device = verified
        return cleaned


def _searches_ciphertext(model: Any, search_field: str) -> bool:
    """Whether an admin search path ends on an encrypted column (a LIKE there matches nothing,
    and the field refuses the lookup with an error)."""
    from django.core.exceptions import FieldDoesNotExist

    from compliance.crypto.fields import EncryptedField

    path = search_field.lstrip("^=@")
    for part in path.split("__"):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # the rest is a lookup name (e.g. __icontains)
        if isinstance(field, EncryptedField):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


_ROBUST_FILTERS: dict[type, type] = {}


def _robust_filter(spec: Any) -> Any:
    """A SimpleListFilter whose value the query cannot take is a bad lookup, not a crash.

    Django turns a bad value of a *field* filter into ``IncorrectLookupParameters`` (the change
    list then answers with its "?e=1" redirect), but runs a SimpleListFilter's ``queryset`` bare:
    django-auditlog's "Resource type" filter passed ``?resource_type=https://...`` to an integer
    column and answered 500 (found by wapiti in ``make dast``)."""
    if not (isinstance(spec, type) and issubclass(spec, SimpleListFilter)):
        return spec
    if spec not in _ROBUST_FILTERS:

        def queryset(self: SimpleListFilter, request: HttpRequest, queryset: Any) -> Any:
            try:
                return spec.queryset(self, request, queryset)
            except (ValueError, TypeError, ValidationError, OverflowError) as exc:
                raise IncorrectLookupParameters(exc) from exc

        _ROBUST_FILTERS[spec] = type(spec.__name__, (spec,), {"queryset": queryset, "__module__": spec.__module__})
    return _ROBUST_FILTERS[spec]


class RobustSearchMixin:
    """Put in front of every ModelAdmin registered on the site (our own and third-party ones such
    as django-auditlog's): a search term cannot reach an encrypted column (django-auditlog
    searches ``actor__email``: an e-mail address in the search box used to be a 500), and the
    term is bounded and stripped of NUL characters before it becomes SQL; a list filter's value
    that its query cannot take is a bad lookup (``_robust_filter``), never a 500."""

    SEARCH_TERM_MAX = 200

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [_robust_filter(spec) for spec in super().get_list_filter(request)]  # type: ignore[misc]

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # PostgreSQL cannot take a NUL in a string literal, and a field filter's query only runs
        # while the page renders, past the change list's own error handling: refuse it up front
        # (the search term, stripped of NULs above, is the one parameter that may carry one).
        if any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
            if key != SEARCH_VAR
        ):
            raise IncorrectLookupParameters("NUL character in a change-list parameter")
        return super().get_changelist_instance(request)  # type: ignore[misc]

    def get_search_fields(self, request: HttpRequest | None) -> list[str]:
        fields = super().get_search_fields(request)  # type: ignore[misc]
        return [name for name in fields if not _searches_ciphertext(self.model, name)]  # type: ignore[attr-defined]

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        search_term = search_term.replace("\x00", "")[: self.SEARCH_TERM_MAX]
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]


class PlatformAdminSite(OTPAdminSite):
    site_header = "Fintech platform administration"
    site_title = "Fintech admin"
    # "View site" opens the API documentation (the staff-facing product has no public web page).
    site_url = "/api/docs/"
    index_title = "Operations, compliance and audit"
    login_form = AdminOTPLoginForm
    login_template = "accounts/admin/login.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        from django.contrib.admin import ModelAdmin

        base = admin_class or ModelAdmin
        if not issubclass(base, RobustSearchMixin):
            base = type(base.__name__, (RobustSearchMixin, base), {"__module__": base.__module__})
        super().register(model_or_iterable, base, **options)

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """The landing page says what needs this person now: their role's panel
        (``fintech/landing.py``) and the warnings each app contributes to whoever is responsible
        (``kernel.admin.register_index_warning``)."""
        from compliance.audit.selectors import recent_actions_of
        from fintech.landing import landing_panels

        for warning in index_warnings():
            if request.user.has_perm(warning.permission):
                warning.show(request)
        extra_context = {
            **(extra_context or {}),
            "landing_panels": landing_panels(request.user),
            # "Recent actions" from the audit trail, not from the admin's LogEntry: the services
            # audit every step whether it was taken in the admin, the API, a task or the demo data.
            "recent_actions": recent_actions_of(request.user),
        }
        return super().index(request, extra_context)

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        """Every admin page: the signed-in person's own name and role in the header, the idle
        timeout for the expiry warning, and a form the idle timeout interrupted (restored once)."""
        from fintech.landing import role_label

        context = super().each_context(request)
        user = request.user
        if user.is_authenticated:
            context["staff_name"] = user.get_full_name() or user.get_short_name() or "you"
            context["staff_role_label"] = role_label(user)
            context["idle_timeout_seconds"] = settings.ADMIN_IDLE_TIMEOUT_SECONDS
            context["preserved_form"] = take_preserved_form(request)
        return context

    def _needs_enrolment(self, request: HttpRequest) -> bool:
        user = request.user
        return (
            user.is_authenticated
            and user.is_active
            and user.is_staff
            and not is_verified(user)
            and services.confirmed_device(user) is None
        )

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if request.method == "GET" and self._needs_enrolment(request):
            return HttpResponseRedirect(reverse(f"{self.name}:mfa_enrol"))
        response = super().login(request, extra_context)
        logged_in = (
            request.method == "POST"
            and isinstance(response, HttpResponseRedirect)
            and request.user.is_authenticated
            and not is_locked_out(request)
        )
        if logged_in:
            request.session[LAST_SEEN_KEY] = int(time.time())
            services.login_success_record(
                user=acting_user(request), request=request, channel="admin", mfa=is_verified(request.user)
            )
            if not is_verified(request.user):
                # A password-only login (no authenticator yet) just proved the password: that is
                # the re-authentication enrolment needs, valid for MFA_ENROL_REAUTH_SECONDS.
                services.mfa_enrol_proof_record(actor=acting_user(request), request=request)
                return HttpResponseRedirect(reverse(f"{self.name}:mfa_enrol"))
        return response

    def logout(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if request.user.is_authenticated:
            services.admin_logout_record(actor=acting_user(request), request=request)
        return super().logout(request, extra_context)

    def get_urls(self) -> list:
        from fintech import staff_pages

        return [
            path("mfa/enrol/", self.mfa_enrol_view, name="mfa_enrol"),
            path("audit/verify-now/", self.admin_view(staff_pages.verify_now), name="audit_verify_now"),
            path("audit/report/", self.admin_view(staff_pages.audit_report), name="audit_report"),
            path("session/keep-alive/", self.admin_view(staff_pages.keep_alive), name="session_keep_alive"),
            *super().get_urls(),
        ]

    @method_decorator(never_cache)
    @method_decorator(csrf_protect)
    def mfa_enrol_view(self, request: HttpRequest) -> HttpResponse:
        return _mfa_enrol(self, request)


def is_verified(user: Any) -> bool:
    """Whether this session passed an OTP check (django-otp sets ``otp_device``)."""
    return getattr(user, "otp_device", None) is not None


def _mfa_enrol(site: PlatformAdminSite, request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator for a staff user whose session is password-only."""
    from accounts.views import qr_data_uri

    login_url = reverse(f"{site.name}:login")
    if not site._needs_enrolment(request):
        if request.user.is_authenticated and is_verified(request.user):
            return HttpResponseRedirect(reverse(f"{site.name}:index"))
        return HttpResponseRedirect(f"{login_url}?{REDIRECT_FIELD_NAME}={request.path}")
    context: dict[str, Any] = {**site.each_context(request), "title": "Set up your authenticator"}
    if request.method == "POST":
        code = (request.POST.get("otp_token") or "").strip()[:32]
        try:
            device, codes, _ = services.totp_enrol_confirm(
                actor=acting_user(request), code=code, request=request, issue_tokens=False
            )
        except services.ValidationError:
            context["error"] = "The code is not correct. Check the time on your device and try again."
        except services.AuthError:
            logout(request)
            return HttpResponseRedirect(f"{login_url}?{REDIRECT_FIELD_NAME}={request.path}")
        else:
            # The privilege level changed: new session key, then mark the session verified.
            request.session.cycle_key()
            otp_login(request, device)
            context.update({"backup_codes": codes, "done": True})
            return TemplateResponse(request, "accounts/admin/mfa_enrol.html", context)
    try:
        device = services.totp_enrol_start(actor=acting_user(request), request=request, reuse_pending=True)
    except services.AuthError:
        # The password login is too long ago: log in again to prove it.
        logout(request)
        return HttpResponseRedirect(f"{login_url}?{REDIRECT_FIELD_NAME}={request.path}")
    uri = services.otpauth_uri(device)
    context.update({"secret": device.key, "otpauth_uri": uri, "qr_code": qr_data_uri(uri)})
    return TemplateResponse(request, "accounts/admin/mfa_enrol.html", context)
