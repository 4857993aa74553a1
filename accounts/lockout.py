"""django-axes plumbing: whose account a login attempt is for, from where, and the lockout answer.

Lockout is per account (the normalised e-mail), not per address, so an attacker rotating IPs
still locks the account after 10 failures in 30 minutes; per-IP pressure is handled by the DRF
``auth`` throttle. The same counter is fed by the admin login, the API token endpoint and failed
one-time codes (``record_failed_attempt``), so the OTP step cannot be brute-forced separately.

The account is named in django-axes' tables (``username``) by the blind index of the normalised
e-mail (keyed HMAC, ``compliance.crypto.blind_index``), never by the address itself: the lockout
rows then hold no e-mail in clear, and the same value is ``User.email_index``. Use
``lockout_key`` wherever axes is given a username directly (e.g. ``reset_attempts``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from accounts.models import UserManager
from compliance.crypto.blind_index import blind_index
from kernel.errors import error_body
from kernel.request_context import client_ip

LOCKED_MESSAGE = "Too many failed attempts: this account is locked for 30 minutes."


def lockout_key(email: str | None) -> str | None:
    """The pseudonymous name of an account in the lockout tables (see the module docstring)."""
    normalised = UserManager.normalize_email(email)
    return blind_index("email", normalised) if normalised else None


def lockout_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """The account an attempt targets, normalised like the login itself (case, spaces)."""
    candidate = None
    if credentials:
        candidate = credentials.get("username") or credentials.get("email")
    if candidate is None and request is not None:
        candidate = request.POST.get("username") or request.POST.get("email")
    if not candidate:
        return None
    return lockout_key(str(candidate))


def lockout_client_ip(request: HttpRequest) -> str | None:
    # The same trusted-proxy rule as the audit trail: X-Forwarded-For only from our proxies.
    return client_ip(request)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("account_locked", LOCKED_MESSAGE), status=429)
    return TemplateResponse(request, "accounts/lockout.html", {"message": LOCKED_MESSAGE}, status=429).render()


def record_failed_attempt(request: HttpRequest, email: str) -> None:
    """Count a failed one-time code against the account, exactly like a wrong password.

    Uses Django's ``user_login_failed`` signal because that is django-axes' integration point.
    """
    user_login_failed.send(sender=__name__, credentials={"username": email}, request=request)


def is_locked_out(request: HttpRequest) -> bool:
    return bool(getattr(request, "axes_locked_out", False))
