"""The DSAR workflow's refusals. ``code`` is stable for API clients (the views map it to a status)."""

from __future__ import annotations


class DsarError(Exception):
    """A request that breaks the workflow's rules; ``code`` is stable for API clients."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DsarPermissionError(DsarError):
    pass
