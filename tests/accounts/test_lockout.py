"""Account lockout (django-axes): 10 failures in 30 minutes lock the account for 30 minutes, on
the token endpoint, the OTP step and the admin login alike."""

from __future__ import annotations

import time

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from accounts.lockout import lockout_key
from tests.accounts.helpers import assert_error, audit_actions, audit_mark_now
from tests.personas import PASSWORD, enrol_totp, next_code

TOKEN = "/api/v1/auth/token/"


def api_login(email: str, password: str, otp: str | None = None, ip: str = "198.51.100.7"):
    body = {"email": email, "password": password}
    if otp is not None:
        body["otp"] = otp
    return APIClient(REMOTE_ADDR=ip).post(TOKEN, body)


@pytest.mark.django_db
def test_ten_wrong_passwords_lock_the_account_for_thirty_minutes(customer, caplog):
    start = time.time()
    with time_machine.travel(start, tick=False):
        for _ in range(9):
            assert_error(api_login(customer.email, "wrong-password-1"), 401, "invalid_credentials")
        assert_error(api_login(customer.email, "wrong-password-1"), 429, "account_locked")
        # Locked: even the right password is refused, and the refusal is not another failure.
        assert_error(api_login(customer.email, PASSWORD), 429, "account_locked")
    assert audit_actions().count("LOCKOUT") == 1
    # The lockout row names the account by the blind index of its e-mail, never the address.
    attempt = AccessAttempt.objects.get()
    assert attempt.username == lockout_key(customer.email) == customer.email_index
    assert customer.email not in f"{attempt.username} {attempt.get_data} {attempt.post_data}"
    with time_machine.travel(start + 29 * 60, tick=False):
        assert_error(api_login(customer.email, PASSWORD), 429, "account_locked")
    with time_machine.travel(start + 30 * 60 + 1, tick=False):
        response = api_login(customer.email, PASSWORD)
        assert response.status_code == 200
    # A complete login clears the counter.
    assert not AccessAttempt.objects.filter(username=lockout_key(customer.email)).exists()


@pytest.mark.django_db
def test_lockout_is_per_account_whatever_the_address_or_case(customer, other_customer):
    for attempt in range(10):
        email = customer.email.upper() if attempt % 2 else customer.email
        api_login(email, "wrong-password-1", ip=f"203.0.113.{attempt + 1}")
    assert_error(api_login(customer.email, PASSWORD, ip="192.0.2.200"), 429, "account_locked")
    # Another account is unaffected.
    assert api_login(other_customer.email, PASSWORD).status_code == 200


@pytest.mark.django_db
def test_unknown_accounts_lock_the_same_way(db):
    for _ in range(10):
        api_login("ghost@example.test", "wrong-password-1")
    assert_error(api_login("ghost@example.test", "wrong-password-1"), 429, "account_locked")


@pytest.mark.django_db
def test_wrong_one_time_codes_count_towards_the_lockout(customer):
    device = enrol_totp(customer)
    start = time.time()
    with time_machine.travel(start, tick=False):
        for _ in range(9):
            assert_error(api_login(customer.email, PASSWORD, otp="999999"), 401, "invalid_credentials")
        assert_error(api_login(customer.email, PASSWORD, otp="999999"), 429, "account_locked")
    with time_machine.travel(start + 29 * 60, tick=False):
        assert_error(api_login(customer.email, PASSWORD, otp=next_code(device)), 429, "account_locked")
    with time_machine.travel(start + 30 * 60 + 1, tick=False):
        assert api_login(customer.email, PASSWORD, otp=next_code(device)).status_code == 200


@pytest.mark.django_db
def test_admin_login_failures_share_the_same_counter(operations, caplog):
    device = enrol_totp(operations)
    browser = Client()
    for _ in range(5):
        response = browser.post("/admin/login/", {"username": operations.email, "password": "wrong-password-1"})
        assert response.status_code == 200
    # The admin form's username parameter is masked in the stored POST data.
    attempt = AccessAttempt.objects.get(username=lockout_key(operations.email))
    assert operations.email not in attempt.post_data and "username=****" in attempt.post_data
    for _ in range(5):
        api_login(operations.email, PASSWORD, otp="999999")
    audit_mark_now()
    response = browser.post(
        "/admin/login/", {"username": operations.email, "password": PASSWORD, "otp_token": next_code(device)}
    )
    assert response.status_code == 429
    assert "locked" in response.content.decode()
    assert "_auth_user_id" not in browser.session
    # Refused before the password is even checked; the lockout itself was audited once, earlier.
    assert audit_actions() == ["LOGIN_FAILED"]


@pytest.mark.django_db
def test_per_ip_throttle_on_auth_endpoints(customer, monkeypatch):
    from accounts.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "auth": "3/min"})
    statuses = [
        APIClient(REMOTE_ADDR="198.51.100.9")
        .post("/api/v1/auth/password/reset/", {"email": "x@example.test"})
        .status_code
        for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    # A forged X-Forwarded-For from an untrusted peer does not buy a fresh allowance.
    spoofed = APIClient(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert spoofed.post("/api/v1/auth/password/reset/", {"email": "x@example.test"}).status_code == 429
    # Another address still gets through.
    other = APIClient(REMOTE_ADDR="198.51.100.10").post("/api/v1/auth/password/reset/", {"email": "x@example.test"})
    assert other.status_code == 202
