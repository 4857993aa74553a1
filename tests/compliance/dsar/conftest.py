from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from compliance.dsar import services
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.personas import make_api_client


def make_user(email: str, *, staff: bool = False, officer: bool = False):
    user = get_user_model().objects.create_user(email=email, password="correct-horse-battery-9", is_staff=staff)
    if officer:
        user.user_permissions.add(Permission.objects.get(codename="process_dsar"))
        user = get_user_model().objects.get(pk=user.pk)  # drop the permission cache
    return user


def client_for(user, *, mfa: bool = True) -> APIClient:
    """A client carrying a real access token from the accounts token service."""
    return make_api_client(user, mfa=mfa)


@pytest.fixture
def customer():
    return make_user("thandiwe.subject@example.co.za")


@pytest.fixture
def other_customer():
    return make_user("sipho.other@example.co.za")


@pytest.fixture
def officer():
    return make_user("officer.one@fintech.example", staff=True, officer=True)


@pytest.fixture
def second_officer():
    return make_user("officer.two@fintech.example", staff=True, officer=True)


@pytest.fixture
def operations():
    return make_user("ops@fintech.example", staff=True)


@pytest.fixture
def filed(customer):
    seed_purposes()

    def file(type_: str = "access", **extra):
        if type_ in ("objection", "restriction"):
            extra.setdefault("purposes", ["direct_marketing"])
        return services.dsar_file(subject=customer, filed_by=customer, type=type_, **extra)

    return file
