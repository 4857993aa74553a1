"""API building blocks other apps reuse: the audited permission denial and error mapping."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.services import AuthError, ConflictError, permission_denied_record


class Unauthorized(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "not_authenticated"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class Locked(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "account_locked"

    def __init__(self, detail: str, code: str, wait: int | None = None) -> None:
        super().__init__(detail, code=code)
        # DRF's exception handler turns ``wait`` into a Retry-After header.
        self.wait = wait


class AuditedAPIView(APIView):
    """An APIView whose permission refusals become PERMISSION_DENIED audit events (SPEC C2)."""

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> None:
        permission_denied_record(actor=request.user, request=request._request, view=type(self).__name__)
        super().permission_denied(request, message=message, code=code)

    def handle_exception(self, exc: Exception) -> Any:
        return super().handle_exception(translate(exc))


def _auth_error(exc: AuthError) -> exceptions.APIException:
    if exc.status == 429:
        return Locked(exc.message, code=exc.code, wait=exc.retry_after)
    if exc.status == 403:
        return exceptions.PermissionDenied(exc.message, code=exc.code)
    return Unauthorized(exc.message, code=exc.code)


def translate(exc: Exception) -> Exception:
    """Service exceptions to DRF ones (fintech/errors.py renders the error shape)."""
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, AuthError):
        return _auth_error(exc)
    if isinstance(exc, ConflictError):
        return Conflict(exc.message, code=exc.code)
    if isinstance(exc, PermissionError):
        return exceptions.PermissionDenied()
    return exc
