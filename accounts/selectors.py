"""Reads of account data, scoped to the viewer."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import TOTPDevice, User


def user_profile(*, viewer: User) -> User:
    """The viewer's own profile: the API has no way to name another user's."""
    return User.objects.prefetch_related("groups").get(pk=viewer.pk)


def users_visible_to(*, viewer: User) -> QuerySet[User]:
    """Staff with ``accounts.view_user`` see every user; everyone else only themselves."""
    if viewer.is_active and viewer.is_staff and viewer.has_perm("accounts.view_user"):
        return User.objects.all()
    return User.objects.filter(pk=viewer.pk)


def mfa_enrolled(*, viewer: User) -> bool:
    return bool(
        TOTPDevice.objects.filter(user=viewer, confirmed=True).exists()
    )  # TOTPDevice: untyped base (django_otp)
