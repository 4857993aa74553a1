"""Personas shared by every app's tests: one user per role, plus JWT-authenticated API clients.

Fixtures: ``customer``, ``other_customer``, ``operations``, ``information_officer``,
``auditor``, ``admin_user`` (a superuser in the admin role), and ``api_client_for`` — call it as
``api_client_for(user, mfa=True)`` for a DRF ``APIClient`` carrying a real access token (with
``mfa_at`` = now when ``mfa`` is true; ``client.tokens`` holds the pair). Users are created
through the accounts services, exactly as the product creates them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts import roles, services
from accounts.models import TOTPDevice, User
from accounts.tokens import token_pair_for

# Letters and digits, 20 characters.
PASSWORD = "persona-pass-2026-ok"  # pragma: allowlist secret
_sequence = itertools.count()

PERSONAS = ("anonymous", "customer", "other_customer", "operations", "information_officer", "auditor", "admin_user")


def make_customer(email: str | None = None, password: str = PASSWORD) -> User:
    return services.customer_register(
        email=email or f"customer{next(_sequence)}@example.test", password=password, first_name="Thandi"
    )


def make_staff(role: str, *, superuser: bool = False, email: str | None = None, password: str = PASSWORD) -> User:
    return services.staff_user_create(
        actor=None,
        email=email or f"{role}{next(_sequence)}@staff.example.test",
        password=password,
        role=role,
        is_superuser=superuser,
        first_name="Staff",
    )


def enrol_totp(user: User) -> TOTPDevice:
    """Enrol and confirm an authenticator for ``user``; the returned device makes codes.

    Enrolment needs a recent proof of the password; like the admin's password-only login, this
    fixture records that proof directly (some fixture users have no usable password)."""
    services.mfa_enrol_proof_record(actor=user)
    device = services.totp_enrol_start(actor=user)
    services.totp_enrol_confirm(actor=user, code=device.current_code(), issue_tokens=False)
    device.refresh_from_db()
    return device


def next_code(device: TOTPDevice) -> str:
    """A code for the next time step: accepted once, even right after enrolment used this one."""
    device.refresh_from_db()
    step = max(int(time.time()) // device.STEP, device.last_t + 1)
    # The device accepts at most TOLERANCE steps ahead of the clock: a second sign-in in the same
    # step as the first waits (up to one step) until its code is within reach.
    wait = (step - device.TOLERANCE) * device.STEP - time.time()
    if wait > 0:
        time.sleep(wait + 0.05)
    return device.current_code(at=step * device.STEP)


def make_api_client(user: User | None, *, mfa: bool = True) -> APIClient:
    client = APIClient()
    client.tokens = {}
    if user is not None:
        client.tokens = token_pair_for(user, mfa_at=int(time.time()) if mfa else None)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}")
    return client


@pytest.fixture
def customer(db) -> User:
    return make_customer()


@pytest.fixture
def other_customer(db) -> User:
    return make_customer()


@pytest.fixture
def operations(db) -> User:
    return make_staff(roles.OPERATIONS)


@pytest.fixture
def information_officer(db) -> User:
    return make_staff(roles.INFORMATION_OFFICER)


@pytest.fixture
def auditor(db) -> User:
    return make_staff(roles.AUDITOR)


@pytest.fixture
def admin_user(db) -> User:
    return make_staff(roles.ADMIN, superuser=True)


@pytest.fixture
def api_client_for(db) -> Callable[..., APIClient]:
    def build(user: User | None, mfa: bool = True) -> APIClient:
        return make_api_client(user, mfa=mfa)

    return build


def otp_admin_login(client, user: User) -> None:
    """Log ``client`` in to the admin as ``user`` with a verified second factor.

    The login form itself (password + code, lockout, replay) is tested in tests/accounts; other
    apps' admin tests only need a session that django-otp treats as verified, which is exactly
    what ``django_otp.login`` leaves behind: the device's persistent id in the session.
    """
    from django_otp import DEVICE_ID_SESSION_KEY

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or enrol_totp(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
