"""API permissions specific to the ledger."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ledger.services import is_operations


class IsOperations(BasePermission):
    """Members of the operations group (staff) only."""

    message = "Only operations staff may do this."

    def has_permission(self, request: Request, view: object) -> bool:
        return is_operations(request.user)
