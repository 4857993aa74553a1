"""An administrator lifts a lockout on the lockout screen (django-axes' AccessAttempt): the row
goes through ``accounts.services.lockout_release_by_admin``, LOCKOUT_RELEASED is audited with the
account as object, the owner can sign in again; one's own lockout is refused and stays."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from accounts import roles
from accounts.lockout import lockout_key
from compliance.audit.models import AuditEvent
from tests.accounts.helpers import assert_error, audit_events, audit_mark_now
from tests.personas import PASSWORD, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
WRONG = "wrong-password-1"  # pragma: allowlist secret
_addresses = iter(f"203.0.113.{n}" for n in range(1, 255))


def _locked_out(email: str) -> AccessAttempt:
    """Ten wrong passwords from one address lock that (account, address) pair; each account from
    its own address (the per-address brake would slow a second account from the same one)."""
    address = next(_addresses)
    for _ in range(10):
        APIClient(REMOTE_ADDR=address).post(TOKEN, {"email": email, "password": WRONG})
    locked = APIClient(REMOTE_ADDR=address).post(TOKEN, {"email": email, "password": PASSWORD})
    assert_error(locked, 429, "account_locked")
    return AccessAttempt.objects.get(username=lockout_key(email), ip_address=address)


def _delete(client: Client, attempt: AccessAttempt):
    return client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})


def test_an_administrator_lifts_a_customers_lockout_and_it_is_audited(customer):
    administrator = make_staff(roles.ADMIN)
    attempt = _locked_out(customer.email)
    client = Client()
    otp_admin_login(client, administrator)
    audit_mark_now()
    assert _delete(client, attempt).status_code == 302
    assert not AccessAttempt.objects.filter(pk=attempt.pk).exists()
    assert audit_events() == [
        {"action": "LOCKOUT_RELEASED", "actor": str(administrator.public_id), "diff": {"by": "admin", "attempts": 10}}
    ]
    event = AuditEvent.objects.get(action="LOCKOUT_RELEASED")
    assert (event.object_type, event.object_id) == ("accounts.User", str(customer.public_id))
    assert customer.email not in str(event.change_diff)
    again = APIClient(REMOTE_ADDR=attempt.ip_address).post(TOKEN, {"email": customer.email, "password": PASSWORD})
    assert again.status_code == 200, again.content


def test_the_bulk_delete_action_lifts_each_lockout_through_the_service(customer, other_customer):
    administrator = make_staff(roles.ADMIN)
    attempts = [_locked_out(customer.email), _locked_out(other_customer.email)]
    client = Client()
    otp_admin_login(client, administrator)
    audit_mark_now()
    response = client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "post": "yes", "_selected_action": [a.pk for a in attempts]},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert [e["action"] for e in audit_events()] == ["LOCKOUT_RELEASED", "LOCKOUT_RELEASED"]


def test_an_administrator_may_not_lift_their_own_lockout():
    administrator = make_staff(roles.ADMIN)
    colleague = make_staff(roles.ADMIN)
    own = _locked_out(administrator.email)
    theirs = _locked_out(colleague.email)
    client = Client()
    otp_admin_login(client, administrator)
    client.raise_request_exception = False
    audit_mark_now()
    assert _delete(client, own).status_code == 403
    # The bulk action is all or nothing: one's own row in the selection keeps every row.
    bulk = client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "post": "yes", "_selected_action": [theirs.pk, own.pk]},
    )
    assert bulk.status_code == 403
    assert AccessAttempt.objects.filter(pk__in=[own.pk, theirs.pk]).count() == 2
    assert [e["action"] for e in audit_events()] == ["PERMISSION_DENIED", "PERMISSION_DENIED"]


def test_without_the_permission_nothing_is_lifted(customer):
    attempt = _locked_out(customer.email)
    client = Client()
    otp_admin_login(client, make_staff(roles.AUDITOR))
    client.raise_request_exception = False
    assert _delete(client, attempt).status_code == 403
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
    assert not AuditEvent.objects.filter(action="LOCKOUT_RELEASED").exists()
