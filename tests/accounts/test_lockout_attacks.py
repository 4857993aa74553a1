"""Issue 15, "lockout as a weapon": ten wrong passwords from ten addresses used to lock any
customer out for 30 minutes by e-mail address alone. Now the brakes are per (account, address),
per address (progressive delay) and per account with the owner's ways back in."""

from __future__ import annotations

import re
import time

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts.lockout import lockout_key
from accounts.tasks import send_password_reset_email
from tests.accounts.helpers import assert_error, audit_actions, audit_mark_now
from tests.personas import PASSWORD, enrol_totp, next_code

TOKEN = "/api/v1/auth/token/"
HOME = "198.51.100.50"


def api_login(email: str, password: str, otp: str | None = None, ip: str = "198.51.100.7"):
    body = {"email": email, "password": password}
    if otp is not None:
        body["otp"] = otp
    return APIClient(REMOTE_ADDR=ip).post(TOKEN, body)


def _distributed_attack(email: str, *, count: int = 10) -> None:
    for attempt in range(count):
        api_login(email, "wrong-password-1", ip=f"203.0.113.{attempt + 1}")


@pytest.mark.django_db
def test_ten_addresses_no_longer_lock_the_owner_out_of_a_known_address(customer):
    device = enrol_totp(customer)
    assert api_login(customer.email, PASSWORD, otp=next_code(device), ip=HOME).status_code == 200
    _distributed_attack(customer.email)
    # A new address meets the account-wide lock ...
    assert_error(api_login(customer.email, PASSWORD, otp=next_code(device), ip="192.0.2.200"), 429, "account_locked")
    # ... the owner at home still needs the code (the lock is not skipped on the password alone) ...
    assert_error(api_login(customer.email, PASSWORD, ip=HOME), 401, "mfa_required")
    # ... and with it gets in (a minute later: the first login used the current time steps).
    with time_machine.travel(time.time() + 90, tick=False):
        response = api_login(customer.email, PASSWORD, otp=next_code(device), ip=HOME)
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_the_attackers_own_address_stays_locked_for_the_pair(customer):
    device = enrol_totp(customer)
    assert api_login(customer.email, PASSWORD, otp=next_code(device), ip=HOME).status_code == 200
    for _ in range(10):
        api_login(customer.email, "wrong-password-1", ip=HOME)
    # Ten failures from one address lock that (account, address) pair, known address or not.
    assert_error(api_login(customer.email, PASSWORD, otp=next_code(device), ip=HOME), 429, "account_locked")
    # Other accounts from the same address are not locked by it.
    assert AccessAttempt.objects.filter(ip_address=HOME).count() == 1


@pytest.mark.django_db
def test_a_reset_link_unlocks_the_account(customer, django_capture_on_commit_callbacks):
    _distributed_attack(customer.email)
    assert_error(api_login(customer.email, PASSWORD, ip="192.0.2.200"), 429, "account_locked")
    mail.outbox.clear()
    send_password_reset_email(str(customer.public_id))
    uid, token = re.search(r"#uid=([0-9a-f-]+)&token=([\w-]+)", mail.outbox[0].body).groups()
    audit_mark_now()
    new_password = "a-fresh-Passphrase-42"  # pragma: allowlist secret
    confirm = APIClient().post(
        "/api/v1/auth/password/reset/confirm/", {"uid": uid, "token": token, "new_password": new_password}
    )
    assert confirm.status_code == 200
    assert audit_actions() == ["PASSWORD_RESET", "LOCKOUT_RELEASED"]
    assert not AccessAttempt.objects.filter(username=lockout_key(customer.email)).exists()
    assert api_login(customer.email, new_password, ip="192.0.2.200").status_code == 200


@pytest.mark.django_db
def test_the_account_holder_is_told_once_about_a_lockout(customer, eager_tasks, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _distributed_attack(customer.email, count=12)
    assert [message.to for message in mail.outbox] == [[customer.email]]
    assert "failed log-in" in mail.outbox[0].subject.lower()
    assert audit_actions().count("LOCKOUT") == 1


@pytest.mark.django_db
def test_one_address_spraying_many_accounts_is_slowed_progressively(db, settings):
    settings.LOGIN_ADDRESS_FREE_FAILURES = 5
    sprayer = "203.0.113.66"
    start = time.time()
    with time_machine.travel(start, tick=False):
        for number in range(5):
            failed = api_login(f"victim{number}@example.test", "wrong-password-1", ip=sprayer)
            assert_error(failed, 401, "invalid_credentials")
        # The sixth attempt must wait one second after the fifth failure, whatever the account.
        refused = api_login("victim9@example.test", "wrong-password-1", ip=sprayer)
        assert_error(refused, 429, "too_many_attempts")
        assert refused["Retry-After"] == "1"
        # Another address is not slowed down.
        elsewhere = api_login("victim9@example.test", "wrong-password-1", ip="203.0.113.67")
        assert_error(elsewhere, 401, "invalid_credentials")
    with time_machine.travel(start + 1.5, tick=False):
        assert_error(api_login("victim6@example.test", "wrong-password-1", ip=sprayer), 401, "invalid_credentials")
        # Now two seconds, then four ...
        assert_error(api_login("victim7@example.test", "wrong-password-1", ip=sprayer), 429, "too_many_attempts")
    with time_machine.travel(start + 4, tick=False):
        assert_error(api_login("victim7@example.test", "wrong-password-1", ip=sprayer), 401, "invalid_credentials")
    # A refused (slowed) attempt is never counted against the account it named.
    assert not AccessAttempt.objects.filter(username=lockout_key("victim9@example.test"), ip_address=sprayer).exists()


@pytest.mark.django_db
def test_admin_login_from_a_known_address_with_the_code_survives_a_distributed_attack(operations):
    device = enrol_totp(operations)
    office = Client(REMOTE_ADDR=HOME)
    ok = office.post(
        "/admin/login/", {"username": operations.email, "password": PASSWORD, "otp_token": next_code(device)}
    )
    assert ok.status_code == 302
    office.logout()
    for attempt in range(10):
        Client(REMOTE_ADDR=f"203.0.113.{attempt + 1}").post(
            "/admin/login/",
            {"username": operations.email, "password": "wrong-password-1"},  # pragma: allowlist secret
        )
    stranger = Client(REMOTE_ADDR="192.0.2.200").post(
        "/admin/login/", {"username": operations.email, "password": PASSWORD, "otp_token": next_code(device)}
    )
    assert stranger.status_code == 429
    with time_machine.travel(time.time() + 90, tick=False):
        back = office.post(
            "/admin/login/", {"username": operations.email, "password": PASSWORD, "otp_token": next_code(device)}
        )
    assert back.status_code == 302 and "_auth_user_id" in office.session
