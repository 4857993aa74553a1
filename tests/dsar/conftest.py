from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from compliance.dsar import services


def make_user(email: str, *, staff: bool = False, officer: bool = False):
    user = get_user_model().objects.create_user(email=email, password="correct-horse-battery-9", is_staff=staff)
    if officer:
        user.user_permissions.add(Permission.objects.get(codename="process_dsar"))
        user = get_user_model().objects.get(pk=user.pk)  # drop the permission cache
    return user


def client_for(user, *, mfa: bool = True) -> APIClient:
    token = AccessToken.for_user(user)
    if mfa:
        token["mfa_at"] = int(time.time())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


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
    def file(type_: str = "access", **extra):
        return services.dsar_file(subject=customer, filed_by=customer, type=type_, **extra)

    return file
