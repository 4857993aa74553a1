"""Request-id middleware: every request carries an id from the edge to the audit trail."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from kernel.request_context import accept_request_id, reset_request_id, set_request_id

REQUEST_ID_HEADER = "X-Request-ID"

access_logger = logging.getLogger("fintech.access")


class RequestIdMiddleware:
    """Accept a well-formed ``X-Request-ID`` or generate one; return it on the response.

    Runs first so that every later middleware, view, log line, audit record and Celery task
    enqueued during the request sees the same id.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]  # our own per-request attribute
        token = set_request_id(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            # One structured line per request. Paths carry only opaque ids (never PI: see the
            # URL design rules), and the redaction filter masks anything that slips through.
            access_logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
        finally:
            reset_request_id(token)
        return response
