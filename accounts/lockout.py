"""Login brakes that an attacker cannot turn against the customer.

Three counters, all CAPTCHA-free and all fed by the admin login, the API token endpoint, the OTP
step and the password check of the MFA-enrolment step (``record_failed_attempt``):

- **(account, address)** — django-axes: 10 failures from one address against one account in 30
  minutes lock that pair for 30 minutes. An attacker's address is shut out; nobody else is.
- **account** — django-axes as well: 10 failures against one account from *any* addresses lock
  the account (PCI DSS 8.3.4), but only for addresses it has never logged in from. From an address
  with a successful login in the last ``LOCKOUT_KNOWN_ADDRESS_DAYS`` the account's owner still gets
  in *with the second factor* (the lock parameters drop to the pair alone when the account has a
  confirmed authenticator and the address is known); a password-reset link clears the account's
  counters. So ten wrong passwords from ten addresses no longer lock the real customer out.
- **address** — progressive delay (``AddressBackoff``, in the shared cache): after
  ``LOGIN_ADDRESS_FREE_FAILURES`` failures from one address (across all accounts) in 30 minutes,
  each further attempt from it must wait 1, 2, 4 … seconds (capped) after the previous failure.
  Credential stuffing from one address slows to a crawl; other addresses are unaffected.

The account is named in django-axes' tables (``username``) by the blind index of the normalised
e-mail (keyed HMAC, ``compliance.crypto.blind_index``), never by the address itself: the lockout
rows then hold no e-mail in clear, and the same value is ``User.email_index``. Use
``lockout_key`` wherever axes is given a username directly (e.g. ``reset_attempts``).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from accounts.models import UserManager
from compliance.crypto.blind_index import blind_index
from kernel.errors import error_body
from kernel.request_context import client_ip

LOCKED_MESSAGE = (
    "Too many failed attempts: this account is locked for 30 minutes. You can still log in from a device "
    "you have used before with your one-time code, or unlock it with a password-reset link."
)
SLOW_DOWN_MESSAGE = "Too many failed attempts from your network: wait a moment before trying again."

PAIR = ["username", "ip_address"]


def lockout_key(email: str | None) -> str | None:
    """The pseudonymous name of an account in the lockout tables (see the module docstring)."""
    normalised = UserManager.normalize_email(email)
    return blind_index("email", normalised) if normalised else None


def _candidate_email(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    candidate = None
    if credentials:
        candidate = credentials.get("username") or credentials.get("email")
    if candidate is None and request is not None and hasattr(request, "POST"):
        candidate = request.POST.get("username") or request.POST.get("email")
    return str(candidate) if candidate else None


def lockout_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """The account an attempt targets, normalised like the login itself (case, spaces)."""
    candidate = _candidate_email(request, credentials)
    return lockout_key(candidate) if candidate else None


def lockout_client_ip(request: HttpRequest) -> str | None:
    # The same trusted-proxy rule as the audit trail: X-Forwarded-For only from our proxies.
    return client_ip(request)


def lockout_parameters(request: Any, credentials: dict[str, Any] | None = None) -> list:
    """django-axes' lock parameters for this attempt: the (account, address) pair always, and the
    account as a whole unless the owner is coming back from a known address with a second factor."""
    if isinstance(request, HttpRequest) and owner_returning(request, credentials):
        return [PAIR]
    return [PAIR, "username"]


def owner_returning(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    """Whether this attempt comes from an address the account has logged in from before, for an
    account with a confirmed authenticator (so the login will demand the code). Memoised per request."""
    email = _candidate_email(request, credentials)
    memo = request.__dict__.setdefault("_lockout_owner_returning", {})
    if email not in memo:
        from accounts.selectors import login_address_known

        memo[email] = bool(email) and login_address_known(email=email or "", address=client_ip(request))
    return memo[email]


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("account_locked", LOCKED_MESSAGE), status=429)
    return TemplateResponse(request, "accounts/lockout.html", {"message": LOCKED_MESSAGE}, status=429).render()


def record_failed_attempt(request: HttpRequest, email: str) -> None:
    """Count a failed one-time code (or re-authentication) against the account, exactly like a
    wrong password. Uses Django's ``user_login_failed`` signal: django-axes' integration point."""
    user_login_failed.send(sender=__name__, credentials={"username": email}, request=request)


def is_locked_out(request: HttpRequest) -> bool:
    return bool(getattr(request, "axes_locked_out", False))


class AddressBackoff:
    """Progressive delay per client address (see the module docstring).

    State is ``{"n": failures, "first": t, "last": t}`` in the shared cache, read and written with
    wall-clock seconds (so tests can travel in time); a lost update under a race costs at most
    one free attempt, which is acceptable for a brake that is not the lock.
    """

    KEY = "login-backoff:address:{address}"

    @staticmethod
    def _key(address: str | None) -> str | None:
        return AddressBackoff.KEY.format(address=address) if address else None

    @staticmethod
    def _state(key: str, now: float) -> dict[str, float]:
        state = cache.get(key) or {}
        window = settings.AXES_COOLOFF_TIME.total_seconds()
        if not state or now - state.get("first", 0) > window:
            return {"n": 0, "first": now, "last": now}
        return state

    @staticmethod
    def delay_for(failures: int) -> int:
        excess = failures - settings.LOGIN_ADDRESS_FREE_FAILURES
        if excess < 0:
            return 0
        return min(2**excess, settings.LOGIN_ADDRESS_MAX_DELAY_SECONDS)

    @classmethod
    def wait_seconds(cls, address: str | None) -> int:
        """Seconds this address must still wait before its next attempt (0: go ahead)."""
        key = cls._key(address)
        if key is None:
            return 0
        now = time.time()
        state = cls._state(key, now)
        remaining = state["last"] + cls.delay_for(int(state["n"])) - now
        return max(0, int(remaining + 0.999))

    @classmethod
    def record_failure(cls, address: str | None) -> None:
        key = cls._key(address)
        if key is None:
            return
        now = time.time()
        state = cls._state(key, now)
        state.update(n=int(state["n"]) + 1, last=now)
        cache.set(key, state, timeout=int(settings.AXES_COOLOFF_TIME.total_seconds()) * 2)
