"""Authorisation, one vocabulary (zulip's ``access_*`` shape), and the one path every refusal takes.

- Who may do what is a Django permission ("app_label.codename") granted to a role (a group,
  accounts/roles.py), never a group name tested in code: ``has_permission`` / ``require_permission``
  in services and admin screens, ``HasPermission("app.codename")`` on API views.
- Reads of one object go through the owning app's ``access_<thing>`` selector (for example
  ``compliance.dsar.selectors.access_dsar_for_officer``): it fetches *and* checks, and answers
  "not found" for what the viewer may not know exists.
- A refusal is a ``django.core.exceptions.PermissionDenied`` (or a ``DomainError`` with status
  403). Both reach one of two choke points — DRF's exception handler or Django's handler403
  (kernel/errors.py) — and each calls ``record_denial``: the PERMISSION_DENIED audit record is
  written there, once, for every refused API call and admin view. The recorder is plugged in by
  the app that owns the audit vocabulary (accounts, from its ``ready()``), so the kernel imports
  no app.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from kernel.types import Actor


class DenialRecorder(Protocol):
    def __call__(self, *, actor: Actor | None, request: Any, view: str, code: str) -> None: ...


_recorder: DenialRecorder | None = None


def set_denial_recorder(recorder: DenialRecorder) -> None:
    global _recorder  # noqa: PLW0603 - one process-wide hook, set once from AppConfig.ready()
    _recorder = recorder


def record_denial(request: Any, *, where: str, code: str) -> None:
    """Audit one refusal (called by the two choke points only)."""
    if _recorder is None or request is None:
        return
    actor = getattr(request, "user", None)
    if not getattr(actor, "is_authenticated", False):
        actor = None
    _recorder(actor=actor, request=request, view=where, code=code)


class AuditedRefusal:
    """Mixed into an API exception whose status is not 403 but which is still a refusal to audit:
    a 404 that hides another person's object (a download of another customer's bundle), a 410 for
    a download window that has closed. ``kernel.errors`` records it through ``record_denial`` like
    a 403, with the answer's error code."""


def has_permission(user: Any, permission: str, *, through_role: bool = False) -> bool:
    """An active, authenticated user holding ``permission``.

    Django lets a superuser hold every permission. ``through_role=True`` takes that shortcut away:
    the permission must be granted to one of the user's roles (or to the user), as for the duties
    that move or release money (least privilege and segregation of duties, PCI DSS 7.2).
    """
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    if through_role and getattr(user, "is_superuser", False):
        return permission in _granted_permissions(user)
    return bool(user.has_perm(permission))


def _granted_permissions(user: Any) -> set[str]:
    cached = getattr(user, "_kernel_granted_permissions", None)
    if cached is None:
        rows = [
            *user.user_permissions.values_list("content_type__app_label", "codename"),
            *user.groups.values_list("permissions__content_type__app_label", "permissions__codename"),
        ]
        cached = {f"{app}.{codename}" for app, codename in rows if codename}
        user._kernel_granted_permissions = cached
    return cached


def require_permission(
    user: Any, permission: str, message: str = "You may not do this.", *, through_role: bool = False
) -> None:
    if not has_permission(user, permission, through_role=through_role):
        raise PermissionDenied(message)


class OwnSubjectDenied(PermissionDenied):
    """Segregation of duties (PCI DSS 6.5.4 / 7.2): staff acting on their own account or subject.

    A ``PermissionDenied``, so it takes the one denial path (a 403 recorded as PERMISSION_DENIED
    by kernel/errors.py); ``code`` is the stable API error code."""

    code = "own_account"


def require_not_own(actor: Actor | None, subject_user_ids: Any, what: str) -> None:
    """Refuse ``actor`` acting on a record that belongs to, or was created by, themself.

    ``subject_user_ids``: the user id (or an iterable of user ids, None entries ignored) the
    record is linked to: its owner, the data subject, the customers whose accounts an entry
    touches, the staff member who created it. ``what`` names the action in the message. Every
    staff service that acts on a customer's account or a data subject calls this (the test
    tests/test_segregation_of_duties.py enumerates them from the code).
    """
    if isinstance(subject_user_ids, (str, bytes)) or not hasattr(subject_user_ids, "__iter__"):
        subject_user_ids = (subject_user_ids,)
    own = getattr(actor, "pk", None)
    if own is not None and own in {i for i in subject_user_ids if i is not None}:
        raise OwnSubjectDenied(
            f"Segregation of duties: you may not {what} on your own account or on work you started yourself; "
            "ask another staff member."
        )


def HasPermission(
    permission: str, message: str = "You do not have permission to perform this action.", *, through_role: bool = False
) -> type:
    """A DRF permission class requiring ``permission``: ``permission_classes = [HasPermission("a.b")]``."""

    class _HasPermission(BasePermission):
        def has_permission(self, request: Any, view: Any) -> bool:
            return has_permission(request.user, permission, through_role=through_role)

    _HasPermission.message = message  # type: ignore[attr-defined]  # djangorestframework-stubs omit BasePermission.message
    _HasPermission.__name__ = _HasPermission.__qualname__ = f"HasPermission[{permission}]"
    return _HasPermission
