"""API login with TOTP: mfa_required, single-use codes, backup codes, enrolment, step-up."""

from __future__ import annotations

import time

import jwt
import pytest
import time_machine
from django.conf import settings
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts import services
from accounts.models import BackupCode, TOTPDevice
from kernel.permissions import MFA_CLAIM, HasRecentMFA
from tests.accounts.helpers import assert_error, audit_actions, audit_events
from tests.personas import PASSWORD, enrol_totp, make_api_client, next_code

TOKEN = "/api/v1/auth/token/"


def login(user, otp: str | None = None, password: str = PASSWORD):
    body = {"email": user.email, "password": password}
    if otp is not None:
        body["otp"] = otp
    return APIClient().post(TOKEN, body)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.django_db
def test_customer_without_authenticator_logs_in_with_password_but_gets_no_mfa_claim(customer, caplog):
    response = login(customer)
    assert response.status_code == 200
    assert MFA_CLAIM not in claims(response.json()["access"])
    assert audit_events()[-1] == {
        "action": "LOGIN",
        "actor": str(customer.public_id),
        "diff": {"channel": "api", "mfa": False},
    }


@pytest.mark.django_db
def test_login_email_is_case_insensitive(customer):
    response = APIClient().post(TOKEN, {"email": customer.email.upper(), "password": PASSWORD})
    assert response.status_code == 200


@pytest.mark.django_db
def test_wrong_password_and_unknown_email_answer_the_same(customer, caplog):
    wrong = login(customer, password="wrong-password-123")
    unknown = APIClient().post(TOKEN, {"email": "nobody@example.test", "password": PASSWORD})
    assert assert_error(wrong, 401, "invalid_credentials") == assert_error(unknown, 401, "invalid_credentials")
    assert audit_actions() == ["LOGIN_FAILED", "LOGIN_FAILED"]
    # Neither the e-mail address nor the password reaches the audit trail.
    assert customer.email not in caplog.text
    assert "wrong-password-123" not in caplog.text


@pytest.mark.django_db
def test_enrolled_user_without_code_gets_mfa_required(customer):
    enrol_totp(customer)
    assert_error(login(customer), 401, "mfa_required")


@pytest.mark.django_db
def test_valid_code_yields_tokens_that_record_the_mfa_time(customer):
    device = enrol_totp(customer)
    before = int(time.time())
    response = login(customer, otp=next_code(device))
    assert response.status_code == 200
    mfa_at = claims(response.json()["access"])[MFA_CLAIM]
    assert before <= mfa_at <= int(time.time())
    assert claims(response.json()["refresh"])[MFA_CLAIM] == mfa_at


@pytest.mark.django_db
def test_a_totp_code_is_rejected_when_replayed(customer, caplog):
    device = enrol_totp(customer)
    code = next_code(device)
    assert login(customer, otp=code).status_code == 200
    with time_machine.travel(time.time() + 5):
        assert_error(login(customer, otp=code), 401, "invalid_credentials")
    assert "MFA_FAILED" in audit_actions()


@pytest.mark.django_db
def test_an_older_code_than_the_last_used_is_rejected(customer):
    device = enrol_totp(customer)
    now = time.time()
    newer = device.current_code(at=now + 30)
    older = device.current_code(at=now)
    with time_machine.travel(now + 30):
        assert login(customer, otp=newer).status_code == 200
    with time_machine.travel(now + 32):
        assert login(customer, otp=older).status_code == 401


@pytest.mark.django_db
def test_wrong_code_fails_and_is_throttled(customer):
    device = enrol_totp(customer)
    assert login(customer, otp="000000" if device.current_code() != "000000" else "111111").status_code == 401
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    # Within the back-off even the right code is refused.
    assert login(customer, otp=next_code(device)).status_code == 401


@pytest.mark.django_db
def test_staff_always_need_a_code_on_the_api_even_without_a_device(operations):
    assert_error(login(operations), 401, "mfa_required")
    assert_error(login(operations, otp="123456"), 401, "invalid_credentials")


@pytest.mark.django_db
def test_totp_enrolment_over_the_api(customer, caplog):
    client = make_api_client(customer, mfa=False)
    started = client.post("/api/v1/auth/mfa/totp/", {"password": PASSWORD})
    assert started.status_code == 201
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert body["qr_code"].startswith("data:image/svg+xml;base64,")
    device = TOTPDevice.objects.get(user=customer)
    assert device.confirmed is False
    assert_error(client.post("/api/v1/auth/mfa/totp/confirm/", {"otp": "12345x"}), 400, "validation_error")
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    confirmed = client.post("/api/v1/auth/mfa/totp/confirm/", {"otp": device.current_code()})
    assert confirmed.status_code == 200
    codes = confirmed.json()["backup_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert claims(confirmed.json()["access"])[MFA_CLAIM] > 0
    device.refresh_from_db()
    assert device.confirmed is True
    # Backup codes are stored only as hashes.
    stored = list(BackupCode.objects.filter(user=customer).values_list("digest", flat=True))
    assert len(stored) == 10
    assert not {code.replace("-", "") for code in codes} & set(stored)
    assert all(code not in str(stored) for code in codes)
    # The session that enrolled is signed out with every other; the confirmation's pair replaces it.
    assert_error(client.post("/api/v1/auth/mfa/totp/", {"password": PASSWORD}), 401, "token_revoked")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {confirmed.json()['access']}")
    # Once enrolled, enrolment cannot be restarted (that would swap the second factor).
    assert_error(client.post("/api/v1/auth/mfa/totp/", {"password": PASSWORD}), 409, "mfa_already_enrolled")
    assert audit_actions() == ["MFA_ENROLL_STARTED", "MFA_FAILED", "MFA_ENROLLED"]


@pytest.mark.django_db
def test_a_backup_code_works_once_and_in_any_case(customer):
    device = services.totp_enrol_start(actor=customer, password=PASSWORD)
    _, codes, _ = services.totp_enrol_confirm(actor=customer, code=device.current_code(), issue_tokens=False)
    response = login(customer, otp=codes[0].lower())
    assert response.status_code == 200
    assert claims(response.json()["access"])[MFA_CLAIM] > 0
    assert login(customer, otp=codes[0]).status_code == 401
    assert BackupCode.objects.filter(user=customer, used_at__isnull=False).count() == 1


@pytest.mark.django_db
def test_step_up_permission_demands_a_recent_mfa_check(customer):
    from rest_framework_simplejwt.tokens import AccessToken

    permission = HasRecentMFA()
    request = RequestFactory().get("/")
    fresh = make_api_client(customer, mfa=True).tokens["access"]
    without = make_api_client(customer, mfa=False).tokens["access"]
    request.auth = AccessToken(fresh)
    assert permission.has_permission(request, None) is True
    request.auth = AccessToken(without)
    assert permission.has_permission(request, None) is False
    request.auth = AccessToken(fresh)
    with time_machine.travel(time.time() + settings.MFA_STEP_UP_SECONDS + 5):
        assert permission.has_permission(request, None) is False
