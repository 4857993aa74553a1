"""One error shape for every API answer: ``{"error": {"code", "message", "fields"?}}``, and one
mapping from exceptions to it.

Services refuse by raising a ``DomainError`` (or a subclass an app declares for its own codes):
a stable ``code``, a message that states the rule, the HTTP status the API answers and,
optionally, the offending input's field names. Views never translate them: DRF exceptions and
domain errors alike go through ``api_exception_handler``; errors raised outside DRF (unknown URLs,
oversized bodies, CSRF failures, crashes) go through the Django handlers below. Every 403 from
either path is recorded as a permission denial by ``kernel.access.record_denial`` — the one
mechanism, so no view audits its own refusals. Neither ever
returns a stack trace or echoes the submitted values: validation messages describe the rule, not
the input, so a rejected card number or password never travels back in a response.
The admin keeps Django's own HTML pages.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler, set_rollback

from kernel.access import AuditedRefusal, record_denial

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/admin/"


class DomainError(Exception):
    """A refused operation: nothing was changed (the caller's transaction rolls back).

    ``code`` is stable for API clients; ``message`` states the rule and never echoes input (it
    may be shown to anyone); ``status_code`` is what the API answers (400 by default: 403 for a
    permission, 404 for what the caller may not know exists, 409 for a conflict with the current
    state, 422 for a rule of the domain, 429 to slow a caller down); ``fields`` names the
    offending inputs; ``retry_after`` (seconds) is sent as the Retry-After header.
    """

    status_code: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int | None = None,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.fields = fields or None
        self.retry_after = retry_after


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


# While the database elects a new leader (docs/ARCHITECTURE.md, "Availability") requests answer 503
# in the error shape with Retry-After, never a bare 500 or a proxy's page. A Patroni failover with
# the minimum TTL completes in ~20 s; clients back off this many seconds between attempts.
DATABASE_RETRY_AFTER_SECONDS = 2
# SQLSTATEs after which the connection is useless but a new one may reach the (new) leader:
# administrator shutdown or crash (a killed or demoted primary), "the database system is starting
# up", and a write reaching a node that is now a read-only standby.
_RECONNECTABLE_SQLSTATES = {"57P01", "57P02", "57P03", "25006"}


def database_unavailable(exc: BaseException | None) -> str | None:
    """Why ``exc`` means the database cannot serve right now, or None if it is not that.

    ``"connection_lost"``: the connection broke or reached a node that cannot take writes; a new
    connection may succeed, so an idempotent request may be replayed once (fintech.middleware).
    ``"busy"``: the server refused for a transient reason (statement timeout, lock or
    serialization conflict, too many connections): 503 too, never replayed inside the request.
    """
    from django.db import DatabaseError, InterfaceError, OperationalError

    if not isinstance(exc, DatabaseError):
        return None
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if isinstance(exc, InterfaceError) or sqlstate in _RECONNECTABLE_SQLSTATES:
        return "connection_lost"
    if isinstance(exc, OperationalError):
        # No SQLSTATE: the client library lost the server (refused, reset, timed out, closed).
        return "connection_lost" if sqlstate is None or sqlstate.startswith("08") else "busy"
    return None


_UNAVAILABLE = error_body(
    "service_unavailable",
    "The service is briefly unavailable. Retry after the number of seconds in the Retry-After header; "
    "a money movement retried with the same Idempotency-Key is applied at most once.",
)


def database_unavailable_response(reason: str) -> JsonResponse:
    response = JsonResponse(_UNAVAILABLE, status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    response.database_unavailable = reason  # type: ignore[attr-defined]  # read by fintech.middleware
    return response


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, list):
        return [message for item in detail for message in _flatten(item)]
    if isinstance(detail, dict):
        return [message for item in detail.values() for message in _flatten(item)]
    return [str(detail)]


def _field_errors(detail: dict[str, Any], prefix: str = "") -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in detail.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            fields.update(_field_errors(value, prefix=f"{key}."))
        else:
            fields[key] = _flatten(value)
    return fields


def _code_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict) and "code" in detail:
        return str(detail["code"])
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    response = _error_response(exc, context)
    if response.status_code == status.HTTP_403_FORBIDDEN or isinstance(exc, AuditedRefusal):
        view = context.get("view")
        where = type(view).__name__ if view is not None else ""
        try:
            record_denial(context.get("request"), where=where, code=response.data["error"]["code"])
        except DatabaseError as unrecorded:
            # A refusal that cannot be audited is not answered as if it had been: the caller
            # retries once the database is back (503 with Retry-After, as during a failover).
            logger.warning("database unavailable (permission denial not recorded: %s)", type(unrecorded).__name__)
            return Response(_UNAVAILABLE, status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})
    return response


def _as_api_exception(exc: Exception) -> Exception:
    """Django's own exceptions raised inside an API view, as DRF's: DRF converts 404/403
    internally; doing it here first builds the shape below from the API exception."""
    if isinstance(exc, DjangoValidationError):
        # Model validation (full_clean) inside a service: the rule's messages, never the input.
        return exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        # A refusal with its own stable code (e.g. kernel.access.OwnSubjectDenied) keeps its
        # code and message, which state the rule; a bare PermissionDenied answers DRF's default.
        code = getattr(exc, "code", None)
        return exceptions.PermissionDenied(str(exc), code) if code else exceptions.PermissionDenied()
    return exc


def _error_response(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DomainError):
        set_rollback()
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", "The request body is too large."), status=413)
    if isinstance(exc, SuspiciousOperation):
        return Response(error_body("bad_request", "The request could not be processed."), status=400)
    unavailable = database_unavailable(exc)
    if unavailable:
        # The database failed over, hung or refused: the client may retry, so say so (503 with
        # Retry-After), and log the kind of failure only (no SQL, no parameters).
        logger.warning("database unavailable (%s: %s)", unavailable, type(exc.__cause__ or exc).__name__)
        set_rollback()
        response = Response(_UNAVAILABLE, status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})
        response.database_unavailable = unavailable  # type: ignore[attr-defined]  # read by fintech.middleware
        return response
    exc = _as_api_exception(exc)
    handled = exception_handler(exc, context)
    if handled is None:
        # Not an API exception: a bug. Log it (redacted, with the request id) and answer a
        # generic 500 so no stack trace or internal detail reaches the client.
        logger.error("Unhandled error in API view", exc_info=exc)
        set_rollback()
        return Response(
            error_body("server_error", "An internal error occurred. Quote the X-Request-ID header."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    response = handled
    assert isinstance(exc, exceptions.APIException)  # noqa: S101 - exception_handler guarantees it
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(exc.detail, dict):
            body = error_body("validation_error", "The request is invalid.", _field_errors(exc.detail))
        else:
            body = error_body("validation_error", "; ".join(_flatten(exc.detail)) or "The request is invalid.")
    else:
        detail = exc.detail
        if isinstance(detail, dict) and "detail" in detail:
            message = str(detail["detail"])
        else:
            message = " ".join(_flatten(detail))
        # A service may name the offending field of a refusal (e.g. the item of a batch).
        body = error_body(_code_of(exc), message, getattr(exc, "error_fields", None))
    response.data = body
    return response


class JSONErrorsMixin(APIView):
    """For API views that can also answer in a file format (CSV, ZIP): errors and OPTIONS
    metadata are documents, so they are always rendered as JSON in the shape above, whatever
    ``?format=`` or ``Accept`` asked for."""

    def _answer_in_json(self) -> None:
        from rest_framework.renderers import JSONRenderer

        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type

    def handle_exception(self, exc: Exception) -> Response:
        self._answer_in_json()
        return super().handle_exception(exc)

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        self._answer_in_json()
        return super().options(request, *args, **kwargs)


def _json_or_default(request: HttpRequest, code: str, message: str, status_code: int, default) -> HttpResponse:
    if request.path.startswith(ADMIN_PREFIX):
        return default()
    return JsonResponse(error_body(code, message), status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _json_or_default(
        request,
        "bad_request",
        "The request could not be processed.",
        400,
        lambda: defaults.bad_request(request, exception or SuspiciousOperation()),
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Django's handler403: every PermissionDenied outside DRF (the admin's views included).
    match = getattr(request, "resolver_match", None)
    record_denial(request, where=match.view_name if match else "", code="permission_denied")
    return _json_or_default(
        request,
        "permission_denied",
        "You do not have permission to perform this action.",
        403,
        lambda: defaults.permission_denied(request, exception or DjangoPermissionDenied()),
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _json_or_default(
        request, "not_found", "Not found.", 404, lambda: defaults.page_not_found(request, exception)
    )


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this handler inside its ``except`` block: a database failover that surfaced
    # outside a DRF view (a middleware's session or user lookup, the admin) is a 503, not a 500.
    unavailable = database_unavailable(sys.exc_info()[1])
    if unavailable:
        logger.warning("database unavailable (%s) outside an API view", unavailable)
        return database_unavailable_response(unavailable)
    return _json_or_default(
        request,
        "server_error",
        "An internal error occurred. Quote the X-Request-ID header.",
        500,
        lambda: defaults.server_error(request),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _json_or_default(
        request,
        "csrf_failed",
        "CSRF verification failed.",
        403,
        lambda: django_csrf_failure(request, reason=reason),
    )


def method_not_allowed(request: HttpRequest, allowed: list[str]) -> HttpResponse:
    response = JsonResponse(error_body("method_not_allowed", f'Method "{request.method}" not allowed.'), status=405)
    response["Allow"] = ", ".join(allowed)
    return response
