"""Reads of account data, scoped to the viewer."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from accounts.models import TOTPDevice, User


def acting_user(request: Any) -> User:
    """The signed-in user of a request (Django's or DRF's) that passed its view's authentication.

    Views call it where a service needs the actor: it narrows ``request.user`` to a real account,
    and refuses (403) a request that somehow reached the view without one.
    """
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise PermissionDenied("Sign in first.")
    return user


def user_profile(*, viewer: User) -> User:
    """The viewer's own profile: the API has no way to name another user's."""
    return User.objects.prefetch_related("groups").get(pk=viewer.pk)


def users_visible_to(*, viewer: User) -> QuerySet[User]:
    """Staff with ``accounts.view_user`` see every user; everyone else only themselves."""
    if viewer.is_active and viewer.is_staff and viewer.has_perm("accounts.view_user"):
        return User.objects.all()
    return User.objects.filter(pk=viewer.pk)


def mfa_enrolled(*, viewer: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=viewer, confirmed=True).exists())


def login_address_known(*, email: str, address: str | None) -> bool:
    """Whether the account with this e-mail has a confirmed authenticator and has completed a login
    from ``address`` within ``LOCKOUT_KNOWN_ADDRESS_DAYS`` (accounts/lockout.py).

    The login history is the audit trail itself (``LOGIN`` events carry the source address through
    trusted proxies only), so no second copy of customers' addresses is kept for this.
    """
    from datetime import timedelta

    from django.conf import settings
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from compliance.audit.models import AuditEvent
    from compliance.audit.services import AuditAction

    if not address:
        return False
    try:
        user = User.objects.filter_by_email(email).filter(is_active=True).first()
    except (ValidationError, ValueError):
        return False
    if user is None or not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return False
    since = timezone.now() - timedelta(days=settings.LOCKOUT_KNOWN_ADDRESS_DAYS)
    return AuditEvent.objects.filter(
        user=user, action=AuditAction.LOGIN, source_ip=address, timestamp__gte=since
    ).exists()
