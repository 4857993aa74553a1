"""The PI inventory page in the admin: read-only, information officer and auditor only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.personas import otp_admin_login

URL = "/admin/compliance/piinventory/"


def make_user(role: str | None, *, staff: bool = True, superuser: bool = False):
    user = get_user_model().objects.create_user(
        email=f"{role or 'plain'}-{staff}-{superuser}@example.com",
        password="x" * 16,
        is_staff=staff,
        is_superuser=superuser,
    )
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["information_officer", "auditor"])
def test_officer_and_auditor_see_the_inventory(client, role, django_assert_max_num_queries):
    otp_admin_login(client, make_user(role))
    assert reverse("admin:compliance_piinventory_changelist") == URL
    with django_assert_max_num_queries(10):
        response = client.get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Personal-information inventory" in text
    assert "fica_customer_due_diligence" in text and "direct_marketing" in text
    assert "pi_testapp" not in text  # the product inventory only
    index = client.get("/admin/").content.decode()
    assert URL in index


@pytest.mark.django_db
def test_superuser_sees_it_too(client):
    otp_admin_login(client, make_user(None, superuser=True))
    assert client.get(URL).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["operations", None])
def test_other_staff_are_refused(client, role):
    otp_admin_login(client, make_user(role))
    assert client.get(URL).status_code == 403
    assert URL not in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_customers_and_anonymous_are_sent_to_the_login(client):
    assert client.get(URL).status_code == 302
    otp_admin_login(client, make_user("information_officer", staff=False))
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_page_is_read_only(client, method):
    otp_admin_login(client, make_user("information_officer"))
    assert getattr(client, method)(URL + "add/").status_code in (404, 405)
    assert getattr(client, method)(URL).status_code in (200, 405)
