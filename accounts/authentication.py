"""DRF authentication: simplejwt's signature/expiry/aud/iss checks, plus account state.

A token is refused when the user is gone or deactivated, or when its ``epoch`` claim differs from
the user's ``auth_epoch`` (bumped by password change/reset, deactivation and revocation), so
those events cut off access tokens at once rather than when they expire; and when that one access
token was revoked by a logout (its jti on the cache denylist, ``accounts.tokens.revoke_access``).

The user row is not read on every request: a per-process snapshot of the columns these checks
need, tagged with a generation that every write to the row invalidates, is used while it is
current (``accounts.auth_snapshot``). The generation comes in the same cache round trip as the
deny lists, before the row would be read.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts import auth_snapshot
from accounts.models import User
from accounts.tokens import EPOCH_CLAIM, revocation_state

_SNAPSHOT_FIELDS = auth_snapshot.snapshot_fields(User)


class PlatformJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token: Any) -> User:  # type: ignore[override]  # simplejwt types it with an unbound TypeVar
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        # The deny lists and the snapshot's generation in one cache round trip, before the row.
        revoked, generation = revocation_state(validated_token, user_id)
        public_id = str(user_id)
        if generation is None:
            generation = auth_snapshot.claim_generation(public_id)
        values = auth_snapshot.snapshot_get(public_id, generation)
        if values is not None:
            user = User.from_db(DEFAULT_DB_ALIAS, _SNAPSHOT_FIELDS, values)
        else:
            try:
                user = User.objects.get(**{api_settings.USER_ID_FIELD: user_id})
            except (User.DoesNotExist, ValidationError, ValueError) as exc:
                raise AuthenticationFailed("The token is not valid.", code="token_not_valid") from exc
            auth_snapshot.snapshot_put(public_id, generation, user, _SNAPSHOT_FIELDS)
        if not user.is_active:
            raise AuthenticationFailed("The token is not valid.", code="token_not_valid")
        if validated_token.get(EPOCH_CLAIM) != user.auth_epoch or revoked:
            raise AuthenticationFailed("The token has been revoked: log in again.", code="token_revoked")
        return user
