"""JWT issue and rotation on top of simplejwt.

Claims: ``sub`` (public_id), ``aud``/``iss`` (checked on decode), ``epoch`` (the user's
``auth_epoch``: a bump revokes every older token), ``mfa_at`` (Unix seconds of the last OTP check;
absent when the login had none). A refresh copies ``epoch`` and ``mfa_at`` into the new tokens,
so refreshing never makes an MFA check look more recent than it was.

Refresh tokens are recorded in simplejwt's OutstandingToken table by jti only: the token text
column is left empty so a database reader cannot replay refresh tokens.
"""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.permissions import MFA_CLAIM

EPOCH_CLAIM = "epoch"


def token_pair_for(user: Any, *, mfa_at: int | None) -> dict[str, str]:
    """A fresh refresh/access pair for ``user``; the refresh is registered as outstanding."""
    refresh = RefreshToken()
    refresh[api_settings.USER_ID_CLAIM] = str(getattr(user, api_settings.USER_ID_FIELD))
    refresh[EPOCH_CLAIM] = user.auth_epoch
    if mfa_at:
        refresh[MFA_CLAIM] = int(mfa_at)
    OutstandingToken.objects.create(
        user=user,
        jti=refresh[api_settings.JTI_CLAIM],
        token="",
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
