"""Types every layer shares. ``Actor``: who acts — what services, the audit trail and the
authorisation helpers need of a user, without the lower layers importing the user model
(accounts.User satisfies it; so do Django's AnonymousUser and test doubles)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Actor(Protocol):
    @property
    def pk(self) -> Any: ...

    @property
    def is_active(self) -> bool: ...

    @property
    def is_authenticated(self) -> bool: ...

    def has_perm(self, perm: str, obj: Any = None) -> bool: ...
