"""API permission classes for the accounts perimeter.

Step-up MFA: access tokens minted after a successful TOTP/backup-code check carry ``mfa_at``
(Unix seconds of that check). Money movement and DSAR downloads demand that it is recent.
"""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

MFA_CLAIM = "mfa_at"


def mfa_verified_within(request: Request, seconds: int) -> bool:
    token = getattr(request, "auth", None)
    if token is None:
        return False
    try:
        verified_at = int(token.get(MFA_CLAIM, 0))
    except (TypeError, ValueError, AttributeError):
        return False
    return verified_at > 0 and time.time() - verified_at <= seconds


class HasRecentMFA(BasePermission):
    """Allow only callers whose token shows an MFA check within ``MFA_STEP_UP_SECONDS``."""

    message = "This action needs a recent MFA verification: log in again with your one-time code."
    code = "mfa_step_up_required"

    def has_permission(self, request: Request, view: object) -> bool:
        return mfa_verified_within(request, settings.MFA_STEP_UP_SECONDS)
