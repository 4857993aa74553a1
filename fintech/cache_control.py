"""``Cache-Control: no-store`` on API answers: no browser, proxy or CDN may keep a copy.

Every API answer to an authenticated caller carries personal or financial information (a
profile, a statement, an audit page, a DSAR bundle); a shared cache or the browser's disk cache
must never keep one. The header is set on every answer under ``/api/`` and on any answer to a
request that carried credentials (a bearer token or a session), whatever view produced it and
whatever its status, unless the view asked for something stricter already. Public, anonymous
documentation (the schema) gets it too: it costs nothing and keeps the rule simple to audit.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

API_PREFIX = "/api/"


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        authenticated = "HTTP_AUTHORIZATION" in request.META or bool(
            getattr(getattr(request, "user", None), "is_authenticated", False)
        )
        if request.path.startswith(API_PREFIX) or authenticated:
            patch_cache_control(response, no_store=True)
            response.headers.setdefault("Pragma", "no-cache")
        return response
