"""The DSAR workflow's refusals: a ``DomainError`` (kernel/errors.py renders it) whose stable
``code`` decides the HTTP status — 403 for who may act, 409 for a conflict with the request's
current state (its status, the one extension, the four-eyes rule), 400 for what was sent."""

from __future__ import annotations

from kernel.errors import DomainError

CONFLICT_CODES = frozenset(
    {
        "invalid_transition",
        "already_extended",
        "extension_too_late",
        "four_eyes",
        "second_approval_required",
        "approval_not_needed",
        "approval_already_requested",
        # Deletion with money (compliance.dsar.balances): settle the balance first.
        "balance_outstanding",
        "balance_pending",
        "nothing_to_settle",
        "settlement_refused",
        "settlement_not_applicable",
        "no_verified_bank_account",
        # Lifting a restriction or objection.
        "nothing_to_lift",
        "lift_not_applicable",
    }
)


class DsarError(DomainError):
    """A request that breaks the workflow's rules; ``code`` is stable for API clients."""

    def __init__(self, message: str, *, code: str) -> None:
        if code in CONFLICT_CODES:
            super().__init__(message, code=code, status_code=409)
        else:
            super().__init__(message, code=code, status_code=400, fields={"non_field_errors": [message]})


class DsarPermissionError(DsarError):
    def __init__(self, message: str, *, code: str) -> None:
        DomainError.__init__(self, message, code=code, status_code=403)
