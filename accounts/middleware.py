"""Idle timeout for session (admin) logins, enforced on the server whatever the session store.

``SESSION_COOKIE_AGE`` + ``SESSION_SAVE_EVERY_REQUEST`` already slide a 15-minute expiry, but a
cached session store keeps the session alive as long as its cache entry, and a stolen cookie would
be good until then. This middleware records the last request time in the session and logs the
user out once more than ``SESSION_COOKIE_AGE`` seconds have passed without one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

LAST_SEEN_KEY = "_last_seen"


class IdleSessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        # Only session logins carry the key; JWT API calls never touch the session.
        if session is not None and session.get(LAST_SEEN_KEY) is not None:
            now = int(time.time())
            if now - int(session[LAST_SEEN_KEY]) > settings.SESSION_COOKIE_AGE:
                from accounts.services import session_expire

                session_expire(request=request)
                logout(request)
            else:
                session[LAST_SEEN_KEY] = now
        elif session is not None and getattr(request, "user", None) is not None and request.user.is_authenticated:
            session[LAST_SEEN_KEY] = int(time.time())
        return self.get_response(request)
