"""Password change (revokes other sessions) and reset by e-mail (one-time, expiring, no
enumeration, never bypasses MFA). Hashing: Argon2 first."""

from __future__ import annotations

import re
import time

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from accounts.tasks import send_password_reset_email
from fintech.settings import base
from tests.accounts.helpers import assert_error, audit_actions, audit_mark_now
from tests.personas import PASSWORD, enrol_totp, make_api_client, next_code

CHANGE = "/api/v1/auth/password/change/"
RESET = "/api/v1/auth/password/reset/"
CONFIRM = "/api/v1/auth/password/reset/confirm/"
NEW = "brand-new-pass-4567"  # pragma: allowlist secret
WRONG = "wrong-one-123"  # pragma: allowlist secret
SHORT = "short"  # pragma: allowlist secret


def test_argon2_is_the_first_hasher_in_base_settings():
    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@pytest.mark.django_db
def test_password_change_needs_the_current_password(customer):
    client = make_api_client(customer)
    error = assert_error(client.post(CHANGE, {"current_password": WRONG, "new_password": NEW}), 400, "validation_error")
    assert list(error["fields"]) == ["current_password"]
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


@pytest.mark.django_db
def test_password_change_validates_the_new_password(customer):
    client = make_api_client(customer)
    error = assert_error(
        client.post(CHANGE, {"current_password": PASSWORD, "new_password": SHORT}), 400, "validation_error"
    )
    assert list(error["fields"]) == ["new_password"]


@pytest.mark.django_db
def test_password_change_revokes_every_other_token_and_returns_a_fresh_pair(customer, caplog):
    other_device = make_api_client(customer)
    client = make_api_client(customer)
    response = client.post(CHANGE, {"current_password": PASSWORD, "new_password": NEW})
    assert response.status_code == 200
    # The other device's access and refresh tokens are dead at once.
    assert_error(other_device.get("/api/v1/me/"), 401, "token_revoked")
    refreshed = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": other_device.tokens["refresh"]})
    assert_error(refreshed, 401, "token_not_valid")
    # So is the caller's old pair; the new one works and keeps the MFA time.
    assert client.get("/api/v1/me/").status_code == 401
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert fresh.get("/api/v1/me/").status_code == 200
    customer.refresh_from_db()
    assert customer.check_password(NEW)
    assert "PASSWORD_CHANGED" in audit_actions()


@pytest.mark.django_db
def test_reset_request_answers_the_same_for_known_and_unknown_addresses(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as known_callbacks:
        known = APIClient().post(RESET, {"email": customer.email})
    with django_capture_on_commit_callbacks() as unknown_callbacks:
        unknown = APIClient().post(RESET, {"email": "nobody@example.test"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    # Only the real account gets a mail task, after commit.
    assert (len(known_callbacks), len(unknown_callbacks)) == (1, 0)


def _reset_link(user: User) -> tuple[str, str]:
    mail.outbox.clear()
    assert send_password_reset_email(str(user.public_id)) is True
    (message,) = mail.outbox
    assert message.to == [user.email]
    match = re.search(r"#uid=([0-9a-f-]+)&token=([\w-]+)", message.body)
    assert match, message.body
    assert message.body.count(settings.PASSWORD_RESET_URL) == 1
    return match.group(1), match.group(2)


@pytest.mark.django_db
def test_reset_link_sets_the_password_once_and_does_not_log_in(customer, caplog):
    device = enrol_totp(customer)
    old_session = make_api_client(customer)
    uid, token = _reset_link(customer)
    audit_mark_now()
    response = APIClient().post(CONFIRM, {"uid": uid, "token": token, "new_password": NEW})
    assert response.status_code == 200
    assert "access" not in response.json()
    assert audit_actions() == ["PASSWORD_RESET"]
    # One-time: the same link cannot be used again.
    again = APIClient().post(CONFIRM, {"uid": uid, "token": token, "new_password": "yet-another-pass-99"})
    assert list(assert_error(again, 400, "validation_error")["fields"]) == ["token"]
    # Existing sessions are revoked, and the next login still needs the one-time code.
    assert old_session.get("/api/v1/me/").status_code == 401
    login = APIClient().post("/api/v1/auth/token/", {"email": customer.email, "password": NEW})
    assert_error(login, 401, "mfa_required")
    login = APIClient().post(
        "/api/v1/auth/token/", {"email": customer.email, "password": NEW, "otp": next_code(device)}
    )
    assert login.status_code == 200


@pytest.mark.django_db
def test_reset_link_expires(customer):
    uid, token = _reset_link(customer)
    with time_machine.travel(time.time() + settings.PASSWORD_RESET_TIMEOUT + 60):
        response = APIClient().post(CONFIRM, {"uid": uid, "token": token, "new_password": NEW})
    assert_error(response, 400, "validation_error")
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


@pytest.mark.django_db
def test_reset_token_of_one_user_does_not_work_for_another(customer, other_customer):
    _, token = _reset_link(customer)
    response = APIClient().post(CONFIRM, {"uid": str(other_customer.public_id), "token": token, "new_password": NEW})
    assert_error(response, 400, "validation_error")
    other_customer.refresh_from_db()
    assert other_customer.check_password(PASSWORD)


@pytest.mark.django_db
def test_reset_mail_is_not_sent_to_deactivated_users(customer, admin_user):
    services.user_deactivate(actor=admin_user, user=customer)
    assert send_password_reset_email(str(customer.public_id)) is False
    assert mail.outbox == []
