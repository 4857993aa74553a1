"""Issue 15 (low): registration revealed whether an e-mail address had an account (a 400 "cannot be
used" for a taken one). Now a taken address gets the same answer after the same work, nothing is
created or changed, and the address's owner is told by e-mail."""

from __future__ import annotations

import pytest
from django.contrib.auth import base_user
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.helpers import audit_actions
from tests.personas import PASSWORD

REGISTER = "/api/v1/auth/register/"
NEW_PASSWORD = "tangerine-orbit-lantern-88"  # pragma: allowlist secret


def _register(email: str, **extra):
    body = {"email": email, "password": NEW_PASSWORD, "first_name": "Ayanda", **extra}
    return APIClient().post(REGISTER, body, format="json")


def _shape(body: dict) -> dict:
    """The answer without the values that differ between any two registrations."""
    return {key: value for key, value in body.items() if key not in {"public_id", "created_at", "email"}}


@pytest.mark.django_db
def test_a_taken_address_gets_the_same_answer_as_a_new_one(customer, eager_tasks, django_capture_on_commit_callbacks):
    fresh = _register("brand.new@example.test")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        taken = _register(customer.email.upper())
    assert (taken.status_code, fresh.status_code) == (201, 201)
    assert set(taken.json()) == set(fresh.json())
    assert _shape(taken.json()) == _shape(fresh.json())
    assert taken.json()["email"] == customer.email
    # Nothing was created or changed for the taken address: the owner's password still works.
    assert User.objects.filter_by_email(customer.email).count() == 1
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD) and not customer.check_password(NEW_PASSWORD)
    assert "REGISTER_DUPLICATE" in audit_actions()
    # The owner hears about it.
    (notice,) = mail.outbox
    assert notice.to == [customer.email] and "register" in notice.subject.lower()
    assert NEW_PASSWORD not in notice.body


@pytest.mark.django_db
def test_both_paths_do_the_expensive_work_once(customer, monkeypatch):
    """Comparable timing: the password hash (Argon2 in production, the dominant cost) is computed
    once on either path, so response time does not tell a taken address from a new one."""
    calls = []
    real = base_user.make_password
    monkeypatch.setattr(base_user, "make_password", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    _register("another.new@example.test")
    new_calls = len(calls)
    _register(customer.email)
    assert new_calls == 1 and len(calls) - new_calls == 1


@pytest.mark.django_db
def test_a_refused_consent_choice_answers_the_same_for_a_taken_address(customer):
    stale = [{"purpose": "marketing_email", "granted": True, "notice_version": 999}]
    fresh = _register("stale.new@example.test", consents=stale)
    taken = _register(customer.email, consents=stale)
    assert fresh.status_code == taken.status_code
    assert fresh.status_code >= 400
    assert fresh.json()["error"]["code"] == taken.json()["error"]["code"]
    assert not User.objects.filter_by_email("stale.new@example.test").exists()
