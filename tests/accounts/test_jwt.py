"""JWT forgery and revocation: every forged, expired, misused or revoked token answers 401."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import services
from accounts.models import User
from accounts.tokens import token_pair_for
from kernel.permissions import MFA_CLAIM
from tests.accounts.helpers import assert_error
from tests.personas import PASSWORD, make_api_client

ME = "/api/v1/me/"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def sign(claims: dict, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key or settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm)


@pytest.mark.django_db
def test_a_genuine_token_is_accepted(customer):
    response = make_api_client(customer).get(ME)
    assert response.status_code == 200
    assert response.json()["public_id"] == str(customer.public_id)


@pytest.mark.django_db
def test_tokens_carry_audience_issuer_subject_and_epoch(customer):
    claims = claims_of(token_pair_for(customer, mfa_at=None)["access"])
    assert claims["aud"] == settings.SIMPLE_JWT["AUDIENCE"]
    assert claims["iss"] == settings.SIMPLE_JWT["ISSUER"]
    assert claims["sub"] == str(customer.public_id)
    assert claims["epoch"] == 0
    assert MFA_CLAIM not in claims


def _forgery(customer, kind: str) -> str:
    good = claims_of(token_pair_for(customer, mfa_at=int(time.time()))["access"])
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(good).encode()).rstrip(b"=").decode()
    refresh = token_pair_for(customer, mfa_at=None)["refresh"]
    makers = {
        "bad_signature": lambda: sign(good, key="not-the-signing-key-" + "x" * 40),
        "alg_none": lambda: f"{header}.{payload}.",
        "expired": lambda: sign({**good, "exp": int(time.time()) - 10}),
        "refresh_as_access": lambda: refresh,
        "wrong_audience": lambda: sign({**good, "aud": "another-api"}),
        "no_audience": lambda: sign({k: v for k, v in good.items() if k != "aud"}),
        "wrong_issuer": lambda: sign({**good, "iss": "someone-else"}),
        "no_issuer": lambda: sign({k: v for k, v in good.items() if k != "iss"}),
        # Our key, another algorithm: only HS256 is accepted.
        "hs512": lambda: sign(good, algorithm="HS512"),
        "unknown_subject": lambda: sign({**good, "sub": "5b0f6a4e-1b7f-4e43-9a55-0a8b1f0e7d11"}),
        "garbage_subject": lambda: sign({**good, "sub": "1 OR 1=1"}),
        "no_epoch": lambda: sign({k: v for k, v in good.items() if k != "epoch"}),
    }
    return makers[kind]()


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize(
    "kind",
    [
        "bad_signature",
        "alg_none",
        "expired",
        "refresh_as_access",
        "wrong_audience",
        "no_audience",
        "wrong_issuer",
        "no_issuer",
        "hs512",
        "unknown_subject",
        "garbage_subject",
        "no_epoch",
    ],
)
def test_forged_or_misused_tokens_are_401(customer, kind):
    token = _forgery(customer, kind)
    response = bearer(token).get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"token_not_valid", "token_revoked"}


@pytest.mark.django_db
def test_access_token_expires_after_its_short_lifetime(customer):
    access = token_pair_for(customer, mfa_at=None)["access"]
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] <= timedelta(minutes=15)
    with time_machine.travel(time.time() + settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() + 1):
        assert_error(bearer(access).get(ME), 401, "token_not_valid")


@pytest.mark.django_db
def test_deactivating_a_user_invalidates_their_tokens(customer, admin_user):
    client = make_api_client(customer)
    refresh = client.tokens["refresh"]
    services.user_deactivate(actor=admin_user, user=customer)
    assert_error(client.get(ME), 401, "token_not_valid")
    assert_error(APIClient().post("/api/v1/auth/token/refresh/", {"refresh": refresh}), 401, "token_not_valid")


@pytest.mark.django_db
def test_refresh_rotates_and_the_old_refresh_is_dead(customer):
    pair = token_pair_for(customer, mfa_at=1_700_000_000)
    client = APIClient()
    response = client.post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]})
    assert response.status_code == 200
    new = response.json()
    assert new["refresh"] != pair["refresh"]
    # The MFA time travels with the session and is never refreshed into something newer.
    assert claims_of(new["access"])[MFA_CLAIM] == 1_700_000_000
    assert bearer(new["access"]).get(ME).status_code == 200
    assert BlacklistedToken.objects.filter(token__jti=claims_of(pair["refresh"])["jti"]).count() == 1
    # Refresh tokens are registered by id and session only: the table holds no replayable token text.
    stored = set(OutstandingToken.objects.filter(user=customer).values_list("token", flat=True))
    assert stored == {f"sid:{claims_of(pair['refresh'])['sid']}"}
    assert claims_of(new["refresh"])["sid"] == claims_of(pair["refresh"])["sid"]


@pytest.mark.django_db(transaction=True)
def test_a_refresh_token_is_exchanged_once_even_under_concurrency():
    user = User.objects.create_user(email="race@example.test", password=PASSWORD)
    refresh = token_pair_for(user, mfa_at=None)["refresh"]
    results: list[int] = []
    barrier = threading.Barrier(4)

    def exchange() -> None:
        try:
            barrier.wait()
            results.append(APIClient().post("/api/v1/auth/token/refresh/", {"refresh": refresh}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=exchange) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 401, 401, 401]
    # One new refresh token was minted, not four.
    assert OutstandingToken.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_logout_revokes_the_refresh_token(customer):
    client = make_api_client(customer)
    assert client.post("/api/v1/auth/logout/", {"refresh": client.tokens["refresh"]}).status_code == 204
    response = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": client.tokens["refresh"]})
    assert_error(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_logout_cannot_revoke_someone_elses_refresh_token(customer, other_customer):
    victim = token_pair_for(other_customer, mfa_at=None)
    response = make_api_client(customer).post("/api/v1/auth/logout/", {"refresh": victim["refresh"]})
    assert_error(response, 400, "validation_error")
    assert not BlacklistedToken.objects.exists()
    assert APIClient().post("/api/v1/auth/token/refresh/", {"refresh": victim["refresh"]}).status_code == 200


@pytest.mark.django_db
def test_a_bumped_epoch_revokes_access_tokens_at_once(customer):
    client = make_api_client(customer)
    User.objects.filter(pk=customer.pk).update(auth_epoch=5)
    assert_error(client.get(ME), 401, "token_revoked")


@pytest.mark.django_db(transaction=True)
def test_logout_also_revokes_the_access_token_it_was_called_with_and_only_that_one(customer):
    from django.core.cache import cache

    client, other_device = make_api_client(customer), make_api_client(customer)
    assert client.get(ME).status_code == 200
    assert client.post("/api/v1/auth/logout/", {"refresh": client.tokens["refresh"]}).status_code == 204
    assert_error(client.get(ME), 401, "token_revoked")  # not 5 more minutes of access
    assert other_device.get(ME).status_code == 200  # another session of the same user is untouched
    # The denylist entry lives as long as the token could be presented, not forever.
    redis = cache._cache.get_client(write=False)
    (key,) = redis.keys("*jwt:revoked-access:*")
    assert 0 < redis.ttl(key) <= 5 * 60 + 1
