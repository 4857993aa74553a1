"""Request context for django-auditlog: the actor (resolved late) and the trusted client address."""

from __future__ import annotations

from collections.abc import Callable

from auditlog.context import set_extra_data
from django.http import HttpRequest, HttpResponse

from kernel.request_context import client_ip


class AuditlogContextMiddleware:
    """Replaces ``auditlog.middleware.AuditlogMiddleware``.

    The actor is passed as a callable for ``actor_id``: django-auditlog calls it when it writes an
    entry, by which time DRF has authenticated the request (DRF sets ``request.user`` on the
    underlying Django request). Passing ``actor_id`` rather than ``actor`` also stops
    django-auditlog from copying the user's e-mail into ``actor_email``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        def actor_id() -> int | None:
            user = getattr(request, "user", None)
            return user.pk if user is not None and user.is_authenticated else None

        with set_extra_data(context_data={"actor_id": actor_id, "remote_addr": client_ip(request)}):
            return self.get_response(request)
