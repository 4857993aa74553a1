"""Issue 15, "a bare access token enrols MFA": the attack as it ran, now refused, and the second
proof (password within minutes, or the existing factor) that enrolment and removal need."""

from __future__ import annotations

import time

import jwt
import pytest
import time_machine
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import BackupCode, TOTPDevice, User
from kernel.permissions import MFA_CLAIM
from tests.accounts.helpers import assert_error, audit_actions
from tests.personas import PASSWORD, enrol_totp, make_api_client, next_code

ENROL = "/api/v1/auth/mfa/totp/"
CONFIRM = "/api/v1/auth/mfa/totp/confirm/"


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.django_db
def test_a_stolen_access_token_alone_cannot_enrol_an_authenticator(customer):
    """The attack: only the access token of a customer who has not enrolled. POST /totp/ then
    /confirm/ used to return an MFA-stamped pair and lock the owner out."""
    stolen = make_api_client(customer, mfa=False)
    assert_error(stolen.post(ENROL), 400, "validation_error")
    guess = {"password": "guessed-Password-1"}  # pragma: allowlist secret
    assert_error(stolen.post(ENROL, guess), 400, "validation_error")
    # Without a started enrolment there is nothing to confirm, whatever code is sent.
    assert_error(stolen.post(CONFIRM, {"otp": "123456"}), 403, "reauthentication_required")
    assert not TOTPDevice.objects.filter(user=customer).exists()
    assert not BackupCode.objects.filter(user=customer).exists()
    # The wrong password counted like a failed login (a token is no password oracle).
    assert "LOGIN_FAILED" in audit_actions()
    # The owner still logs in with the password alone, as before the attack.
    assert APIClient().post("/api/v1/auth/token/", {"email": customer.email, "password": PASSWORD}).status_code == 200


@pytest.mark.django_db
def test_the_password_proof_expires_after_minutes(customer, settings):
    settings.MFA_ENROL_REAUTH_SECONDS = 120
    client = make_api_client(customer, mfa=False)
    start = time.time()
    with time_machine.travel(start, tick=False):
        assert client.post(ENROL, {"password": PASSWORD}).status_code == 201
    device = TOTPDevice.objects.get(user=customer)
    with time_machine.travel(start + settings.MFA_ENROL_REAUTH_SECONDS + 1, tick=False):
        # Too late: a token that later falls into other hands cannot finish someone's enrolment.
        assert_error(client.post(CONFIRM, {"otp": device.current_code()}), 403, "reauthentication_required")
    device.refresh_from_db()
    assert device.confirmed is False


@pytest.mark.django_db
def test_enrolment_revokes_older_tokens_and_tells_the_owner(customer, eager_tasks, django_capture_on_commit_callbacks):
    before = make_api_client(customer, mfa=False)
    bystander = make_api_client(customer, mfa=False)  # another session minted before enrolment
    assert before.post(ENROL, {"password": PASSWORD}).status_code == 201
    device = TOTPDevice.objects.get(user=customer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = before.post(CONFIRM, {"otp": device.current_code()})
    assert confirmed.status_code == 200
    assert _claims(confirmed.json()["access"])[MFA_CLAIM] > 0
    # No token minted before the enrolment survives it, so none can ever carry the MFA stamp.
    assert_error(bystander.get("/api/v1/me/"), 401, "token_revoked")
    refreshed = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": bystander.tokens["refresh"]})
    assert_error(refreshed, 401, "token_not_valid")
    (notice,) = mail.outbox
    assert notice.to == [customer.email]
    assert "authenticator" in notice.subject.lower()
    assert device.key not in notice.body


@pytest.mark.django_db
def test_removing_the_factor_needs_the_password_and_a_code(customer, eager_tasks, django_capture_on_commit_callbacks):
    device = enrol_totp(customer)
    client = make_api_client(customer)
    assert_error(client.delete(ENROL, {"password": PASSWORD, "otp": "000000"}), 400, "validation_error")
    wrong_password = {"password": "not-the-Password-9", "otp": next_code(device)}  # pragma: allowlist secret
    assert_error(client.delete(ENROL, wrong_password), 400, "validation_error")
    assert TOTPDevice.objects.filter(user=customer, confirmed=True).exists()
    # (The wrong code started the device's back-off; the owner waits it out.)
    TOTPDevice.objects.filter(user=customer).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        removed = client.delete(ENROL, {"password": PASSWORD, "otp": next_code(device)})
    assert removed.status_code == 204
    assert not TOTPDevice.objects.filter(user=customer).exists()
    assert not BackupCode.objects.filter(user=customer).exists()
    assert "MFA_REMOVED" in audit_actions()
    # Every session ends with the factor; the owner is told.
    assert_error(client.get("/api/v1/me/"), 401, "token_revoked")
    assert [message.to for message in mail.outbox] == [[customer.email]]
    assert "removed" in mail.outbox[0].subject


@pytest.mark.django_db
def test_admin_enrolment_needs_a_recent_password_login(operations, settings):
    from django.test import Client

    browser = Client()
    start = time.time()
    with time_machine.travel(start, tick=False):
        response = browser.post("/admin/login/", {"username": operations.email, "password": PASSWORD})
        assert response["Location"] == "/admin/mfa/enrol/"
    with time_machine.travel(start + settings.MFA_ENROL_REAUTH_SECONDS + 60, tick=False):
        # The session's password proof is stale: back to the login form, no device created.
        page = browser.get("/admin/mfa/enrol/")
        assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
    assert not TOTPDevice.objects.filter(user=User.objects.get(pk=operations.pk)).exists()


@pytest.mark.django_db
def test_an_administrator_removing_an_authenticator_revokes_tells_and_audits_but_never_their_own(
    eager_tasks, django_capture_on_commit_callbacks
):
    """The admin's delete of a device used to be Django's bare delete: the owner's sessions kept
    their MFA stamp, nobody was told, and an administrator could drop their own second factor."""
    from django.test import Client

    from accounts import roles
    from compliance.audit.models import AuditEvent
    from tests.personas import make_customer, make_staff, otp_admin_login

    administrator, customer = make_staff(roles.ADMIN), make_customer()
    device = enrol_totp(customer)
    session = make_api_client(customer, mfa=True)
    client = Client()
    otp_admin_login(client, administrator)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/admin/accounts/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert not TOTPDevice.objects.filter(user=customer).exists()
    assert not BackupCode.objects.filter(user=customer).exists()
    assert_error(session.get("/api/v1/me/"), 401, "token_revoked")
    assert [message.to for message in mail.outbox] == [[customer.email]]
    assert (
        AuditEvent.objects.filter(action="MFA_REMOVED", user=administrator, object_id=str(customer.public_id)).count()
        == 1
    )
    # Their own authenticator: refused (403 through the one denial path), nothing removed.
    own = TOTPDevice.objects.get(user=administrator)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/admin/accounts/totpdevice/{own.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 403
    assert TOTPDevice.objects.filter(pk=own.pk, confirmed=True).exists()
    assert mail.outbox == []
    assert AuditEvent.objects.filter(action="PERMISSION_DENIED", user=administrator).count() == 1
    # The bulk action is all or nothing: with one's own device selected, no device is removed.
    other = enrol_totp(make_customer())
    answer = client.post(
        "/admin/accounts/totpdevice/",
        {"action": "delete_selected", "_selected_action": [own.pk, other.pk], "post": "yes"},
    )
    assert answer.status_code == 403
    assert TOTPDevice.objects.filter(pk__in=[own.pk, other.pk]).count() == 2
