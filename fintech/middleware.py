"""Request-id middleware: every request carries an id from the edge to the audit trail."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from kernel.redaction import redact, redact_request_repr
from kernel.request_context import accept_request_id, reset_request_id, set_request_id

REQUEST_ID_HEADER = "X-Request-ID"

access_logger = logging.getLogger("fintech.access")
logger = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Accept a well-formed ``X-Request-ID`` or generate one; return it on the response.

    Runs first so that every later middleware, view, log line, audit record and Celery task
    enqueued during the request sees the same id.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Django logs refused and failed requests with the request object as ``extra``: its repr
        # must not carry the query string (an admin search for an ID number) into any handler.
        redact_request_repr(request)
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
                    "path": redact(request.path),
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
        finally:
            reset_request_id(token)
        return response


class DatabaseFailoverRetryMiddleware:
    """Replay a request once when the database connection broke under it, if replaying is safe.

    During a failover (Patroni promotes a standby, HAProxy cuts the sessions to the old leader) a
    request may fail on a connection that died, or reach the old leader as it steps down. Such a
    failure answers 503 in the error shape with Retry-After (kernel.errors); before that reaches
    the client, this middleware closes the broken connections and runs the request once more,
    but only when a second run cannot do anything twice:

    - safe methods (GET, HEAD, OPTIONS): they change nothing;
    - a write carrying an ``Idempotency-Key`` header: every ledger movement is keyed, so the
      second run either replays the first run's committed result or makes the movement once.

    Any other write (no key) is never replayed: the client gets the 503 and decides. Failures
    that are not a lost connection (a statement timeout, a lock conflict) are not replayed either.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
    PAUSE_SECONDS = 0.5

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def replayable(self, request: HttpRequest) -> bool:
        if request.method in self.SAFE_METHODS:
            return True
        if not request.headers.get("Idempotency-Key"):
            return False
        try:
            request.body  # noqa: B018 - read and cached now, so the second run can parse it again
        except Exception:  # noqa: BLE001 - too large or unreadable: the view answers that, once
            return False
        return True

    @staticmethod
    def lost_connection(response: HttpResponse) -> bool:
        if getattr(response, "database_unavailable", None) != "connection_lost":
            return False
        # The broken connections go now, replayed or not: the next request reconnects.
        from django.db import connections

        for connection in connections.all(initialized_only=True):
            with contextlib.suppress(Exception):
                connection.close()
        return True

    def __call__(self, request: HttpRequest) -> HttpResponse:
        replayable = self.replayable(request)
        response = self.get_response(request)
        if not self.lost_connection(response) or not replayable:
            return response
        time.sleep(self.PAUSE_SECONDS)
        logger.info("replaying a request once after a lost database connection")
        response = self.get_response(request)
        self.lost_connection(response)
        return response
