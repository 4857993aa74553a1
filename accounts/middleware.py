"""Idle timeout for session (admin) logins, enforced on the server whatever the session store,
without losing what the person was typing.

The stored session lives ``SESSION_COOKIE_AGE`` (the idle timeout plus an hour, slid on every
request), and a stolen cookie would be good until then. This middleware records the last request
time in the session and logs the user out once more than ``ADMIN_IDLE_TIMEOUT_SECONDS`` (15
minutes) have passed without one; the longer store lifetime is what lets it recognise a form
posted after the timeout instead of meeting an empty session.

A form submitted after the timeout is not acted on (the session that would authorise it is
gone), but it is not dropped silently either: its fields are kept in the new, anonymous session
(never passwords, codes, tokens or files), the browser is sent to the login page with a message
saying so, and after signing in the same page shows the form filled in again
(``take_preserved_form``, read by the admin site; ``static/fintech/staff.js`` fills it). The
page also warns before the timeout (``staff.js``, from the ``idle_timeout_seconds`` context).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse

LAST_SEEN_KEY = "_last_seen"
PRESERVED_FORM_KEY = "_preserved_form"
# What is never kept across the timeout: secrets, and the old CSRF token.
NEVER_KEPT = ("csrfmiddlewaretoken", "password", "otp", "token", "secret", "pan", "card_number", "cvv")
PRESERVED_MAX_BYTES = 64 * 1024


def _never_kept(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in NEVER_KEPT)


def _preserve_post(request: HttpRequest) -> tuple[bool, list[str]]:
    """Keep the submitted fields in the (new) session; returns (kept, names left out)."""
    kept: dict[str, list[str]] = {}
    left_out = sorted(name for name in request.FILES)
    for name in request.POST:
        if _never_kept(name):
            if name != "csrfmiddlewaretoken":
                left_out.append(name)
            continue
        kept[name] = request.POST.getlist(name)
    if sum(len(name) + sum(len(v) for v in values) for name, values in kept.items()) > PRESERVED_MAX_BYTES:
        return False, left_out
    request.session[PRESERVED_FORM_KEY] = {"path": request.path, "data": kept, "left_out": left_out}
    return True, left_out


def take_preserved_form(request: HttpRequest) -> dict[str, Any] | None:
    """The form the timeout interrupted on this page, once (a GET of the same path)."""
    session = getattr(request, "session", None)
    if session is None or request.method != "GET":
        return None
    preserved = session.get(PRESERVED_FORM_KEY)
    if not preserved or preserved.get("path") != request.path:
        return None
    del session[PRESERVED_FORM_KEY]
    return preserved


def _login_url(next_path: str) -> str:
    try:
        login = reverse("admin:login")
    except NoReverseMatch:  # pragma: no cover - the admin is always installed
        login = str(settings.LOGIN_URL)
    return f"{login}?{urlencode({REDIRECT_FIELD_NAME: next_path})}"


class IdleSessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        # Only session logins carry the key; JWT API calls never touch the session.
        if session is not None and session.get(LAST_SEEN_KEY) is not None:
            now = int(time.time())
            if now - int(session[LAST_SEEN_KEY]) > settings.ADMIN_IDLE_TIMEOUT_SECONDS:
                return self._expire(request)
            session[LAST_SEEN_KEY] = now
        elif session is not None and getattr(request, "user", None) is not None and request.user.is_authenticated:
            session[LAST_SEEN_KEY] = int(time.time())
        return self.get_response(request)

    def _expire(self, request: HttpRequest) -> HttpResponse:
        from accounts.services import session_expire

        minutes = settings.ADMIN_IDLE_TIMEOUT_SECONDS // 60
        session_expire(request=request)
        if request.method != "POST":
            logout(request)
            return self.get_response(request)
        # The POST is never acted on: its fields go into the new, anonymous session.
        logout(request)
        kept, left_out = _preserve_post(request)
        if kept:
            text = (
                f"You were signed out after {minutes} minutes without activity, so your last change was "
                "NOT saved. What you typed has been kept: sign in and the form is filled in again for you "
                "to check and submit."
            )
            if left_out:
                text += f" Not kept (enter again): {', '.join(left_out)}."
        else:
            text = (
                f"You were signed out after {minutes} minutes without activity, so your last change was "
                "NOT saved, and it was too large to keep: sign in and enter it again."
            )
        messages.warning(request, text)
        return HttpResponseRedirect(_login_url(request.path))
