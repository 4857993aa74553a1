"""Issue 15 (low): a replayed refresh token was refused but revoked nothing; logout left the
session's other access tokens valid for up to 5 minutes."""

from __future__ import annotations

import jwt
import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.tokens import token_pair_for
from tests.accounts.helpers import assert_error, audit_actions

REFRESH = "/api/v1/auth/token/refresh/"
ME = "/api/v1/me/"


def _bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def _sid(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


@pytest.mark.django_db(transaction=True)
def test_replaying_a_rotated_refresh_token_revokes_the_whole_session(customer):
    login = token_pair_for(customer, mfa_at=None)
    other_session = token_pair_for(customer, mfa_at=None)
    # The legitimate client rotates twice; the thief kept the first refresh token.
    first = APIClient().post(REFRESH, {"refresh": login["refresh"]}).json()
    second = APIClient().post(REFRESH, {"refresh": first["refresh"]}).json()
    assert _bearer(second["access"]).get(ME).status_code == 200
    # The thief replays the stolen, already-rotated token.
    assert_error(APIClient().post(REFRESH, {"refresh": login["refresh"]}), 401, "token_not_valid")
    assert "TOKEN_REUSE_DETECTED" in audit_actions()
    # Every token of that session is dead: the newest refresh token and every access token.
    assert_error(APIClient().post(REFRESH, {"refresh": second["refresh"]}), 401, "token_not_valid")
    for access in (login["access"], first["access"], second["access"]):
        assert_error(_bearer(access).get(ME), 401, "token_revoked")
    family = OutstandingToken.objects.filter(token=f"sid:{_sid(login['refresh'])}")
    assert family.count() == 3 and not family.filter(blacklistedtoken__isnull=True).exists()
    # Another login session of the same customer is not touched.
    assert _bearer(other_session["access"]).get(ME).status_code == 200
    assert APIClient().post(REFRESH, {"refresh": other_session["refresh"]}).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_logout_revokes_every_access_token_of_the_session(customer):
    login = token_pair_for(customer, mfa_at=None)
    refreshed = APIClient().post(REFRESH, {"refresh": login["refresh"]}).json()
    other_session = token_pair_for(customer, mfa_at=None)
    # Log out with the newest pair; the access token minted at login is also of this session.
    response = _bearer(refreshed["access"]).post("/api/v1/auth/logout/", {"refresh": refreshed["refresh"]})
    assert response.status_code == 204
    assert_error(_bearer(login["access"]).get(ME), 401, "token_revoked")
    assert_error(_bearer(refreshed["access"]).get(ME), 401, "token_revoked")
    assert_error(APIClient().post(REFRESH, {"refresh": refreshed["refresh"]}), 401, "token_not_valid")
    assert _bearer(other_session["access"]).get(ME).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_session_deny_list_is_short_lived(customer, settings):
    from django.core.cache import cache

    login = token_pair_for(customer, mfa_at=None)
    _bearer(login["access"]).post("/api/v1/auth/logout/", {"refresh": login["refresh"]})
    redis = cache._cache.get_client(write=False)
    (key,) = redis.keys(f"*jwt:revoked-session:{_sid(login['refresh'])}")
    lifetime = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
    assert 0 < redis.ttl(key) <= lifetime + 5
