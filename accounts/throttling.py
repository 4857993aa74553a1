"""DRF throttles keyed by the real client address.

DRF's own ``get_ident`` believes any ``X-Forwarded-For`` when ``NUM_PROXIES`` is unset, so a
client could dodge the per-address limits (the login and registration brake) by sending a new
header value with each request. These classes use the same trusted-proxy rule as the audit trail
(``kernel.request_context.client_ip``).
"""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.request import Request

from kernel.request_context import client_ip


class _ClientIpMixin:
    def get_ident(self, request: Request) -> str:
        return client_ip(getattr(request, "_request", request)) or "unknown"


class AnonRateThrottle(_ClientIpMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_ClientIpMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(_ClientIpMixin, throttling.ScopedRateThrottle):
    pass
