"""DRF authentication: simplejwt's signature/expiry/aud/iss checks, plus account state.

A token is refused when the user is gone or deactivated, or when its ``epoch`` claim differs from
the user's ``auth_epoch`` (bumped by password change/reset, deactivation and revocation), so
those events cut off access tokens at once rather than when they expire; and when that one access
token was revoked by a logout (its jti on the cache denylist, ``accounts.tokens.revoke_access``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts.models import User
from accounts.tokens import EPOCH_CLAIM, access_revoked


class PlatformJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token: Any) -> User:  # type: ignore[override]  # simplejwt types it with an unbound TypeVar
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        try:
            user = User.objects.get(**{api_settings.USER_ID_FIELD: user_id})
        except (User.DoesNotExist, ValidationError, ValueError) as exc:
            raise AuthenticationFailed("The token is not valid.", code="token_not_valid") from exc
        if not user.is_active:
            raise AuthenticationFailed("The token is not valid.", code="token_not_valid")
        if validated_token.get(EPOCH_CLAIM) != user.auth_epoch or access_revoked(validated_token):
            raise AuthenticationFailed("The token has been revoked: log in again.", code="token_revoked")
        return user
